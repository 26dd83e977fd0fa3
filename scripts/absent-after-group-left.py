#!/usr/bin/env python3
"""`absent(nonexistent_metric)` as ../shared/bench/query.py times it: the median of seven requests
right after seven `group_left` queries, whose answer (about 250 KB) the client has just parsed.
Per cycle, in turn: Prometheus answering both queries, Narthex answering both, and a server that
does no work (scripts/constant-server.c) answering `absent` after Narthex answered `group_left`;
each compared with the same cycle's Prometheus. See BENCHMARKS.md, session 18.

  absent-after-group-left.py --end END --cycles 30 \\
      http://127.0.0.1:19090 http://127.0.0.1:19091 http://127.0.0.1:18201
(both servers loaded by query.py --load with that END; the constant server started beforehand)
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
from query import run_query  # noqa: E402

GROUP_LEFT = "http_requests_total / on(job, instance) group_left node_memory_free_bytes"
ABSENT = "absent(nonexistent_metric)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--end", type=int, required=True)
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("prometheus")
    ap.add_argument("narthex")
    ap.add_argument("constant")
    a = ap.parse_args()

    def cycle(before, url):
        for _ in range(7):
            run_query(before, "instant", GROUP_LEFT, a.end)
        return statistics.median(run_query(url, "instant", ABSENT, a.end)[0] for _ in range(7))

    runs = {"prometheus": [], "narthex": [], "constant": []}
    for _ in range(a.cycles):
        runs["prometheus"].append(cycle(a.prometheus, a.prometheus))
        runs["narthex"].append(cycle(a.narthex, a.narthex))
        runs["constant"].append(cycle(a.narthex, a.constant))
    reference = runs["prometheus"]
    for label, times in runs.items():
        over = sum(t / p > 0.5 for t, p in zip(times, reference))
        print(f"{label:10} absent {statistics.median(times) * 1000:.3f} ms, "
              f"{statistics.median(times) / statistics.median(reference):.3f}x Prometheus, "
              f"over 0.5x in {over} of {len(times)} cycles")


if __name__ == "__main__":
    main()
