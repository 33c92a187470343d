#!/usr/bin/python3
"""Side by side in one run: what mTLS between two sidecars costs (issue 8).

The setups of bench/proxy_bench.py started with mtls=True (start_setups):

    direct             wrk -> nginx                                   (the baseline)
    haproxy            wrk -> haproxy (127.0.0.1) -> nginx            (one plaintext hop)
    remora-pair        wrk -> [capture] remora -> [capture] remora -> nginx, plaintext
    haproxy-pair-mtls  wrk -> haproxy (127.0.0.1) =mTLS=> haproxy (server pod) -> nginx
    remora-pair-mtls   the remora pair, the hop between the sidecars in mTLS

Both pairs share the client sidecar (pod `meshed`) and are set up alike: a
CA (`remora control`) in the node namespace, each sidecar with its workload
certificate from it (ready on 15021), the client sidecar's registry
declaring each server as a service on 8080 (HTTP) and 8081 (TCP); only the
mTLS server's endpoint carries `security.istio.io/tlsMode: istio`, so only
that hop is mTLS (auto mTLS). Before measuring, one request through each
pair proves it: the mTLS server's sidecar counts
connection_security_policy="mutual_tls", the plaintext one does not.

Measurements, each selectable with --only (comma-separated):

  saturation  wrk -t1 at saturation, 4 and 64 keep-alive connections, 1 KiB
              bodies: requests/s, p50/p99, proxy CPU s per 1000 requests.
  latency     fortio at fixed rates (--rates, default 1000) with 4
              connections, -uniform: p50/p90/p99 and the latency each setup
              ADDS over direct in the same point; the mTLS pair's extra over
              the plaintext pair.
  handshakes  a new connection per request: wrk with `Connection: close`,
              4 connections, to port 8081, which the sidecars carry as TCP,
              so every request is one new client->sidecar connection, one new
              sidecar->sidecar connection (an mTLS handshake, full, no
              resumption, in the mTLS pair) and one to nginx. Reported:
              connections/s and connections per proxy CPU-second, i.e. per
              core busy in the two sidecars (each handshake's both ends).
              The server sidecar's istio_tcp_connections_opened_total delta
              is shown to prove one sidecar->sidecar connection per request.
  bytes       1 MiB bodies (nginx, /1m) over 4 keep-alive connections at
              saturation: MB/s (wrk's Transfer/sec) and MB per proxy
              CPU-second.
  idle        what an idle connection holds (PERFORMANCE.md goal 3: <= 32 KiB
              per idle mTLS connection). Run first, before any load has
              left freed memory in the proxies' heaps to reuse.
              IDLE_CONNS app connections to port 8081 (TCP in the registry,
              so one sidecar->sidecar connection each, mTLS in the mTLS
              pair), one GET answered on each, then held open and idle.
              Reported per end (client and server proxy): anonymous memory
              (smaps_rollup) grown, divided by the connections held, once
              just after the answers and again after IDLE_QUIET_S seconds
              idle (remora's idle-memory check, every 5 s, releases what
              connections quiet since the previous check hold). (A
              pool's idle connections are not measured this way: the load
              that fills a pool leaves its own freed memory behind.)

Proxy CPU is utime+stime from /proc of every proxy process of the setup
(both sidecars, both HAProxys for the pairs). Ratios: mTLS / plaintext
pair, each setup / HAProxy's one plaintext hop, and each / HAProxy's mTLS
pair (proxy_bench.haproxy_mtls_pair: TLS 1.3 both ways with certificates
from the same CA, `verify required` at both ends, mode http on 9003 and
mode tcp on 9004 for the connection-per-request run; HAProxy's defaults
otherwise, so its client end resumes TLS sessions), the yardstick for
remora-pair-mtls.

Figures, not assertions: never run by the tests. Needs root, wrk, haproxy,
nginx, curl, Go for fortio (latency only; bench/fortio.sh), and build/remora
(REMORA_BIN). Usage: bench/mtls_bench.py [--seconds 5] [--only a,b] [--rates 1000,10000]
"""

