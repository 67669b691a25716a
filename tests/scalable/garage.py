"""A single-node Garage (https://garagehq.deuxfleurs.fr) on loopback for the
scalable-mode tests: one bucket and one key, in a temporary directory."""
import datetime, hashlib, hmac, os, re, secrets, signal, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from loopback import free_port  # noqa: E402


class Garage:
    def __init__(self, binary, work, bucket="lode"):
        self.binary, self.work, self.bucket = binary, work, bucket
        self.s3_port, self.rpc_port, self.admin_port = free_port(), free_port(), free_port()
        self.conf = os.path.join(work, "garage.toml")
        with open(self.conf, "w") as f:
            f.write(f"""metadata_dir = "{work}/meta"
data_dir = "{work}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{self.rpc_port}"
rpc_public_addr = "127.0.0.1:{self.rpc_port}"
rpc_secret = "{secrets.token_hex(32)}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{self.s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{self.admin_port}"
admin_token = "{secrets.token_hex(16)}"
""")
        self.proc = None
        self.key_id = self.secret = None

    def cli(self, *args):
        return subprocess.run([self.binary, "-c", self.conf, *args], check=True,
                              capture_output=True, text=True, timeout=60).stdout

    def start(self):
        self.log = open(os.path.join(self.work, "garage.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf, "server"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                node = self.cli("node", "id", "-q").strip().split("@")[0]
                break
            except subprocess.CalledProcessError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        return node

    def setup(self):
        node = self.start()
        self.cli("layout", "assign", "-z", "dc1", "-c", "1G", node)
        self.cli("layout", "apply", "--version", "1")
        self.cli("bucket", "create", self.bucket)
        out = self.cli("key", "create", "lode-key")
        self.key_id = re.search(r"Key ID:\s*(\S+)", out).group(1)
        self.secret = re.search(r"Secret key:\s*(\S+)", out).group(1)
        self.cli("bucket", "allow", "--read", "--write", "--owner", self.bucket, "--key", "lode-key")
        # The S3 API answers once the layout is live.
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.s3_port}/", timeout=1)
            except urllib.error.HTTPError:
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError("garage S3 API did not answer")

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def s3_request(self, method, key, body=b"", headers=None):
        """A raw S3 request (AWS Signature V4, path style): to check what the
        server itself does, apart from Lode's client."""
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = f"127.0.0.1:{self.s3_port}"
        path = f"/{self.bucket}/{key}"
        payload = hashlib.sha256(body).hexdigest()
        hdrs = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        names = sorted(hdrs)
        canonical = "\n".join([method, path, "", *(f"{n}:{hdrs[n]}" for n in names), "", ";".join(names), payload])
        scope = f"{day}/garage/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = ("AWS4" + self.secret).encode()
        for part in (day, "garage", "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, "
                                 f"SignedHeaders={';'.join(names)}, Signature={sig}")
        req = urllib.request.Request(f"http://{host}{path}", data=body or None, method=method,
                                     headers={k: v for k, v in hdrs.items() if k != "host"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def s3_yaml(self):
        return f"""common:
  storage:
    s3:
      endpoint: 127.0.0.1:{self.s3_port}
      bucketnames: {self.bucket}
      region: garage
      access_key_id: {self.key_id}
      secret_access_key: {self.secret}
      s3forcepathstyle: true
      insecure: true
"""
