"""A/B comparison of two running Lode builds on the `lode-bench load` data.

Usage: python3 benches/interleave.py BEFORE_PORT AFTER_PORT [RUNS]

Each query goes RUNS times to each server over one keep-alive connection
per server, alternating which goes first, so drift on a shared machine hits
both alike; prints the p50 of each and the change. Both servers must hold
the data of a `lode-bench load` run made in the last hour.
"""
import http.client, time, json, statistics, urllib.parse, re, sys
ports={'before':int(sys.argv[1]),'after':int(sys.argv[2])}
conns={k:http.client.HTTPConnection('127.0.0.1',p) for k,p in ports.items()}
def get(k,path):
    c=conns[k]; t=time.perf_counter(); c.request('GET',path); r=c.getresponse(); b=r.read(); return time.perf_counter()-t, r.status, b
now=int(time.time()); S=(now-7*3600)*10**9; E=now*10**9
q=lambda s: urllib.parse.quote(s)
# find a needle: a trace id in a line
Q0=q('{namespace=~".+"} |= "trace"')
_,_,b=get('before',"/loki/api/v1/query_range?query="+Q0+f"&start={S}&end={E}&limit=50")
lines=[v[1] for s in json.loads(b)['data']['result'] for v in s['values']]
m=None
for l in lines:
    m=re.search(r'[0-9a-f]{32}',l)
    if m: break
needle=m.group(0) if m else 'zzzz'
# the needle exists in 'before' data only (different random? same seed => same ids)
R=f"&start={S}&end={E}"
queries=[
 ('needle', "/loki/api/v1/query_range?query="+q('{namespace=~".+"} |= "'+needle+'"')+R+"&limit=100"),
 ('sum by ns count 5m', "/loki/api/v1/query_range?query="+q('sum by (namespace) (count_over_time({namespace=~".+"}[5m]))')+R+"&step=300"),
 ('json status>=500', "/loki/api/v1/query_range?query="+q('sum(count_over_time({app="immich"} | json | status >= 500 [5m]))')+R+"&step=300"),
 ('latest 100 one stream', "/loki/api/v1/query_range?query="+q('{app="immich"}')+R+"&limit=100"),
 ('regex count 6h instant', "/loki/api/v1/query?query="+q('sum(count_over_time({namespace=~".+"} |~ "error|timeout" [6h]))')+f"&time={E}"),
 ('labels 6h', f"/loki/api/v1/labels?start={E-6*3600*10**9}&end={E}"),
 ('values app 6h', f"/loki/api/v1/label/app/values?start={E-6*3600*10**9}&end={E}"),
]
N=int(sys.argv[3]) if len(sys.argv)>3 else 60
print(f"needle {needle}, {N} interleaved runs each")
print("| query | before p50 | after p50 | change |")
print("|---|---|---|---|")
for name,path in queries:
    ts={'before':[],'after':[]}
    for k in ts: get(k,path)
    for i in range(N):
        for k in (('before','after') if i%2==0 else ('after','before')):
            t,st,_=get(k,path); assert st==200,(k,name,st); ts[k].append(t*1000)
    b=statistics.median(ts['before']); a=statistics.median(ts['after'])
    print(f"| {name} | {b:.2f} ms | {a:.2f} ms | {(a-b)/b*100:+.1f} % |")