import argparse
import os
import re
import socket
import sys
import time

import latency_bench
import proxy_bench
from proxy_bench import cpu_seconds, local_get, netns, rss_kib, smaps_kib

SETUPS = ["direct", "haproxy", "remora-pair", "haproxy-pair-mtls", "remora-pair-mtls"]
WHAT = ["idle", "saturation", "latency", "handshakes", "bytes"]
IDLE_QUIET_S = 12  # past two of remora's 5 s idle-memory checks
MIB = 1 << 20
WARMUP = 2
# Idle connections held open (the server pods' nginx take 512 each).
IDLE_CONNS = 400

# Opens N connections to host:port, sends one GET on each, reads each
# answer whole (Content-Length), prints "ready", then holds them open and
# idle until killed.
HOLDER = r"""
import re, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
req = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
conns = [socket.create_connection((host, port), timeout=10) for _ in range(n)]
for s in conns:
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("closed before the answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
    while len(body) < length:
        body += s.recv(65536)
print("ready", flush=True)
time.sleep(3600)
"""


def wrk_run(pod, url, conns, uid, seconds, headers=()):
    """wrk -t1; returns (requests/s, {50,90,99: text}, non-2xx, bytes/s, socket errors)."""
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    res = pod.run_cmd(argv + [url], uid=uid, timeout=seconds + 30)
    out = res.stdout.decode()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s+(50|90|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w*)B", out)
    scale = {"": 1, "K": 1024, "M": MIB, "G": 1 << 30}[m.group(2)] if m else 0
    sock = re.search(r"Socket errors: (.*)", out)
    return (rps, lat, int(errors.group(1)) if errors else 0,
            float(m.group(1)) * scale if m else 0.0, sock.group(1) if sock else "")


