#!/usr/bin/python3
"""Side by side in one run: the system calls a proxied request costs.

The setups of bench/proxy_bench.py (start_setups with mtls=True), each
loaded by wrk -t1 with CONNS keep-alive connections for --seconds while
`strace -c -f` counts the calls of every proxy process of the setup (both
sidecars for a pair, both HAProxys for HAProxy's mTLS pair). Reported per
request (wrk's count): the calls by kind, the total, and the total without
clock_gettime (HAProxy reads the clock through a system call on this VM,
remora through the vDSO, so that column compares the I/O work alone).
Ratios against the HAProxy setup of the same shape in the same run:

    remora            / haproxy               (one hop on 127.0.0.1)
    remora-pair       / haproxy-sidecar-pair  (two captured sidecars)
    remora-pair-mtls  / haproxy-pair-mtls     (the hop between them in mTLS)
    relay-pair                                (the floor: two L4 relays)

A call count is a structural figure, not a timing: strace slows every
process down alike, and what it changes is how often data is already there
when a read is tried (an EAGAIN read counts). Run it on a quiet machine all
the same. Needs root, strace, wrk, haproxy, nginx and build/remora
(REMORA_BIN). Figures, not assertions: never run by the tests.
Usage: bench/syscall_bench.py [--seconds 3] [--conns 4]
"""

import argparse
import re
import signal
import subprocess
import time

import proxy_bench
from proxy_bench import netns

SETUPS = ["haproxy", "remora", "relay-pair", "haproxy-sidecar-pair", "remora-pair",
          "haproxy-pair-mtls", "remora-pair-mtls"]
BASELINE = {"remora": "haproxy", "remora-pair": "haproxy-sidecar-pair",
            "remora-pair-mtls": "haproxy-pair-mtls"}
COLUMNS = [("reads", ("recvfrom", "read", "recvmsg")),
           ("writes", ("sendto", "sendmsg", "write", "writev")),
           ("epoll_wait", ("epoll_wait", "epoll_pwait")),
           ("epoll_ctl", ("epoll_ctl",)),
           ("clock_gettime", ("clock_gettime",))]


def parse_strace_summary(text):
    """strace -c's table as {syscall: calls}."""
    calls = {}
    for line in text.splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(f) >= 5 and re.fullmatch(r"[\d.]+", f[0]) and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


def count(pod, url, uid, pids, conns, seconds, out):
    # Warm up first: pools filled, TLS sessions up, the heaps grown.
    pod.run_cmd(["wrk", "-t1", f"-c{conns}", "-d1s", url], uid=uid, timeout=60)
    argv = ["strace", "-c", "-f", "-o", out]
    for p in pids:
        argv += ["-p", str(p)]
    tracer = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached to every thread
    try:
        res = pod.run_cmd(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", url], uid=uid,
                          timeout=seconds + 60)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    requests = int(re.search(r"(\d+) requests in", res.stdout.decode()).group(1))
    with open(out) as f:
        return requests, parse_strace_summary(f.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per setup (default 3)")
    parser.add_argument("--conns", type=int, default=4, help="wrk connections (default 4)")
    args = parser.parse_args()

    rows = {}
    with netns.Run() as run:
        setups = {s[0]: s for s in proxy_bench.start_setups(run, mtls=True)}
        proxy_bench.allow_connection_churn([s[1] for s in setups.values()])
        for name in SETUPS:
            _, pod, url, uid, pids = setups[name]
            requests, calls = count(pod, url, uid, pids, args.conns, args.seconds,
                                    str(run.dir / f"strace-{name}.txt"))
            per = {col: sum(calls.get(c, 0) for c in names) / requests
                   for col, names in COLUMNS}
            per["total"] = sum(calls.values()) / requests
            per["total_no_clock"] = per["total"] - per["clock_gettime"]
            rows[name] = (requests, per)

    print(f"### System calls per request (strace -c -f, wrk -t1 -c{args.conns}, "
          f"{args.seconds} s, keep-alive, 1 KiB bodies)\n")
    head = [c for c, _ in COLUMNS] + ["total", "total without clock", "/ HAProxy's (without clock)"]
    print("| setup | requests | " + " | ".join(head) + " |")
    print("| --- | --- |" + " --- |" * len(head))
    for name in SETUPS:
        requests, per = rows[name]
        base = BASELINE.get(name)
        ratio = f"{per['total_no_clock'] / rows[base][1]['total_no_clock']:.2f}" if base else "-"
        cells = [f"{per[c]:.2f}" for c, _ in COLUMNS]
        cells += [f"{per['total']:.2f}", f"{per['total_no_clock']:.2f}", ratio]
        print(f"| {name} | {requests} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
