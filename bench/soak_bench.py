#!/usr/bin/python3
"""Side by side in one run: what the sidecars hold, and whether it grows, over minutes of load.

The mTLS pairs of bench/mtls_bench.py (proxy_bench.start_setups(mtls=True)):

    remora-pair-mtls   fortio -> [capture] remora =mTLS=> [capture] remora -> nginx
    haproxy-pair-mtls  fortio -> haproxy (127.0.0.1) =mTLS=> haproxy (server pod) -> nginx

both loaded at the same time, for --minutes (default 10), each by two
fortio runs: --rate requests/s (default 1000, PERFORMANCE.md's test point)
over --conns keep-alive connections (default 64, goal 3's "64 live pooled
mTLS connections"), and --churn-rate requests/s (default 50) with a new
connection for each (fortio -keepalive=false), so that connections open and
close all along. Meanwhile, with --reload-every S (default 30; 0: none),
the client sidecar's config is rewritten the way a ConfigMap update lands
(a rename), a dummy service's endpoint moved each time, and its admin
endpoint's /config_dump is checked to show the last generation at the end.

Every --interval seconds (default 10) each proxy process is sampled: RSS
and its anonymous part (/proc/PID/status VmRSS, RssAnon), open descriptors
and threads. Reported per process: those after the first minute (Istio's
benchmarks skip the first 62 s as warm-up) and at the end, the peak RSS
(VmHWM), and the anonymous memory's slope over the second half of the run
(least squares, KiB per minute): a leak shows as a slope that does not go
to zero. Per setup: the requests done, the non-200 answers and failed
connections, the proxies' CPU seconds per 1000 requests over the whole run
(the two setups share the machine's two vCPUs for the run, so this is not
the fixed-rate figure of bench/latency_bench.py), the RSS of both ends
as a ratio to HAProxy's pair, and their PSS (the shared libraries' pages
divided among the processes mapping them, this run's HAProxys included).
Last, where each process's RSS lies: the largest mappings (/proc/PID/smaps).

The two setups run concurrently, not in turn, so that anything that happens
to the machine during the run happens to both. A proof request through each
pair first shows the remora hop is mTLS (the server sidecar counts it
connection_security_policy="mutual_tls").

Figures, not assertions: never run by the tests. Needs root, haproxy, nginx,
curl, Go for fortio (bench/fortio.sh), and build/remora (REMORA_BIN).
Usage: bench/soak_bench.py [--minutes 10] [--rate 1000] [--conns 64]
       [--churn-rate 50] [--reload-every 30] [--interval 10]
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import latency_bench
import mtls_bench
import proxy_bench
from proxy_bench import cpu_seconds, netns

SETUPS = ["remora-pair-mtls", "haproxy-pair-mtls"]
ENDS = ["client end", "server end"]
WARMUP_S = 60


def sample(pid):
    """(RSS KiB, anonymous KiB, peak RSS KiB, descriptors, threads) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()

    def field(name):
        m = re.search(rf"^{name}:\s+(\d+)", status, re.M)
        return int(m.group(1)) if m else 0
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return field("VmRSS"), field("RssAnon"), field("VmHWM"), fds, field("Threads")


def rss_by_mapping(pid):
    """{mapping: RSS KiB} from /proc/PID/smaps: files by name, anonymous
    memory as [heap], [stack] or [anonymous]."""
    out = {}
    name = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            path = fields[5] if len(fields) > 5 else ""
            name = (path if path.startswith("[") else Path(path).name) or "[anonymous]"
            if name.startswith("[stack"):
                name = "[stack]"
        elif fields and fields[0] == "Rss:" and name is not None:
            out[name] = out.get(name, 0) + int(fields[1])
    return out


def slope_per_minute(points):
    """Least-squares slope of [(seconds, value)], per minute (0 with fewer than 2)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return 60 * sum((t - mx) * (v - my) for t, v in points) / den if den else 0.0


def start_load(binary, pod, url, uid, qps, conns, seconds, keepalive, name):
    """A fortio run in the background; its JSON lands on the process's stdout."""
    argv = [binary, "load", "-qps", str(qps), "-c", str(conns), "-t", f"{seconds}s", "-uniform",
            "-r", "0.0001", "-json", "-"]
    if not keepalive:
        argv.append("-keepalive=false")
    argv.append(url)
    return pod.spawn(argv, uid=uid, name=name)


