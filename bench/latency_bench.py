#!/usr/bin/python3
"""Side by side in one run: the latency a proxy hop ADDS at fixed request rates.

The setups of bench/proxy_bench.py (start_setups: direct, haproxy, nginx,
one remora sidecar, the remora client+server pair in network namespaces),
loaded by fortio (bench/fortio.sh) at fixed rates instead of wrk at
saturation, as Istio measures its sidecars: for each rate (1000 and 10000
requests/s) and connection count (4 and 64), each setup in turn, fortio
`load -qps R -c C -t Ns -uniform`, GET, 1 KiB response bodies, keep-alive.
Reported per point: the rate achieved against the one asked for, p50/p90/p99
from fortio's JSON (histogram resolution 10 µs), the latency each proxy
setup ADDS over direct measured in the same point (its percentile minus
direct's, in µs), that added latency as a ratio to HAProxy's (none where
HAProxy's is under 20 µs, i.e. noise), and to HAProxy's in the same place
(haproxy-sidecar, haproxy-sidecar-pair: HAProxy behind the same capture,
see proxy_bench) and to the L4 relay floor's in the same place (relay,
relay-pair: bench/relay_floor.cc), the proxies' CPU seconds per 1000
requests and their peak RSS.

With --no-keepalive every request is a new connection from the app
(fortio -keepalive=false, as LiveWyer's service-mesh comparison ran): the
sidecar's accept, SO_ORIGINAL_DST and routing on each request, its upstream
pool kept (the relays, which pool nothing, connect upstream each time too).
The "p50 / direct's" column is then PERFORMANCE.md goal 5's figure (Linkerd
+7%, Istio +31% in LiveWyer's run). Every pod gets net.ipv4.tcp_tw_reuse=1
and ports 1024-65000 for the churn.

The setups of one point run back to back, so that load from elsewhere on
the machine falls on all of them alike; read the ratios first.

With --cpu-wakeup-us 0 the run holds the kernel's CPU wake-up latency limit
at 0 (/dev/cpu_dma_latency, as tuned's latency-performance profile does):
idle vCPUs poll instead of halting, so a wake-up no longer exits to the
hypervisor. At 1000 rps the CPUs idle between requests and every hop is a
wake-up from idle; this shows what the proxies add once the machine's own
wake-up cost is taken away. It applies to every setup alike.

Figures, not assertions: never run by the tests. Needs root, haproxy, nginx,
Go (to build fortio once) and build/remora (REMORA_BIN).
Usage: bench/latency_bench.py [seconds per point, default 10] [--json PATH]
       [--rates 1000,10000] [--conns 4,64] [--setups remora,remora-pair]
       [--no-keepalive] [--cpu-wakeup-us 0] [--rounds 5]

With --rounds N every point runs N times, the setups' order reversed every
other round: the table gives the medians, and the CPU per request as a
ratio to the floor's in each round (its median and range): PERFORMANCE.md
goal 2's bound for this VM (≤ 1.3× the relay's CPU per request at 1000
rps), which one pass per point cannot settle when the VM's noise moves
a ratio by ±0.1 from one run to the next.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import proxy_bench
from proxy_bench import cpu_seconds, netns, rss_kib

RATES = [1000, 10000]
CONNS = [4, 64]
PERCENTILES = [50, 90, 99]
WARMUP_SECONDS = 2
# HAProxy's added latency below this is noise (two histogram buckets): no ratio.
MIN_RATIO_BASE = 20e-6


def fortio_binary():
    """Builds fortio if needed (bench/fortio.sh prints its cached path)."""
    out = subprocess.run(["bash", str(Path(__file__).with_name("fortio.sh"))], check=True,
                         stdout=subprocess.PIPE, text=True)
    return out.stdout.strip().splitlines()[-1]


def fortio_in(run, built):
    """`built` (fortio_binary()) copied into the run directory, where the pods'
    users can run it (the run directory is world-readable; the cache may be
    under /root). Returns its path."""
    binary = str(run.dir / "fortio")
    shutil.copy(built, binary)
    os.chmod(binary, 0o755)
    return binary


def fortio(binary, pod, url, qps, conns, uid, seconds, keepalive=True):
    """One fortio run; returns its parsed JSON result."""
    argv = [binary, "load", "-qps", str(qps), "-c", str(conns), "-t", f"{seconds}s", "-uniform",
            "-p", ",".join(str(p) for p in PERCENTILES), "-r", "0.00001", "-json", "-"]
    if not keepalive:
        argv.append("-keepalive=false")
    argv.append(url)
    res = pod.run_cmd(argv, uid=uid, timeout=seconds + 60)
    return json.loads(res.stdout)


def summary(result):
    """Achieved qps, {percentile: seconds}, non-200 count, request count."""
    hist = result["DurationHistogram"]
    pct = {int(p["Percentile"]): p["Value"] for p in hist["Percentiles"]}
    codes = result.get("RetCodes") or {}
    errors = sum(n for code, n in codes.items() if str(code) != "200")
    return result["ActualQPS"], pct, errors, hist["Count"]


def us(seconds):
    return f"{seconds * 1e6:,.0f}"


def measure(binary, setups, rates, conn_counts, seconds, keepalive, raw, results, cpu_rounds,
            rounds=1):
    """Every point, each setup in turn back to back, `rounds` times (the
    order reversed every other round, so that neither end of a round is
    always the same setup's); fills raw and results. A result holds the
    medians over the rounds of the rate and each percentile, the sums of
    errors, requests and CPU seconds, and the peak RSS; cpu_rounds gets the
    CPU seconds per request of each round."""
    per_round = {}
    for rate in rates:
        for conns in conn_counts:
            for r in range(rounds):
                for name, pod, url, uid, pids in (setups if r % 2 == 0 else setups[::-1]):
                    # Connections, upstream pools and caches warm at this point's shape.
                    fortio(binary, pod, url, rate, conns, uid, WARMUP_SECONDS, keepalive)
                    before = cpu_seconds(pids)
                    result = fortio(binary, pod, url, rate, conns, uid, seconds, keepalive)
                    cpu = cpu_seconds(pids) - before
                    raw[f"{name} {rate} {conns}" + (f" round {r + 1}" if rounds > 1 else "")] = result
                    row = (*summary(result), cpu, rss_kib(pids))
                    per_round.setdefault((name, rate, conns), []).append(row)
                    qps, pct, errors, _, _, _ = row
                    print(f"{name:12} {rate:6} rps {conns:3} conns: {qps:8.0f} qps  "
                          + "  ".join(f"p{p} {us(pct[p])} µs" for p in PERCENTILES)
                          + (f"  {errors} errors" if errors else "")
                          + (f"  round {r + 1}" if rounds > 1 else ""), file=sys.stderr, flush=True)
    for key, rows in per_round.items():
        results[key] = (statistics.median(row[0] for row in rows),
                        {p: statistics.median(row[1][p] for row in rows) for p in PERCENTILES},
                        sum(row[2] for row in rows), sum(row[3] for row in rows),
                        sum(row[4] for row in rows), max(row[5] for row in rows))
        cpu_rounds[key] = [row[4] / row[3] if row[3] else 0.0 for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("seconds", nargs="?", type=int, default=10)
    parser.add_argument("--json", help="also write every raw fortio result here")
    parser.add_argument("--rates", default=",".join(map(str, RATES)),
                        help="comma-separated request rates (default: %(default)s)")
    parser.add_argument("--conns", default=",".join(map(str, CONNS)),
                        help="comma-separated connection counts (default: %(default)s)")
    parser.add_argument("--setups", help="comma-separated setups to run (default: all; direct, "
                                         "haproxy and the same-place haproxy always run, the "
                                         "ratios need them)")
    parser.add_argument("--no-keepalive", action="store_true",
                        help="a new connection for every request (fortio -keepalive=false)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every point this many times, the setups' order reversed every "
                             "other round; percentiles and rates are the rounds' medians, and "
                             "the CPU ratio to the floor is given per round too (default: 1)")
    parser.add_argument("--cpu-wakeup-us", type=int, metavar="US",
                        help="hold the kernel's CPU wake-up latency limit at US during the run "
                             "(/dev/cpu_dma_latency; 0: idle CPUs poll instead of halting, as "
                             "tuned's latency-performance profile asks); default: the machine's")
    args = parser.parse_args()
    keepalive = not args.no_keepalive
    rates = [int(r) for r in args.rates.split(",")]
    conn_counts = [int(c) for c in args.conns.split(",")]
    wanted = None
    if args.setups:
        wanted = set(args.setups.split(",")) | {"direct", "haproxy"}
        wanted |= {proxy_bench.SAME_PLACE[s] for s in wanted if s in proxy_bench.SAME_PLACE}
        wanted |= {proxy_bench.FLOOR[s] for s in wanted if s in proxy_bench.FLOOR}

    built = fortio_binary()
    raw = {}
    results = {}
    cpu_rounds = {}
    with netns.Run() as run:
        binary = fortio_in(run, built)
        setups = [s for s in proxy_bench.start_setups(run) if wanted is None or s[0] in wanted]
        if not keepalive:
            proxy_bench.allow_connection_churn(run.nodes[0].pods.values())
        load_before = os.getloadavg()[0]
        with proxy_bench.cpu_wakeup_latency(args.cpu_wakeup_us):
            measure(binary, setups, rates, conn_counts, args.seconds, keepalive, raw, results,
                    cpu_rounds, args.rounds)
        load_after = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))

    print(f"# latency_bench: fortio {args.seconds}s per point (after {WARMUP_SECONDS}s warm-up"
          + (f", {args.rounds} rounds, medians" if args.rounds > 1 else "") + "), "
          f"-uniform, GET, 1 KiB bodies, "
          f"{'keep-alive' if keepalive else 'a new connection per request'}; "
          + (f"CPU wake-up latency held at {args.cpu_wakeup_us} µs; "
             if args.cpu_wakeup_us is not None else "") +
          f"load average {load_before:.1f} before, "
          f"{load_after:.1f} after")
    print("| rate | conns | setup | achieved qps | p50 | p90 | p99 | added p50 | added p90 | "
          "added p99 | p50 / direct's | added / haproxy's (p50, p90, p99) | added / same place's | "
          "added / floor's | proxy CPU s / 1000 req | proxy peak RSS | "
          + ("CPU / floor's, median of rounds (range) | " if args.rounds > 1 else "")
          + "non-200 |")
    print("| --- " * (18 if args.rounds > 1 else 17) + "|")
    for rate in rates:
        for conns in conn_counts:
            _, direct, *_ = results[("direct", rate, conns)]
            _, hap, *_ = results[("haproxy", rate, conns)]
            for name, *_ in setups:
                qps, pct, errors, count, cpu, rss = results[(name, rate, conns)]
                reached = "" if qps >= 0.98 * rate else " (short)"
                cells = [f"{rate:,}", str(conns), name, f"{qps:,.0f}{reached}"]
                cells += [f"{us(pct[p])} µs" for p in PERCENTILES]
                if name == "direct":
                    cells += ["-"] * (10 if args.rounds > 1 else 9)
                else:
                    added = {p: pct[p] - direct[p] for p in PERCENTILES}
                    cells += [f"{us(added[p])} µs" for p in PERCENTILES]
                    cells.append(f"{(pct[50] / direct[50] - 1) * 100:+.0f}%")
                    ratios = []
                    for p in PERCENTILES:
                        hap_added = hap[p] - direct[p]
                        ratios.append(f"{added[p] / hap_added:.2f}"
                                      if hap_added >= MIN_RATIO_BASE else "-")
                    cells.append(", ".join(ratios))
                    for yardstick in (proxy_bench.SAME_PLACE, proxy_bench.FLOOR):
                        other = results.get((yardstick.get(name), rate, conns))
                        ratios = []
                        for p in PERCENTILES if other else []:
                            other_added = other[1][p] - direct[p]
                            ratios.append(f"{added[p] / other_added:.2f}"
                                          if other_added >= MIN_RATIO_BASE else "-")
                        cells.append(", ".join(ratios) or "-")
                    cells.append(f"{cpu / count * 1000:.3f}" if count else "-")
                    cells.append(f"{rss / 1024:.1f} MiB")
                    floor_rounds = cpu_rounds.get((proxy_bench.FLOOR.get(name), rate, conns))
                    if floor_rounds and args.rounds > 1:
                        ratios = [mine / theirs for mine, theirs in
                                  zip(cpu_rounds[(name, rate, conns)], floor_rounds) if theirs]
                        cells.append(f"{statistics.median(ratios):.2f} "
                                     f"({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-")
                    elif args.rounds > 1:
                        cells.append("-")
                cells.append(str(errors))
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
