#!/usr/bin/env python3
"""Random PromQL queries, answered by Prometheus 3 and by Narthex, compared in full.

Usage: scripts/compare-random-queries.py PROMETHEUS_URL NARTHEX_URL END COUNT [SEED]

Both servers hold the same data: ../shared/bench/query.py --load --end END against each (see
BENCHMARKS.md; scripts/prometheus3.sh installs Prometheus 3 in .tools/prometheus3). Each query
(selectors with offset and @, range functions over selectors and subqueries, aggregations with
grouping and parameters, binary operators with matching, element-wise and date functions) runs
as an instant or a range query at one of a few times and steps; status, errorType, error,
warnings, infos and every series and point (values to 1e-9 relative) must be equal. Printed:
each difference, then "N of COUNT differ".

Not differences, so not counted: a query Prometheus itself answers differently when asked
twice (ties in topk/bottomk over an intermediate result Prometheus builds from a Go map); the
order of the two series in a many-to-many error and the "sort is ineffective for range
queries" warning, which follow Prometheus 3.14's test files rather than 3.5.3.
"""
import json, math, random, sys, urllib.request, urllib.parse
PROM, NARTHEX, E, N = sys.argv[1].rstrip('/'), sys.argv[2].rstrip('/'), int(sys.argv[3]), int(sys.argv[4])
SEED = int(sys.argv[5]) if len(sys.argv) > 5 else 1
rnd = random.Random(SEED)
C = 'http_requests_total'; G = 'node_memory_free_bytes'; B = 'http_request_duration_seconds_bucket'
sels = [C, G, B, f'{C}{{method="GET"}}', f'{C}{{status=~"5.."}}', f'{G}{{instance!="x"}}', f'{B}{{le="+Inf"}}', 'nonexistent', f'{C}{{job=~"a|b"}}', '{__name__=~"node.*"}']
ranges = ['1m', '5m', '10m', '30m', '1h', '90s']
labels = ['job', 'instance', 'method', 'status', 'le', 'nope']
def rng(): return rnd.choice(ranges)
def mod(s):
    r = rnd.random()
    if r < 0.1: return s + ' offset ' + rnd.choice(['5m', '-2m', '1h'])
    if r < 0.15: return s + ' @ ' + rnd.choice(['start()', 'end()', str(E - 1800)])
    return s
def num(): return rnd.choice(['0', '1', '2', '0.5', '-1', '1e9', '3.7', 'Inf', 'NaN', '100'])
def scalar(d):
    r = rnd.random()
    if r < 0.5 or d > 2: return num()
    if r < 0.7: return f'scalar({vec(d+1)})'
    if r < 0.8: return 'time()'
    return f'({scalar(d+1)} {rnd.choice(["+","-","*","/","%","^"])} {scalar(d+1)})'
def grp():
    ls = rnd.sample(labels, rnd.randint(0, 2))
    return f' {rnd.choice(["by","without"])} ({", ".join(ls)})' if rnd.random() < 0.7 else ''
def rangefn(d):
    f = rnd.choice(['rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time',
                    'count_over_time', 'last_over_time', 'stddev_over_time', 'stdvar_over_time', 'changes', 'resets', 'present_over_time', 'absent_over_time'])
    if rnd.random() < 0.2 and d < 2:
        arg = f'{vec(d+1)}[{rng()}:{rnd.choice(["1m","30s","5m"])}]'
    else:
        arg = mod(f'{rnd.choice(sels)}[{rng()}]')
    if rnd.random() < 0.1: return f'quantile_over_time({rnd.choice(["0.5","0.9","0","1","2"])}, {arg})'
    if rnd.random() < 0.05: return f'predict_linear({arg}, {rnd.choice(["60","3600"])})'
    if rnd.random() < 0.05: return f'holt_winters({arg}, 0.5, 0.5)'
    return f'{f}({arg})'
