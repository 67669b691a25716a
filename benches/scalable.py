"""The query mix against a scalable-mode reader (issue 15, item 3): a real
Garage on loopback, one writer (target write) taking the push load, one
reader (target read) answering the queries from the bucket, next to the same
load on a single binary on its data directory. Prints both lode-bench
reports. Not part of the test command (minutes of load).

  LODE_BIN=... LODE_BENCH=... GARAGE_BIN=... python3 benches/scalable.py [--lines 1M]
"""
import os, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "scalable"))
from garage import Garage, free_port  # noqa: E402

LODE, BENCH, GARAGE = os.environ["LODE_BIN"], os.environ["LODE_BENCH"], os.environ["GARAGE_BIN"]
lines = sys.argv[sys.argv.index("--lines") + 1] if "--lines" in sys.argv else "1M"
work = tempfile.mkdtemp(prefix="lode-scalable-bench-")
LIMITS = "limits_config:\n  ingestion_rate_mb: 100000\n  ingestion_burst_size_mb: 100000\n"


def start(name, conf):
    d = os.path.join(work, name)
    os.makedirs(d)
    with open(os.path.join(d, "lode.yaml"), "w") as f:
        f.write(conf)
    port = free_port()
    p = subprocess.Popen([LODE, "--config", f"{d}/lode.yaml", "--listen", f"127.0.0.1:{port}",
                          "--data-dir", f"{d}/data"], stdout=open(f"{d}/lode.log", "w"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
            return p, port, d
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start")


procs = []
os.makedirs(f"{work}/garage")
g = Garage(GARAGE, f"{work}/garage")
try:
    g.setup()
    wp, wport, wdir = start("write", f"target: write\n{g.s3_yaml()}{LIMITS}")
    rp, rport, _ = start("read", f"target: read\n{g.s3_yaml()}{LIMITS}scalable:\n  writers: [http://127.0.0.1:{wport}]\n")
    procs += [wp, rp]
    out = subprocess.run([BENCH, "load", "--url", f"http://127.0.0.1:{wport}", "--pid", str(wp.pid),
                          "--query-url", f"http://127.0.0.1:{rport}", "--query-pid", str(rp.pid),
                          "--data-dir", f"{wdir}/data", "--lines", lines, "--connections", "4", "--warm", "5",
                          "--label", "reader on Garage"], capture_output=True, text=True)
    print(out.stdout or out.stderr[-3000:])
    sp, sport, sdir = start("single", LIMITS)
    procs.append(sp)
    out = subprocess.run([BENCH, "load", "--url", f"http://127.0.0.1:{sport}", "--pid", str(sp.pid),
                          "--data-dir", f"{sdir}/data", "--lines", lines, "--connections", "4", "--warm", "5",
                          "--label", "single binary, filesystem"], capture_output=True, text=True)
    print(out.stdout or out.stderr[-3000:])
finally:
    for p in procs:
        p.terminate()
    g.stop()
    subprocess.run(["rm", "-rf", work])
