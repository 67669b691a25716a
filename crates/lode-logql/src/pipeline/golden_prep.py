# Builds golden-check input: per case, candidate entries (selector + window)
# and Loki's expected entries. Labels parsed into dicts; detected_level is
# storage's job and is dropped from expectations.
import json, re, sys
sys.path.insert(0, '/work/shared/compat')
import gen
CASES = sys.argv[1].split(',')
g = json.load(open('/work/shared/compat/goldens-public.json'))['cases']
streams = gen.generate()
SN = ["service", "app", "application", "name", "app_kubernetes_io_name", "container",
      "container_name", "component", "workload", "job"]
def svc(l):
    for k in SN:
        if k in l: return l[k]
    return "unknown_service"
def parse_labels(s):
    out = {}
    for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', s):
        out[m.group(1)] = json.loads('"' + m.group(2) + '"')
    return out
def sel_match(sel, labels):
    for m in re.finditer(r'([a-z_]+)\s*(=~|!=|!~|=)\s*"([^"]*)"', sel):
        n, op, v = m.groups(); x = labels.get(n, "")
        ok = {'=': x == v, '!=': x != v, '=~': re.fullmatch(v, x) is not None, '!~': re.fullmatch(v, x) is None}[op]
        if not ok: return False
    return True
out = {}
for cid in CASES:
    c = g[cid]['case']; gold = g[cid]['golden']
    q = c['query']
    sel = re.search(r'\{[^}]*\}', q).group(0)
    metric = not q.startswith('{')
    if metric:
        m = re.search(r'\[(\d+)([mh])\]', q)
        rng = int(m.group(1)) * (60 if m.group(2) == 'm' else 3600)
        t0 = c.get('start', c.get('time')); t1 = c.get('end', c.get('time'))
        lo, hi = (t0 - rng) * 10**9, t1 * 10**9 + 1
    else:
        lo, hi = c['start'] * 10**9, c['end'] * 10**9
    ents = []
    for s in streams:
        if not sel_match(sel, s['labels']): continue
        lb = dict(s['labels']); lb['service_name'] = svc(lb)
        for off, line, sm in s['entries']:
            if lo <= off < hi:
                ents.append([off, lb, line, sm or {}])
    exp = []
    for r in gold.get('result', []):
        if metric:
            exp.append(parse_labels(r['metric'])); continue
        l = parse_labels(r['labels']); l.pop('detected_level', None)
        for off, line in r['entries']:
            exp.append([off, l, line])
    out[cid] = {'limit': c.get('limit', 0), 'status': gold['status'], 'entries': ents, 'expected': exp}
json.dump(out, open('cases.json', 'w'), ensure_ascii=False)
print({k: (len(v['entries']), len(v['expected'])) for k, v in out.items()})