def vec(d=0):
    r = rnd.random()
    if d > 3 or r < 0.25: return mod(rnd.choice(sels))
    if r < 0.45: return rangefn(d)
    if r < 0.6:
        op = rnd.choice(['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar'])
        return f'{op}{grp()} ({vec(d+1)})'
    if r < 0.65:
        op = rnd.choice(['topk', 'bottomk', 'quantile'])
        p = rnd.choice(['1', '2', '0.5', '0.9']) if op == 'quantile' else rnd.choice(['1', '2', '5'])
        return f'{op}{grp()} ({p}, {vec(d+1)})'
    if r < 0.68: return f'count_values{grp()} ("v", round({vec(d+1)}))'
    if r < 0.8:
        op = rnd.choice(['+', '-', '*', '/', '>', '<', '==', '!=', '>=', 'and', 'or', 'unless', '%', '^'])
        boolm = ' bool' if op in ('>', '<', '==', '!=', '>=') and rnd.random() < 0.3 else ''
        match = ''
        if rnd.random() < 0.4:
            ls = rnd.sample(labels[:4], rnd.randint(0, 2))
            match = f' {rnd.choice(["on","ignoring"])}({", ".join(ls)})'
            if op not in ('and', 'or', 'unless') and rnd.random() < 0.3:
                match += f' {rnd.choice(["group_left","group_right"])}'
        if rnd.random() < 0.3:
            return f'{vec(d+1)} {op}{boolm} {scalar(d+1)}' if op not in ('and', 'or', 'unless') else f'{vec(d+1)} {op} {vec(d+1)}'
        return f'{vec(d+1)} {op}{boolm}{match} {vec(d+1)}'
    if r < 0.9:
        f = rnd.choice(['abs', 'ceil', 'floor', 'exp', 'ln', 'log2', 'log10', 'sqrt', 'sgn', 'round', 'timestamp', 'sort', 'sort_desc', 'absent',
                        'minute', 'hour', 'day_of_week', 'day_of_month', 'day_of_year', 'days_in_month', 'month', 'year', 'deg', 'rad', 'sin', 'cos', 'tanh', 'asinh',
                        'acos', 'atanh', 'clamp_min', 'clamp_max', 'round2', 'label_join', 'scalarcmp', 'timestamp_off'])
        if f in ('clamp_min', 'clamp_max'): return f'{f}({vec(d+1)}, {scalar(d+1)})'
        if f == 'round2': return f'round({vec(d+1)}, {rnd.choice(["0.5","10","3","-2"])})'
        if f == 'label_join': return f'label_join({vec(d+1)}, "{rnd.choice(["x","job","__name__"])}", "-", "{rnd.choice(labels)}", "{rnd.choice(labels)}")'
        if f == 'scalarcmp': return f'{scalar(d+1)} {rnd.choice(["<",">","==","<=","!="])} {rnd.choice(["", "bool "])}{vec(d+1)}'
        if f == 'timestamp_off': return f'timestamp({mod(rnd.choice(sels))})'
        return f'{f}({vec(d+1)})'
    if r < 0.93: return f'clamp({vec(d+1)}, {scalar(d+1)}, {scalar(d+1)})'
    if r < 0.95: return f'label_replace({vec(d+1)}, "x", "$1", "{rnd.choice(labels)}", "(.*)")'
    if r < 0.97: return f'histogram_quantile({rnd.choice(["0.5","0.9","0.99","2","-1"])}, {rnd.choice(["rate("+B+"[5m])", "sum by (le) (rate("+B+"[5m]))", B])})'
    if r < 0.98: return f'vector({scalar(d+1)})'
    return f'-{vec(d+1)}'
def get(base, kind, q):
    if kind == 'instant':
        u = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": E - rnd_t})
    else:
        u = f"{base}/api/v1/query_range?" + urllib.parse.urlencode({"query": q, "start": E - 3600 - rnd_t, "end": E - rnd_t, "step": step})
    try:
        with urllib.request.urlopen(u, timeout=60) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
def close(a, b):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b): return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b): return a == b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or abs(a - b) < 1e-12
import re
def normerr(e):
    # the two duplicate series of a many-to-many error: Prometheus 3.14 (the test files) sorts them, 3.5.3 does not
    m = re.match(r'(.*\[)(\{.*?\}), (\{.*?\})(\];.*)', e or '')
    return m.group(1) + ', '.join(sorted([m.group(2), m.group(3)])) + m.group(4) if m else e
SORTW = 'PromQL warning: sort is ineffective for range queries'
def same(x, y, ordered):
    if x.get('status') != y.get('status') or x.get('errorType') != y.get('errorType') or normerr(x.get('error')) != normerr(y.get('error')): return False
    ws = lambda d: sorted(w for w in d.get('warnings', []) if not w.startswith(SORTW))
    if ws(x) != ws(y) or sorted(x.get('infos', [])) != sorted(y.get('infos', [])): return False
    if x.get('status') != 'success': return True
    dx, dy = x['data'], y['data']
    if dx['resultType'] != dy['resultType']: return False
    if dx['resultType'] in ('scalar', 'string'): return dx['result'][0] == dy['result'][0] and (dx['resultType'] == 'string' and dx['result'] == dy['result'] or close(dx['result'][1], dy['result'][1]))
    def items(d):
        out = [(tuple(sorted(s['metric'].items())), [s['value']] if 'value' in s else s['values']) for s in d['result']]
        return out if ordered else sorted(out)
    ix, iy = items(dx), items(dy)
    if len(ix) != len(iy): return False
    for (ka, va), (kb, vb) in zip(ix, iy):
        if ka != kb or len(va) != len(vb): return False
        for (ta, a), (tb, b) in zip(va, vb):
            if ta != tb or not close(a, b): return False
    return True
bad = 0; nondet = 0
for i in range(N):
    q = vec()
    kind = rnd.choice(['instant', 'range'])
    rnd_t = rnd.choice([0, 0, 37, 600, 3 * 3600])
    step = rnd.choice(['60', '15', '300', '47'])
    sp, p = get(PROM, kind, q)
    sn, n = get(NARTHEX, kind, q)
    ordered = kind == 'instant' and any(w in q.split('(')[0] for w in ('sort', 'topk', 'bottomk'))
    if sp != sn or not same(p, n, ordered):
        sp2, p2 = get(PROM, kind, q)
        if not same(p, p2, ordered):
            nondet += 1
            continue
        bad += 1
        print(f"DIFF {kind} t-{rnd_t} step {step}: {q}\n  prom {sp} {json.dumps(p)[:400]}\n  narx {sn} {json.dumps(n)[:400]}")
print(f"{bad} of {N} differ ({nondet} skipped: Prometheus answered differently twice)")
