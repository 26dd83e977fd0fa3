#!/usr/bin/env python3
"""Compares servers on `absent(nonexistent_metric)` as ../shared/bench/query.py meets it, cycle by
cycle: per cycle and server, seven `group_left` queries (whose answer, about 250 KB, the client
parses) and then seven `absent`, the cycle's figure being the median of the seven `absent`, as
query.py takes it. The servers alternate cycle by cycle, so a slow minute of the machine hits
them alike; a whole query.py run keeps one scheduling mode throughout, so comparing runs needs
far more of them. Prints, per server, the median and quartiles of its cycles and how many came
under 0.225 ms (half Prometheus's usual `absent` on the benchmark machine) and 0.2 ms.
See BENCHMARKS.md, session 21.

  absent-cycles.py --end END --cycles 250 http://127.0.0.1:19092 http://127.0.0.1:19091 \\
      http://127.0.0.1:19091,http://127.0.0.1:18201

A server given as GROUP_LEFT_URL,ABSENT_URL answers the two queries from different servers (to
time scripts/constant-server.c after Narthex's `group_left`). With --reference (Prometheus),
each server's cycles are also compared with the reference's in the same cycle: the ratio of
the medians, and the cycles over 0.5x. All servers loaded by query.py --load with the same END.
(This replaces scripts/absent-after-group-left.py of sessions 18-20: that was
`--reference PROM PROM NARTHEX NARTHEX,CONSTANT`.)
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
    ap.add_argument("--cycles", type=int, default=250)
    ap.add_argument("--reference", help="a server (URL) to compare each cycle with; timed first if not listed")
    ap.add_argument("servers", nargs="+", help="URL, or GROUP_LEFT_URL,ABSENT_URL")
    a = ap.parse_args()
    order = a.servers if a.reference is None or a.reference in a.servers else [a.reference] + a.servers
    cycles = {server: [] for server in order}
    for _ in range(a.cycles):
        for server in order:
            group_left_url, absent_url = server.split(",", 1) if "," in server else (server, server)
            for _ in range(7):
                run_query(group_left_url, "instant", GROUP_LEFT, a.end)
            times = [run_query(absent_url, "instant", ABSENT, a.end)[0] for _ in range(7)]
            cycles[server].append(statistics.median(times))
    first = cycles[a.servers[0]]
    for server, times in cycles.items():
        q1, _, q3 = statistics.quantiles(times, n=4)
        faster = sum(t < f for t, f in zip(times, first))
        print(f"{server}: median {statistics.median(times) * 1e3:.3f} ms, quartiles {q1 * 1e3:.3f} / "
              f"{q3 * 1e3:.3f}, under 0.225 ms in {sum(t < 0.000225 for t in times)} of {len(times)}, "
              f"under 0.2 ms in {sum(t < 0.0002 for t in times)}, faster than the first in {faster}")
        if a.reference is not None and server != a.reference:
            reference = cycles[a.reference]
            over = sum(t / r > 0.5 for t, r in zip(times, reference))
            print(f"    {statistics.median(times) / statistics.median(reference):.3f}x the reference, "
                  f"over 0.5x of its cycle in {over} of {len(times)}")


if __name__ == "__main__":
    main()