def prom_sum(text, name, **labels):
    """Sum of a Prometheus counter's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def stats(pod):
    return local_get(pod, 15090, "/stats/prometheus")[1]


def server_seen(pod):
    """(TCP connections, of which mutual_tls, HTTP requests, mTLS handshakes, of which
    resumed) a server sidecar has counted."""
    text = stats(pod)
    return (prom_sum(text, "istio_tcp_connections_opened_total", reporter="destination"),
            prom_sum(text, "istio_tcp_connections_opened_total", reporter="destination",
                     connection_security_policy="mutual_tls"),
            prom_sum(text, "istio_requests_total", reporter="destination"),
            prom_sum(text, "remora_tls_handshakes_total", direction="inbound"),
            prom_sum(text, "remora_tls_handshakes_total", direction="inbound",
                     session_reused="true"))


def haproxy_info(run):
    """`show info` of the server end of HAProxy's mTLS pair, as a dict."""
    path = next(proc.stats_socket for proc in run.processes if hasattr(proc, "stats_socket"))
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(b"show info\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return dict(line.split(": ", 1) for line in data.decode().splitlines() if ": " in line)


def hold_idle(run, pod, url, uid, conns):
    """Starts the holder on `url`'s host and port; returns it once every answer is in."""
    host, port = re.match(r"http://([^:/]+):(\d+)/", url).groups()
    script = run.tempfile("holder.py", HOLDER)
    os.chmod(script, 0o644)
    proc = pod.spawn(["python3", str(script), host, port, str(conns)], uid=uid,
                     name=f"holder-{port}")
    deadline = time.monotonic() + 60
    while "ready" not in proc.stdout():
        if not proc.alive() or time.monotonic() > deadline:
            raise SystemExit(f"mtls_bench: the idle holder for {url} failed\n{proc.log()}")
        time.sleep(0.1)
    time.sleep(0.5)  # the proxies' last frees and writes settle
    return proc


def idle_memory(run, setups):
    """KiB of anonymous memory per idle connection, per end, for each pair,
    just after the answers and again after IDLE_QUIET_S idle:
    {name: {"held": (client end, server end), "quiet": (...)}}."""
    res = {}
    pairs = [(n, p, u, uid, pids) for n, p, u, uid, pids in setups
             if n in ("remora-pair", "haproxy-pair-mtls", "remora-pair-mtls")]
    for name, pod, url, uid, pids in pairs:
        tcp_url = url.replace(":8080/", ":8081/").replace(":9003/", ":9004/")
        before = [smaps_kib(p)[1] for p in pids]
        holder = hold_idle(run, pod, tcp_url, uid, IDLE_CONNS)
        held = [smaps_kib(p)[1] for p in pids]
        time.sleep(IDLE_QUIET_S)
        quiet = [smaps_kib(p)[1] for p in pids]
        holder.stop()
        res[name] = {k: tuple((a - b) / IDLE_CONNS for a, b in zip(v, before))
                     for k, v in (("held", held), ("quiet", quiet))}
        print(f"idle {name}: {res[name]}", file=sys.stderr, flush=True)
    return res


def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def prove_mtls(pods, setups, pairs=(("remora-pair", "server2"), ("remora-pair-mtls", "server3"))):
    """One request through each pair (setup name, server pod); the server
    sidecars' metrics say which is mTLS."""
    by = {name: (pod, url, uid) for name, pod, url, uid, _ in setups}
    lines = []
    for name, server in pairs:
        pod, url, uid = by[name]
        res = pod.run_cmd(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], uid=uid,
                          check=False)
        text = stats(pods[server])
        mtls = prom_sum(text, "istio_requests_total", reporter="destination",
                        connection_security_policy="mutual_tls")
        principal = re.search(r'source_principal="([^"]*)"', text)
        lines.append(f"{name}: HTTP {res.stdout.decode()}; {server}'s sidecar counts {mtls:.0f} "
                     f"mutual_tls request(s), source_principal "
                     f"{principal.group(1) if principal else '-'}")
        want = name.endswith("-mtls")
        if (mtls > 0) != want:
            raise SystemExit(f"mtls_bench: {name} is {'not ' if want else ''}mTLS:\n{text}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per point (default 5)")
    parser.add_argument("--only", default=",".join(WHAT), help="comma-separated: " + ", ".join(WHAT))
    parser.add_argument("--rates", default="1000", help="latency: fixed rates, comma-separated")
    args = parser.parse_args()
    what = [w for w in args.only.split(",") if w]
    for w in what:
        if w not in WHAT:
            parser.error(f"--only: unknown {w!r}")
    rates = [int(r) for r in args.rates.split(",") if r]
    secs = args.seconds
    fortio_built = latency_bench.fortio_binary() if "latency" in what else None

    out = []
    with netns.Run() as run:
        all_setups = proxy_bench.start_setups(run, mtls=True)
        setups = [s for s in all_setups if s[0] in SETUPS]
        node = run.nodes[0]
        pods = node.pods
        proxy_bench.allow_connection_churn(pods.values())
        proof = prove_mtls(pods, setups)
        load_before = os.getloadavg()[0]

        if "idle" in what:
            res = idle_memory(run, setups)
            out.append("### Memory per idle connection (TCP through the pair, one GET answered, "
                       f"{IDLE_CONNS} held; anonymous KiB grown / connections)")
            out.append("| setup | measured | client end | server end | both ends | "
                       "both / haproxy mTLS pair's | mTLS / plaintext pair |")
            out.append("| --- " * 7 + "|")
            for when, label in (("held", "just answered"), ("quiet", f"{IDLE_QUIET_S} s idle")):
                hm, plain = res["haproxy-pair-mtls"][when], res["remora-pair"][when]
                for name in ("remora-pair", "haproxy-pair-mtls", "remora-pair-mtls"):
                    c, sv = res[name][when]
                    mt = name == "remora-pair-mtls"
                    out.append(f"| {name} | {label} | {c:.1f} | {sv:.1f} | {c + sv:.1f} | "
                               f"{ratio(c + sv, hm[0] + hm[1]) if mt else '-'} | "
                               f"{ratio(c + sv, plain[0] + plain[1]) if mt else '-'} |")

        if "saturation" in what:
            res = {}
            for conns in (4, 64):
                for name, pod, url, uid, pids in setups:
                    wrk_run(pod, url, conns, uid, WARMUP)
                    before = cpu_seconds(pids)
                    rps, lat, err, _, sock = wrk_run(pod, url, conns, uid, secs)
                    res[(name, conns)] = (rps, lat, err, cpu_seconds(pids) - before, sock)
                    print(f"saturation {name} c{conns}: {rps:,.0f} req/s", file=sys.stderr,
                          flush=True)
            out.append(f"### Requests at saturation (wrk -t1, {secs} s, 1 KiB bodies, keep-alive)")
            out.append("| setup | conns | req/s | / direct | / haproxy | / haproxy mTLS pair | "
                       "mTLS / plaintext pair | p50 | p99 | proxy CPU s / 1000 req | "
                       "CPU / haproxy mTLS pair's | CPU mTLS / plaintext | non-2xx |")
            out.append("| --- " * 13 + "|")
            for conns in (4, 64):
                d, h, plain, hm = (res[(n, conns)] for n in ("direct", "haproxy", "remora-pair",
                                                              "haproxy-pair-mtls"))
                hm_k = hm[3] / (hm[0] * secs) * 1000
                for name, *_ in setups:
                    rps, lat, err, cpu, sock = res[(name, conns)]
                    per_k = cpu / (rps * secs) * 1000 if rps and name != "direct" else 0
                    plain_k = plain[3] / (plain[0] * secs) * 1000
                    mt = name == "remora-pair-mtls"
                    out.append(f"| {name} | {conns} | {rps:,.0f} | {ratio(rps, d[0])} | "
                               f"{ratio(rps, h[0])} | {ratio(rps, hm[0])} | "
                               f"{ratio(rps, plain[0]) if mt else '-'} | "
                               f"{lat.get('50', '-')} | {lat.get('99', '-')} | "
                               f"{f'{per_k:.3f}' if per_k else '-'} | "
                               f"{ratio(per_k, hm_k) if per_k else '-'} | "
                               f"{ratio(per_k, plain_k) if mt else '-'} | {err}"
                               f"{' ' + sock if sock else ''} |")

        if "latency" in what:
            binary = latency_bench.fortio_in(run, fortio_built)
            res = {}
            for rate in rates:
                for name, pod, url, uid, pids in setups:
                    latency_bench.fortio(binary, pod, url, rate, 4, uid, WARMUP)
                    before = cpu_seconds(pids)
                    r = latency_bench.fortio(binary, pod, url, rate, 4, uid, secs)
                    qps, pct, err, count = latency_bench.summary(r)
                    res[(name, rate)] = (qps, pct, err, count, cpu_seconds(pids) - before)
                    print(f"latency {name} {rate} rps: p50 {pct[50] * 1e6:.0f} µs "
                          f"p99 {pct[99] * 1e6:.0f} µs", file=sys.stderr, flush=True)
            us = latency_bench.us
            out.append(f"### Added latency at fixed rates (fortio -uniform, 4 connections, {secs} s "
                       f"after {WARMUP} s warm-up, 1 KiB bodies, keep-alive)")
            out.append("| rate | setup | achieved qps | p50 | p90 | p99 | added p50 | added p90 | "
                       "added p99 | mTLS's extra over the plaintext pair (p50, p90, p99) | "
                       "added / haproxy's (p50, p90, p99) | added / haproxy mTLS pair's (p50, p90, p99) | "
                       "proxy CPU s / 1000 req | non-200 |")
            out.append("| --- " * 14 + "|")
            for rate in rates:
                direct = res[("direct", rate)][1]
                hap = res[("haproxy", rate)][1]
                plain = res[("remora-pair", rate)][1]
                hm = res[("haproxy-pair-mtls", rate)][1]
                for name, *_ in setups:
                    qps, pct, err, count, cpu = res[(name, rate)]
                    cells = [f"{rate:,}", name, f"{qps:,.0f}"] + [f"{us(pct[p])} µs"
                                                                  for p in (50, 90, 99)]
                    if name == "direct":
                        cells += ["-"] * 7
                    else:
                        cells += [f"{us(pct[p] - direct[p])} µs" for p in (50, 90, 99)]
                        cells.append(", ".join(f"{us(pct[p] - plain[p])} µs" for p in (50, 90, 99))
                                     if name == "remora-pair-mtls" else "-")
                        cells.append(", ".join(
                            ratio(pct[p] - direct[p], hap[p] - direct[p])
                            if hap[p] - direct[p] >= latency_bench.MIN_RATIO_BASE else "-"
                            for p in (50, 90, 99)))
                        cells.append(", ".join(
                            ratio(pct[p] - direct[p], hm[p] - direct[p])
                            if hm[p] - direct[p] >= latency_bench.MIN_RATIO_BASE else "-"
                            for p in (50, 90, 99)))
                        cells.append(f"{cpu / count * 1000:.3f}" if count else "-")
                    cells.append(str(err))
                    out.append("| " + " | ".join(cells) + " |")

        if "handshakes" in what:
            res = {}
            server_pod = {"remora-pair": pods["server2"], "remora-pair-mtls": pods["server3"]}
            hap0 = haproxy_info(run)
            for name, pod, url, uid, pids in setups:
                # 8081: TCP in the sidecars' registry; HAProxy's mTLS pair in mode tcp
                # on 9004 (the plaintext haproxy stays on its HTTP listener).
                url = url.replace(":8080/", ":8081/").replace(":9003/", ":9004/")
                hdr = ["Connection: close"]
                wrk_run(pod, url, 4, uid, 1, hdr)
                sp = server_pod.get(name)
                seen0 = server_seen(sp) if sp else None
                before = cpu_seconds(pids)
                rps, lat, err, _, sock = wrk_run(pod, url, 4, uid, secs, hdr)
                cpu = cpu_seconds(pids) - before
                seen = None
                if sp:
                    seen = tuple(b - a for a, b in zip(seen0, server_seen(sp)))
                res[name] = (rps, lat, err, cpu, sock, seen)
                print(f"handshakes {name}: {rps:,.0f} conn/s, cpu {cpu:.2f} s", file=sys.stderr,
                      flush=True)
            hap1 = haproxy_info(run)
            conns = int(hap1.get("CumSslConns", 0)) - int(hap0.get("CumSslConns", 0))
            out.append(f"### A new connection per request (wrk -t1 -c4 `Connection: close`, {secs} s, "
                       "1 KiB bodies; the pairs' port 8081 is TCP in the registry)")
            out.append(f"HAProxy's mTLS pair, server end: {conns:,} TLS connections accepted over "
                       "this test (with its warm-up); SSL session reuse "
                       f"{hap1.get('SslFrontendSessionReuse_pct', '?')}% (HAProxy's running "
                       "figure). remora's mTLS server sidecar: "
                       f"{res['remora-pair-mtls'][5][3]:,.0f} handshakes, of which "
                       f"{res['remora-pair-mtls'][5][4]:,.0f} resumed a session "
                       "(remora_tls_handshakes_total).")
            out.append("| setup | conn/s (= req/s) | / direct | / haproxy | / haproxy mTLS pair | "
                       "mTLS / plaintext pair | p50 | p99 | proxy CPU s | proxy CPU ms / 1000 conn | "
                       "conn per proxy CPU-second | per CPU-s / haproxy mTLS pair's | "
                       "per CPU-s mTLS / plaintext | requests sent; the server sidecar "
                       "saw: TCP connections (mutual_tls), HTTP requests | errors |")
            out.append("| --- " * 15 + "|")
            d, h, plain = res["direct"], res["haproxy"], res["remora-pair"]
            hm = res["haproxy-pair-mtls"]
            hm_core = hm[0] * secs / hm[3] if hm[3] else 0
            for name, *_ in setups:
                rps, lat, err, cpu, sock, seen = res[name]
                n = rps * secs
                per_core = n / cpu if cpu else 0
                plain_core = plain[0] * secs / plain[3] if plain[3] else 0
                mt = name == "remora-pair-mtls"
                out.append(
                    f"| {name} | {rps:,.0f} | {ratio(rps, d[0])} | {ratio(rps, h[0])} | "
                    f"{ratio(rps, hm[0])} | "
                    f"{ratio(rps, plain[0]) if mt else '-'} | {lat.get('50', '-')} | "
                    f"{lat.get('99', '-')} | {cpu:.2f} | "
                    f"{f'{cpu / n * 1e6:.0f}' if cpu and n else '-'} | "
                    f"{f'{per_core:,.0f}' if per_core else '-'} | "
                    f"{ratio(per_core, hm_core) if per_core else '-'} | "
                    f"{ratio(per_core, plain_core) if mt else '-'} | "
                    f"{n:,.0f}; " + (f"{seen[0]:,.0f} ({seen[1]:,.0f}), {seen[2]:,.0f}" if seen else "-") + " | "
                    f"{err}{' ' + sock if sock else ''} |")

        if "bytes" in what:
            res = {}
            for name, pod, url, uid, pids in setups:
                url = url + "1m" if url.endswith("/") else url
                wrk_run(pod, url, 4, uid, WARMUP)
                before = cpu_seconds(pids)
                rps, lat, err, bps, sock = wrk_run(pod, url, 4, uid, secs)
                res[name] = (rps, lat, err, bps, cpu_seconds(pids) - before, sock)
                print(f"bytes {name}: {bps / 1e6:,.0f} MB/s", file=sys.stderr, flush=True)
            out.append(f"### Bytes through the hop (wrk -t1 -c4, {secs} s, 1 MiB bodies, keep-alive)")
            out.append("| setup | MB/s | / direct | / haproxy | / haproxy mTLS pair | "
                       "mTLS / plaintext pair | p50 | p99 | proxy CPU s | MB per proxy CPU-second | "
                       "per CPU-s / haproxy mTLS pair's | per CPU-s mTLS / plaintext | errors |")
            out.append("| --- " * 13 + "|")
            d, h, plain = res["direct"], res["haproxy"], res["remora-pair"]
            hm = res["haproxy-pair-mtls"]
            hm_core = hm[3] * secs / hm[4] if hm[4] else 0
            plain_core = plain[3] * secs / plain[4] if plain[4] else 0
            for name, *_ in setups:
                rps, lat, err, bps, cpu, sock = res[name]
                per_core = bps * secs / cpu if cpu else 0
                mt = name == "remora-pair-mtls"
                out.append(
                    f"| {name} | {bps / 1e6:,.0f} | {ratio(bps, d[3])} | {ratio(bps, h[3])} | "
                    f"{ratio(bps, hm[3])} | "
                    f"{ratio(bps, plain[3]) if mt else '-'} | {lat.get('50', '-')} | "
                    f"{lat.get('99', '-')} | {cpu:.2f} | "
                    f"{f'{per_core / 1e6:,.0f}' if per_core else '-'} | "
                    f"{ratio(per_core, hm_core) if per_core else '-'} | "
                    f"{ratio(per_core, plain_core) if mt else '-'} | {err}"
                    f"{' ' + sock if sock else ''} |")

        rss = {name: rss_kib(pids) for name, _, _, _, pids in setups}
        load_after = os.getloadavg()[0]

    print(f"# mtls_bench: {secs} s per point; load average {load_before:.1f} before, "
          f"{load_after:.1f} after; {netns.remora_bin()}")
    for line in proof:
        print(f"# {line}")
    print("# proxy peak RSS: " + ", ".join(f"{n} {rss[n] / 1024:.1f} MiB"
                                           for n in SETUPS if n != "direct"))
    print()
    print("\n".join(out))


if __name__ == "__main__":
    main()