def load_result(proc, timeout):
    """(requests, non-200 answers, failed connections) of a finished fortio run."""
    proc.wait(timeout=timeout)
    text = proc.stdout()
    start = text.find("{")
    if proc.returncode() != 0 or start < 0:
        raise netns.HarnessError(f"fortio {proc.name} failed\n{proc.stderr()[-2000:]}")
    result = json.loads(text[start:])
    codes = result.get("RetCodes") or {}
    count = result["DurationHistogram"]["Count"]
    bad = sum(n for code, n in codes.items() if str(code) != "200")
    return count, bad, result.get("SocketCount", 0)


class Reloader:
    """Moves a dummy service's endpoint in the client sidecar's config, as a
    ConfigMap update lands (a rename); the sidecar's /config_dump says which
    generation it runs (version_info: 0 for its first config, one more per
    accepted reload)."""

    def __init__(self, cfg: Path, pod):
        self.cfg = cfg
        self.pod = pod
        self.base = cfg.read_text()
        self.generation = 0

    def reload(self):
        self.generation += 1
        moved = f"""- name: soak-moving
  namespace: {proxy_bench.NAMESPACE}
  ports:
  - {{name: http, port: 8080, protocol: HTTP}}
  endpoints:
  - address: 10.250.{self.generation // 250}.{self.generation % 250 + 1}
"""
        tmp = self.cfg.with_suffix(".next")
        tmp.write_text(self.base + moved)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.cfg)

    def running(self):
        """The generation the sidecar runs, from its /config_dump (-1: unreadable)."""
        status, body = proxy_bench.local_get(self.pod, 15000, "/config_dump")
        try:
            return int(json.loads(body)["configs"][2]["version_info"]) if status == 200 else -1
        except (ValueError, KeyError, IndexError):
            return -1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=1000, help="keep-alive requests/s per setup")
    parser.add_argument("--conns", type=int, default=64, help="keep-alive connections per setup")
    parser.add_argument("--churn-rate", type=int, default=50,
                        help="requests/s per setup on a new connection each (0: none)")
    parser.add_argument("--reload-every", type=float, default=30,
                        help="seconds between the client sidecar's config changes (0: none)")
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    if seconds < 2 * WARMUP_S:
        parser.error(f"--minutes: at least {2 * WARMUP_S / 60:g} (the first minute is warm-up)")

    built = latency_bench.fortio_binary()
    with netns.Run() as run:
        binary = latency_bench.fortio_in(run, built)
        setups = [s for s in proxy_bench.start_setups(run, mtls=True) if s[0] in SETUPS]
        pods = run.nodes[0].pods
        proxy_bench.allow_connection_churn(pods.values())
        proof = mtls_bench.prove_mtls(pods, setups, pairs=(("remora-pair-mtls", "server3"),))
        reloader = Reloader(run.dir / "meshed.yaml", pods["meshed"])
        load_before = os.getloadavg()[0]

        cpu_before = {name: cpu_seconds(pids) for name, _, _, _, pids in setups}
        loads = []
        for name, pod, url, uid, _ in setups:
            loads.append((name, start_load(binary, pod, url, uid, args.rate, args.conns, seconds,
                                           True, f"{name}-keepalive")))
            if args.churn_rate:
                loads.append((name, start_load(binary, pod, url, uid, args.churn_rate, 2, seconds,
                                               False, f"{name}-churn")))
        began = time.monotonic()
        samples = {(name, end): [] for name, *_ in setups for end in ENDS}
        next_reload = began + args.reload_every if args.reload_every else None
        while (now := time.monotonic()) < began + seconds:
            for name, _, _, _, pids in setups:
                for end, pid in zip(ENDS, pids):
                    samples[(name, end)].append((now - began, *sample(pid)))
            if next_reload and now >= next_reload:
                reloader.reload()
                next_reload += args.reload_every
            print(f"soak: {now - began:5.0f} s of {seconds}", file=sys.stderr, flush=True)
            time.sleep(max(0.0, min(args.interval, began + seconds - time.monotonic())))
        done = {}
        for name, proc in loads:
            count, bad, sockets = load_result(proc, timeout=120)
            total = done.setdefault(name, [0, 0, 0])
            total[0] += count
            total[1] += bad
            total[2] += sockets
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, _, _, _, pids in setups}
        final = {(name, end): sample(pid) for name, _, _, _, pids in setups
                 for end, pid in zip(ENDS, pids)}
        maps = {(name, end): rss_by_mapping(pid) for name, _, _, _, pids in setups
                for end, pid in zip(ENDS, pids)}
        pss_end = {name: sum(proxy_bench.smaps_kib(pid)[2] for pid in pids)
                   for name, _, _, _, pids in setups}
        deadline = time.monotonic() + 10
        while reloader.running() != reloader.generation and time.monotonic() < deadline:
            time.sleep(0.2)
        running = reloader.running()
        missed = running != reloader.generation
        load_after = os.getloadavg()[0]

    print(f"# soak_bench: {args.minutes:g} min, both setups at once, each "
          f"{args.rate} req/s over {args.conns} keep-alive connections"
          + (f" + {args.churn_rate} req/s on a new connection each" if args.churn_rate else "")
          + (f"; the client sidecar's config changed every {args.reload_every:g} s "
             f"({reloader.generation} reloads, the sidecar runs generation {running})"
             if args.reload_every else "")
          + f"; samples every {args.interval:g} s; load average {load_before:.1f} -> "
            f"{load_after:.1f}")
    for line in proof:
        print(f"# {line}")
    print("| setup | end | RSS at 1 min | RSS at end | peak RSS | anonymous at 1 min | "
          "anonymous at end | anonymous slope, 2nd half | fds at 1 min / end | threads |")
    print("| --- " * 10 + "|")
    rss_end = {}
    for name, *_ in setups:
        for end in ENDS:
            rows = samples[(name, end)]
            first = next((r for r in rows if r[0] >= WARMUP_S), rows[-1])
            rss, anon, peak, fds, threads = final[(name, end)]
            half = [(r[0], r[2]) for r in rows if r[0] >= seconds / 2]
            rss_end[name] = rss_end.get(name, 0) + rss
            print(f"| {name} | {end} | {first[1] / 1024:.1f} MiB | {rss / 1024:.1f} MiB | "
                  f"{peak / 1024:.1f} MiB | {first[2] / 1024:.2f} MiB | {anon / 1024:.2f} MiB | "
                  f"{slope_per_minute(half):+.1f} KiB/min | {first[4]} / {fds} | {threads} |")
    print()
    print("| setup | requests | non-200 | connections opened by fortio | "
          "proxy CPU s / 1000 req (shared machine) | RSS, both ends, at end | / haproxy-pair-mtls | "
          "PSS, both ends |")
    print("| --- " * 8 + "|")
    base = rss_end.get("haproxy-pair-mtls")
    for name, *_ in setups:
        count, bad, sockets = done[name]
        ratio = f"{rss_end[name] / base:.2f}" if base else "-"
        print(f"| {name} | {count:,} | {bad} | {sockets:,} | "
              f"{cpu[name] / count * 1000 if count else 0:.3f} | {rss_end[name] / 1024:.1f} MiB | "
              f"{ratio} | {pss_end[name] / 1024:.1f} MiB |")
    print()
    print("Where each process's RSS lies at the end (KiB; mappings of 256 KiB or more):")
    print()
    print("| setup | end | " + " | ".join(["mapping: KiB"] * 6) + " |")
    print("| --- " * 8 + "|")
    for name, *_ in setups:
        for end in ENDS:
            top = sorted(maps[(name, end)].items(), key=lambda kv: -kv[1])
            cells = [f"{m}: {kib:,}" for m, kib in top if kib >= 256][:6]
            print(f"| {name} | {end} | " + " | ".join(cells + [""] * (6 - len(cells))) + " |")
    if missed:
        sys.exit(f"soak_bench: the client sidecar runs config generation {running}, "
                 f"not {reloader.generation}")


if __name__ == "__main__":
    main()
