"""Scalable mode end to end (issue 15): writers and readers of one bucket on
a real S3-compatible server (Garage), all on loopback.

Checks, each printed as one line:
  1. the compat dataset pushed to a writer passes every public compat case
     on each of two readers;
  2. an acknowledged, unflushed line is returned by both readers within 5s;
  3. after SIGKILL and restart of the writer nothing acknowledged is missing
     or counted twice;
  4. two writers behind a round-robin client: every entry exactly once;
  5. the bucket unreachable for 30s during a push load: once it is back,
     every acknowledged entry is there exactly once, also for a reader
     started afterwards (so it reached the bucket);
  6. of two backends one is active (it holds the bucket's lease, which
     holds although Garage ignores conditional puts), the other stands by
     and takes over when the first stops;
  7. a delete request sent to the backend hides its entries on both readers
     within seconds, and is processed once both writers removed them.
Prints "N passed, N failed"; exits 1 on any failure.
"""
import json, os, signal, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from garage import Garage, free_port  # noqa: E402

LODE = os.environ["LODE_BIN"]
GARAGE = os.environ["GARAGE_BIN"]
COMPAT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../../shared/compat"))
WORK = tempfile.mkdtemp(prefix="lode-scalable-")
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)


class Lode:
    def __init__(self, name, target, extra=""):
        self.name, self.target = name, target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "lode.yaml")
        with open(self.conf, "w") as f:
            f.write(f"target: {target}\n{GARAGE_SRV.s3_yaml()}{extra}")
        self.proc = None

    def start(self, wait=True):
        log = open(os.path.join(self.dir, "lode.log"), "ab")
        self.proc = subprocess.Popen([LODE, "--config", self.conf, "--listen", f"127.0.0.1:{self.port}",
                                      "--data-dir", os.path.join(self.dir, "data")],
                                     stdout=log, stderr=subprocess.STDOUT)
        if not wait:
            return self
        return self.wait_ready(60)

    def ready(self):
        try:
            urllib.request.urlopen(self.url + "/ready", timeout=1)
            return True
        except Exception:
            return False

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.dir}/lode.log")
            try:
                urllib.request.urlopen(self.url + "/ready", timeout=1)
                return self
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def http(method, url, body=None, headers=None, timeout=30):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def push(url, lines, labels):
    """Pushes `lines` (ts, text) as one request; True when acknowledged."""
    body = json.dumps({"streams": [{"stream": labels,
                                     "values": [[str(ts), text] for ts, text in lines]}]}).encode()
    try:
        st, _ = http("POST", url + "/loki/api/v1/push", body, {"Content-Type": "application/json"}, timeout=10)
    except Exception:
        return False
    return st == 204


def instant(url, q):
    qs = urllib.parse.urlencode({"query": q, "time": str(time.time_ns())})
    st, b = http("GET", f"{url}/loki/api/v1/query?{qs}")
    if st != 200:
        raise RuntimeError(f"{url}: {st} {b[:300]!r}")
    return json.loads(b)["data"]["result"]


def lines_of(url, selector, start_ns):
    qs = urllib.parse.urlencode({"query": selector, "start": str(start_ns), "end": str(time.time_ns() + 10**9),
                                 "limit": "5000", "direction": "forward"})
    st, b = http("GET", f"{url}/loki/api/v1/query_range?{qs}")
    if st != 200:
        raise RuntimeError(f"{url}: {st} {b[:300]!r}")
    return [v[1] for s in json.loads(b)["data"]["result"] for v in s["values"]]


def count(url, selector):
    """Entries counted one by one (duplicates would count twice)."""
    r = instant(url, f"sum(count_over_time({selector}[2h]))")
    return int(float(r[0]["value"][1])) if r else 0


def wait_for(cond, timeout):
    deadline = time.time() + timeout
    while True:
        try:
            if cond():
                return True
        except Exception:
            pass
        if time.time() > deadline:
            return False
        time.sleep(0.1)


def exactly(readers, selector, expected, timeout):
    """Waits until every reader counts exactly `expected` entries and returns
    them all; gives the counts seen when it does not happen."""
    want = sorted(expected)

    def good():
        return all(count(r.url, selector) == len(want) and
                   sorted(lines_of(r.url, selector, T0)) == want for r in readers)
    if wait_for(good, timeout):
        return True, ""
    seen = []
    for r in readers:
        try:
            got = lines_of(r.url, selector, T0)
            seen.append(f"{r.name}: count {count(r.url, selector)}, lines {len(got)} "
                        f"(missing {len(set(want) - set(got))}, unexpected {len(set(got) - set(want))})")
        except Exception as e:
            seen.append(f"{r.name}: {e}")
    return False, f"expected {len(want)}; " + "; ".join(seen)


