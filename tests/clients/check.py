"""Asserts that every expected line came back from query_range with the
stream labels the client set (a client may append its metadata to the
line, so an expected line matches as a prefix).
Usage: check.py URL SERVICE RUN_ID LINE..."""
import json
import sys
import time
import urllib.parse
import urllib.request

url, service, run_id, *expected = sys.argv[1:]
query = '{service_name="%s"} |= "%s"' % (service, run_id)
deadline = time.time() + 10
got = {}
while time.time() < deadline:
    params = urllib.parse.urlencode({
        "query": query, "limit": "100",
        "start": str(time.time_ns() - 3600 * 10**9), "end": str(time.time_ns() + 60 * 10**9),
    })
    with urllib.request.urlopen(url + "/loki/api/v1/query_range?" + params, timeout=10) as r:
        body = json.load(r)
    got = {}
    for s in body["data"]["result"]:
        for ts, line in s["values"]:
            got[line] = s["stream"]
    if all(any(g.startswith(e) for g in got) for e in expected):
        break
    time.sleep(0.2)
missing = [e for e in expected if not any(g.startswith(e) for g in got)]
if missing:
    sys.exit("missing lines %r; got %r" % (missing, sorted(got)))
for line, stream in got.items():
    if stream.get("service_name") != service:
        sys.exit("line %r has stream %r" % (line, stream))
print("ok: %d lines for service_name=%s" % (len(expected), service))
