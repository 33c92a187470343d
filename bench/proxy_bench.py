#!/usr/bin/python3
"""Side by side in one run, on one machine: what a proxy hop costs.

    direct      wrk -> nginx                                 (the baseline)
    haproxy     wrk -> haproxy (127.0.0.1) -> nginx          (HTTP/1.1 reverse proxy, keep-alive)
    nginx       wrk -> nginx proxy (127.0.0.1) -> nginx      (proxy_pass, upstream keepalive)
    remora      wrk -> [capture] remora 15001 -> nginx        (one sidecar, outbound)
    remora-pair wrk -> [capture] remora -> [capture] remora -> nginx  (two meshed pods)

Pods are network namespaces (tests/netns/netns.py), the redirection rules
are `remora init`'s, the proxies run as UID 1337 as in a pod. The backend
answers 1 KiB bodies; wrk keeps its connections alive. For each setup and
connection count: requests/s at saturation, the ratio to direct and to
haproxy, and the proxies' CPU seconds per 1000 requests (utime+stime from
/proc, all proxy processes of the setup) and peak RSS.

The setups are start_setups(), shared with bench/latency_bench.py (the
added latency at fixed rates, with fortio).

Figures, not assertions: never run by the tests. Needs root, wrk, haproxy,
nginx, and build/remora (REMORA_BIN). Usage: bench/proxy_bench.py [seconds]
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "netns"))
os.environ.setdefault("REMORA_BIN", str(ROOT / "build" / "remora"))
import netns  # noqa: E402

INJECTOR = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020"]
BODY = "x" * 1023
CONNS = [4, 64]


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            m = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
            total += int(m.group(1)) if m else 0
        except FileNotFoundError:
            pass
    return total


def children(pid):
    out = subprocess.run(["pgrep", "-g", str(os.getpgid(pid))], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()] or [pid]


def wrk(pod, url, conns, uid, seconds):
    res = pod.run_cmd(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url], uid=uid,
                      timeout=seconds + 30)
    out = res.stdout.decode()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s+(50|90|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0


def start_setups(run):
    """Starts the backends and proxies of every setup in `run` (a netns.Run) and
    returns the setups, in report order, as (name, client pod, URL, client uid,
    proxy pids). Shared with bench/latency_bench.py."""
    node = run.node()
    client = node.pod("client")
    server = node.pod("server")
    meshed = node.pod("meshed")
    server2 = node.pod("server2")
    for p in (server, server2):
        p.nginx(8080, body=BODY, http_extra="keepalive_requests 1000000;",
                server_extra="access_log off;")
    # haproxy and an nginx reverse proxy in the client pod, on loopback.
    hap_cfg = run.tempfile("haproxy.cfg", f"""
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
listen web
  bind 127.0.0.1:9001
  server s1 {server.ip4}:8080
""")
    hap = client.spawn(["haproxy", "-db", "-f", str(hap_cfg)], name="haproxy")
    client.wait_listening(9001, hap)
    ngx = client.nginx(9002, http_extra=f"upstream be {{ server {server.ip4}:8080; keepalive 64; }}",
                       server_extra="access_log off; location /p/ { proxy_pass http://be; "
                                    "proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
                       name="client-nginxproxy")

    def mesh(pod, services=""):
        cfg = run.tempfile(f"{pod.name}.yaml", services)
        pod.run_remora(["init", *INJECTOR], check=True)
        proc = pod.remora(["proxy", "sidecar", "--concurrency", "1", "--config", str(cfg),
                           "--proxyLogLevel", "warning"], uid=1337)
        pod.wait_listening(15001, proc)
        return proc

    r_meshed = mesh(meshed)
    r_server2 = mesh(server2)

    return [
        ("direct", client, f"http://{server.ip4}:8080/", 1000, []),
        ("haproxy", client, "http://127.0.0.1:9001/", 1000, [hap.pid]),
        ("nginx", client, "http://127.0.0.1:9002/p/", 1000, children(ngx.pid)),
        ("remora", meshed, f"http://{server.ip4}:8080/", 1000, [r_meshed.pid]),
        ("remora-pair", meshed, f"http://{server2.ip4}:8080/", 1000,
         [r_meshed.pid, r_server2.pid]),
    ]


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with netns.Run() as run:
        setups = start_setups(run)
        results = {}
        for conns in CONNS:
            for name, pod, url, uid, pids in setups:
                wrk(pod, url, conns, uid, seconds)  # warm up pools and caches
                before = cpu_seconds(pids)
                rps, lat, errors = wrk(pod, url, conns, uid, seconds)
                cpu = cpu_seconds(pids) - before
                results[(name, conns)] = (rps, lat, errors, cpu, rss_kib(pids))
        print(f"# proxy_bench: {seconds}s per point, wrk -t1, 1 KiB bodies, keep-alive; "
              f"load average {os.getloadavg()[0]:.1f}")
        print("| setup | conns | req/s | / direct | / haproxy | p50 | p90 | p99 | proxy CPU s "
              "per 1000 req | proxy peak RSS | non-2xx |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for conns in CONNS:
            base = results[("direct", conns)][0]
            hap_rps = results[("haproxy", conns)][0]
            for name, *_ in setups:
                rps, lat, errors, cpu, rss = results[(name, conns)]
                total = rps * seconds
                per_k = f"{cpu / total * 1000:.3f}" if name != "direct" and total else "-"
                print(f"| {name} | {conns} | {rps:,.0f} | {rps / base:.2f} | {rps / hap_rps:.2f} | "
                      f"{lat.get('50', '-')} | {lat.get('90', '-')} | {lat.get('99', '-')} | "
                      f"{per_k} | {rss / 1024:.1f} MiB | {errors} |")


if __name__ == "__main__":
    main()