READER = "scalable:\n  poll_interval: 200ms\n  request_timeout: 5s\n  writers:\n{}"
WRITER = ("scalable:\n  request_timeout: 5s\n"
          "compactor:\n  compaction_interval: 5s\n  delete_request_cancel_period: 1s\n")


def reader_conf(writers):
    return READER.format("".join(f"    - {w.url}\n" for w in writers))


os.makedirs(os.path.join(WORK, "garage"))
GARAGE_SRV = Garage(GARAGE, os.path.join(WORK, "garage"))
procs = []
T0 = time.time_ns() - 10**9
try:
    GARAGE_SRV.setup()
    w1 = Lode("write-1", "write", WRITER)
    w2 = Lode("write-2", "write", WRITER)
    readers = [Lode(f"read-{i}", "read", reader_conf([w1, w2])) for i in (1, 2)]
    procs += [w1, w2, *readers]
    w1.start()
    for r in readers:
        r.start()

    # 1. compat through the bucket.
    base = (time.time_ns() // (3600 * 10**9)) * 3600 * 10**9 - 7 * 3600 * 10**9
    env = dict(os.environ, COMPAT_STATE_DIR=os.path.join(WORK, "compat-state"))
    subprocess.run([sys.executable, f"{COMPAT}/run.py", "push", "--url", w1.url, "--settle", "0",
                    "--base-ns", str(base)], check=True, env=env, stdout=subprocess.DEVNULL)
    for r in readers:
        v = subprocess.run([sys.executable, f"{COMPAT}/run.py", "verify", "--url", r.url, "--base-ns", str(base)],
                           env=env, capture_output=True, text=True)
        deadline = time.time() + 60
        while v.returncode != 0 and time.time() < deadline:
            time.sleep(1)
            v = subprocess.run([sys.executable, f"{COMPAT}/run.py", "verify", "--url", r.url, "--base-ns",
                                str(base)], env=env, capture_output=True, text=True)
        c = subprocess.run([sys.executable, f"{COMPAT}/run.py", "check", "--url", r.url, "--base-ns", str(base),
                            "--goldens", f"{COMPAT}/goldens-public.json", "--retries", "0"],
                           env=env, capture_output=True, text=True)
        tail = c.stdout.strip().splitlines()[-1] if c.stdout.strip() else c.stderr[-300:]
        check(f"compat on {r.name} (written by {w1.name}, read through the bucket): {tail}",
              c.returncode == 0, c.stdout[-2000:])

    # 2. acknowledged, not flushed: on both readers within 5s.
    sel = '{job="scalable", check="visible"}'
    ts = time.time_ns()
    ok = push(w1.url, [(ts, "visible-before-flush")], {"job": "scalable", "check": "visible"})
    t = time.time()
    seen = wait_for(lambda: all(lines_of(r.url, sel, T0) == ["visible-before-flush"] for r in readers), 5)
    check(f"an acknowledged, unflushed line is on both readers within 5s ({time.time() - t:.2f}s)",
          ok and seen, f"acknowledged={ok}")

    # 3. SIGKILL and restart of the writer.
    sel = '{job="scalable", check="kill"}'
    acked = []
    for i in range(200):
        line = f"kill-{i}"
        if push(w1.url, [(time.time_ns(), line)], {"job": "scalable", "check": "kill"}):
            acked.append(line)
        if i == 100:
            http("POST", w1.url + "/flush")
    w1.kill()
    w1.start()
    for i in range(200, 250):
        line = f"kill-{i}"
        if push(w1.url, [(time.time_ns(), line)], {"job": "scalable", "check": "kill"}):
            acked.append(line)
    http("POST", w1.url + "/flush")
    ok, why = exactly(readers, sel, acked, 30)
    check(f"after SIGKILL and restart of the writer: {len(acked)} acknowledged entries, each exactly once", ok, why)

    # 4. Two writers behind a round-robin client (the same stream on both).
    w2.start()
    sel = '{job="scalable", check="round-robin"}'
    acked = []
    for i in range(400):
        line = f"rr-{i}"
        if push([w1, w2][i % 2].url, [(time.time_ns(), line)], {"job": "scalable", "check": "round-robin"}):
            acked.append(line)
        if i in (150, 300):
            http("POST", [w1, w2][i % 3 % 2].url + "/flush")
    ok, why = exactly(readers, sel, acked, 30)
    check(f"two writers behind a round-robin client: {len(acked)} entries, each exactly once", ok, why)

    # 5. The bucket unreachable for 30s during a push load.
    sel = '{job="scalable", check="outage"}'
    acked, stop = [], threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            # ~100 lines a second: under the 5000 a query returns, so
            # every line is compared, not only the count.
            batch = [(time.time_ns() + k, f"outage-{i}-{k}") for k in range(10)]
            if push([w1, w2][i % 2].url, batch, {"job": "scalable", "check": "outage"}):
                acked.extend(t for _, t in batch)
            i += 1
            time.sleep(0.1)
    th = threading.Thread(target=load)
    th.start()
    time.sleep(3)
    GARAGE_SRV.pause()
    t_out = time.time()
    time.sleep(10)
    for w in (w1, w2):
        http("POST", w.url + "/flush", timeout=60)
    acked_during = len(acked)
    time.sleep(max(0, 30 - (time.time() - t_out)))
    GARAGE_SRV.resume()
    time.sleep(3)
    stop.set()
    th.join()
    for w in (w1, w2):
        http("POST", w.url + "/flush", timeout=60)
    ok, why = exactly(readers, sel, acked, 90)
    check(f"bucket unreachable for 30s under push load: {len(acked)} acknowledged entries "
          f"({acked_during} before the outage's flush), each exactly once on both readers", ok, why)
    late = Lode("read-late", "read", reader_conf([w1, w2]))
    procs.append(late)
    late.start()
    ok, why = exactly([late], sel, acked, 60)
    check("a reader started after the outage finds them all exactly once", ok, why)

    def uploaded(w):
        _, m = http("GET", w.url + "/metrics")
        return b'lode_scalable_state{what="records_not_uploaded"} 0' in m
    for w in (w1, w2):
        http("POST", w.url + "/flush", timeout=60)
    caught_up = wait_for(lambda: uploaded(w1) and uploaded(w2), 60)
    chunks = [os.path.join(d, f) for w in (w1, w2) for d, _, fs in os.walk(os.path.join(w.dir, "data", "tenants"))
              for f in fs if f.endswith(".chunk")]
    check("once uploaded, chunk files leave the writers' disks (their footers stay)",
          caught_up and not chunks, f"caught_up={caught_up}, local chunk files: {chunks[:3]}")

    # 6. Two backends: one active, one standing by until the first stops.
    # Garage 2.5 takes `If-None-Match: *` over an existing object (both
    # puts answer 200): the lease must hold without conditional puts.
    st, _ = GARAGE_SRV.s3_request("PUT", "probe/conditional", b"1", {"If-None-Match": "*"})
    st2, _ = GARAGE_SRV.s3_request("PUT", "probe/conditional", b"2", {"If-None-Match": "*"})
    print(f"     (Garage answers a second If-None-Match: * put with {st2}; the first got {st})")
    b1 = Lode("backend-1", "backend", reader_conf([w1, w2]))
    b2 = Lode("backend-2", "backend", reader_conf([w1, w2]))
    procs += [b1, b2]
    # Started together: both find the lease free and race for it.
    b1.start(wait=False)
    b2.start(wait=False)
    wait_for(lambda: b1.ready() or b2.ready(), 30)
    time.sleep(5)
    active = [b for b in (b1, b2) if b.ready()]
    standby = [b for b in (b1, b2) if not b.ready() and b.proc.poll() is None]
    took_over = False
    if len(active) == 1 and len(standby) == 1:
        active[0].stop()
        took_over = standby[0].wait_ready(30)
    check("two backends started together: exactly one active, the other stands by and takes over when it stops",
          len(active) == 1 and len(standby) == 1 and took_over,
          f"active={[b.name for b in active]} standby={[b.name for b in standby]} took_over={took_over}")

    # 7. Deletes: to the active backend; readers hide at once, writers remove.
    if took_over:
        backend = standby[0]
        sel = '{job="scalable", check="kill"}'
        gone = {f"kill-{i}" for i in range(250) if str(i).startswith("1")}
        before = set(lines_of(readers[0].url, sel, T0))
        qs = urllib.parse.urlencode({"query": sel + ' |= "kill-1"', "start": str(T0 // 10**9),
                                     "end": str(time.time_ns() // 10**9 + 1)})
        st, body = http("POST", f"{backend.url}/loki/api/v1/delete?{qs}")
        left = sorted(before - gone)
        ok, why = exactly(readers, sel, left, 10)
        check(f"a delete request on the backend ({st}) hides its {len(before) - len(left)} entries on both readers within 10s",
              st == 204 and ok, f"{body[:200]!r} {why}")

        def processed():
            st, b = http("GET", f"{backend.url}/loki/api/v1/delete")
            return st == 200 and [r.get("status") for r in json.loads(b)] == ["processed"]
        done = wait_for(processed, 120)
        ok, why = exactly(readers, sel, left, 10)
        check("both writers carried it out: processed on the backend, the entries still gone", done and ok,
              f"processed={done} {why}")
finally:
    for p in procs:
        p.stop()
    GARAGE_SRV.stop()

failed = results.count(False)
print(f"{len(results) - failed} passed, {failed} failed")
if failed:
    print(f"logs kept in {WORK}")
    sys.exit(1)
subprocess.run(["rm", "-rf", WORK])
