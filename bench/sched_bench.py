#!/usr/bin/python3
"""Side by side in one run: how the scheduler treats each proxy under load.

proxy_bench.py's saturation figure on few connections depends on more than
what a request costs the proxy: wrk, nginx and the proxy share this VM's
vCPUs, and when wrk and nginx end up on one vCPU while the proxy sleeps
on the other, that one vCPU sets the pace. This script puts figures on it.

Each setup (bench/proxy_bench.py's start_setups) is loaded by wrk -t1 with
CONNS keep-alive connections for --seconds, in --rounds alternating rounds.
Reported per request (wrk's count):

    proxy CPU   the proxy processes' user + system time (µs)
    per core    requests/s per CPU-second of the proxy (1e6 / proxy CPU)
    rest        every other busy CPU-µs of the machine: wrk, nginx, the
                interrupts and softirqs not charged to a process
    sleeps      the proxy's voluntary context switches (it blocked in
                epoll_wait and had to be woken)
    preempted   its involuntary context switches
    runq wait   time it spent runnable but not running (/proc/.../schedstat)

and per second: idle, the vCPUs left idle during the run (/proc/stat).
Ratios are against haproxy-sidecar (HAProxy 2.6 in the sidecar's place)
in the same round. Needs root, wrk, haproxy, nginx and build/remora
(REMORA_BIN). Figures, not assertions: never run by the tests.
Usage: bench/sched_bench.py [--setups remora-nolog,haproxy-sidecar,relay]
                            [--conns 4] [--rounds 3] [--seconds 5]
"""

import argparse
import os
import re
import statistics
import time
from pathlib import Path

import proxy_bench
from proxy_bench import netns, cpu_seconds

BASELINE = "haproxy-sidecar"


def machine_ticks():
    """(busy, idle) clock ticks of the whole machine so far (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return user + nice + system + irq + softirq + steal, idle + iowait


def scheduling(pids):
    """Summed over every thread of `pids`: (ns runnable but waiting,
    voluntary switches, involuntary switches)."""
    wait = voluntary = involuntary = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                wait += int((task / "schedstat").read_text().split()[1])
                status = (task / "status").read_text()
            except FileNotFoundError:
                continue  # a thread that ended since the listing
            voluntary += int(re.search(r"\nvoluntary_ctxt_switches:\s+(\d+)", status).group(1))
            involuntary += int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", status).group(1))
    return wait, voluntary, involuntary


def measure(pod, url, uid, pids, conns, seconds):
    pod.run_cmd(["wrk", "-t1", f"-c{conns}", "-d1s", url], uid=uid, timeout=60)  # warm up
    hz = os.sysconf("SC_CLK_TCK")
    busy0, idle0 = machine_ticks()
    cpu0, sched0, t0 = cpu_seconds(pids), scheduling(pids), time.monotonic()
    rps, _, _ = proxy_bench.wrk(pod, url, conns, uid, seconds)
    busy1, idle1 = machine_ticks()
    cpu1, sched1, elapsed = cpu_seconds(pids), scheduling(pids), time.monotonic() - t0
    n = rps * seconds
    proxy_us = (cpu1 - cpu0) / n * 1e6
    return {
        "rps": rps,
        "proxy_us": proxy_us,
        "per_core": 1e6 / proxy_us,
        "rest_us": ((busy1 - busy0) / hz - (cpu1 - cpu0)) / n * 1e6,
        "sleeps": (sched1[1] - sched0[1]) / n,
        "preempted": (sched1[2] - sched0[2]) / n,
        "wait_us": (sched1[0] - sched0[0]) / n / 1e3,
        "idle": (idle1 - idle0) / hz / elapsed,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setups", default="remora-nolog,haproxy-sidecar,relay")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    wanted = args.setups.split(",")
    if BASELINE not in wanted:
        wanted.append(BASELINE)
    with netns.Run() as run:
        setups = {s[0]: s for s in proxy_bench.start_setups(run) if s[0] in wanted}
        unknown = set(wanted) - set(setups)
        if unknown:
            raise SystemExit(f"unknown setups: {', '.join(sorted(unknown))}")
        print(f"{args.conns} connections, {args.seconds} s a round")
        print(f"{'round':5} {'setup':16} {'req/s':>7} {'/hap':>5} {'proxy CPU':>9} "
              f"{'per core':>8} {'/hap':>5} {'rest':>6} {'idle':>5} {'sleeps':>6} "
              f"{'preempted':>9} {'runq wait':>9}")
        ratios = {name: [] for name in wanted}
        for rnd in range(args.rounds):
            order = wanted if rnd % 2 == 0 else list(reversed(wanted))
            got = {}
            for name in order:
                _, pod, url, uid, pids = setups[name]
                got[name] = measure(pod, url, uid, pids, args.conns, args.seconds)
            base = got[BASELINE]
            for name in wanted:
                m = got[name]
                ratios[name].append((m["rps"] / base["rps"], m["per_core"] / base["per_core"]))
                print(f"{rnd + 1:5} {name:16} {m['rps']:7.0f} {m['rps'] / base['rps']:5.2f} "
                      f"{m['proxy_us']:7.1f}µs {m['per_core']:8.0f} "
                      f"{m['per_core'] / base['per_core']:5.2f} {m['rest_us']:4.1f}µs "
                      f"{m['idle']:5.2f} {m['sleeps']:6.3f} {m['preempted']:9.3f} "
                      f"{m['wait_us']:7.1f}µs", flush=True)
        print("medians over the rounds, against haproxy-sidecar:")
        for name in wanted:
            rps = statistics.median(r[0] for r in ratios[name])
            core = statistics.median(r[1] for r in ratios[name])
            print(f"  {name:16} req/s {rps:.2f}x  req/s per proxy core {core:.2f}x")


if __name__ == "__main__":
    main()
