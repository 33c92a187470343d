#!/usr/bin/python3
"""Side by side in one run, on one machine: what a proxy hop costs.

    direct      wrk -> nginx                                 (the baseline)
    haproxy     wrk -> haproxy (127.0.0.1) -> nginx          (HTTP/1.1 reverse proxy, keep-alive)
    nginx       wrk -> nginx proxy (127.0.0.1) -> nginx      (proxy_pass, upstream keepalive)
    remora      wrk -> [capture] remora 15001 -> nginx        (one sidecar, outbound)
    remora-nolog  the same, with mesh.accessLogFile "" (no access log, as haproxy/nginx here)
    remora-pair wrk -> [capture] remora -> [capture] remora -> nginx  (two meshed pods)
    haproxy-sidecar  wrk -> [capture] haproxy 15001 -> nginx     (HAProxy in the sidecar's place)
    haproxy-sidecar-pair  wrk -> [capture] haproxy -> [capture] haproxy -> nginx
    relay       wrk -> [capture] relay_floor -> nginx          (the L4 floor: no HTTP)
    relay-pair  wrk -> [capture] relay_floor -> [capture] relay_floor -> nginx

relay_floor (bench/relay_floor.cc, built here if missing) is PERFORMANCE.md's
relay floor: it accepts the captured connection, reads SO_ORIGINAL_DST and
copies bytes with epoll_wait/read/write, one upstream connection per client
connection. Its setups are the least any sidecar in that place can cost.

The haproxy-sidecar setups put HAProxy exactly where the sidecar is: a pod
with `remora init`'s rules, HAProxy as UID 1337 on 15001 (and 15006 in the
server pod), forwarding to the original destination (`server 0.0.0.0`, which
HAProxy reads with SO_ORIGINAL_DST as remora does; the inbound side from
127.0.0.6, Istio's inbound source). The capture's kernel work (conntrack,
NAT on every packet) is then the same for both, so these rows compare the
proxies alone; haproxy (on loopback, no capture) is what a hop costs without
interception. The "/ same place" column is remora's ratio to them. Each
HAProxy setup has its own client pod: one HAProxy 2.6 sending to a second
original destination slowed to about 1 ms a request once its connections to
the first sat idle (not investigated further; remora's meshed pod serves both
of its setups).

Pods are network namespaces (tests/netns/netns.py), the redirection rules
are `remora init`'s, the proxies run as UID 1337 as in a pod. The backend
answers 1 KiB bodies; wrk keeps its connections alive. For each setup and
connection count: requests/s at saturation, the ratio to direct and to
haproxy, and the proxies' CPU seconds per 1000 requests (utime+stime from
/proc, all proxy processes of the setup), peak RSS, and the RSS they had
idle, started and listening before the first load.

The setups are start_setups(), shared with bench/latency_bench.py (the
added latency at fixed rates, with fortio).

Figures, not assertions: never run by the tests. Needs root, wrk, haproxy,
nginx, and build/remora (REMORA_BIN). Usage: bench/proxy_bench.py [seconds]
"""

import contextlib
import os
import re
import struct
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
# HAProxy 2.6 as an HTTP/1.1 proxy with keep-alive on both sides, one thread.
HAPROXY_HTTP = """global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
"""
# Each remora setup and HAProxy in the same place (same capture, same pods).
SAME_PLACE = {"remora": "haproxy-sidecar", "remora-nolog": "haproxy-sidecar",
              "remora-pair": "haproxy-sidecar-pair"}
# Each sidecar setup and the L4 relay floor in the same place.
FLOOR = {"remora": "relay", "remora-nolog": "relay", "haproxy-sidecar": "relay",
         "remora-pair": "relay-pair", "haproxy-sidecar-pair": "relay-pair"}


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def smaps_kib(pid):
    """RSS, anonymous and PSS of a process in KiB, from /proc/<pid>/smaps_rollup."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()

    def field(name):
        return int(re.search(rf"^{name}:\s+(\d+)", text, re.M).group(1))
    return field("Rss"), field("Anonymous"), field("Pss")


def allow_connection_churn(pods):
    """Many short connections from one pod to one address: TIME_WAIT reuse and
    the widest local port range, in each pod's own network namespace."""
    for pod in pods:
        pod.run_cmd(["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1",
                     "net.ipv4.ip_local_port_range=1024 65000"])


@contextlib.contextmanager
def cpu_wakeup_latency(max_us):
    """While in the block, idle CPUs may take at most max_us to wake (None: the
    machine's default). The kernel's PM QoS request (/dev/cpu_dma_latency),
    as tuned's latency-performance profile sets it: held while the file is
    open. At 0 an idle CPU polls instead of halting, so on a VM a wake-up no
    longer pays a halt's exit to the hypervisor. The machine, not the proxies:
    it applies to every setup of the run alike."""
    if max_us is None:
        yield
        return
    with open("/dev/cpu_dma_latency", "wb", buffering=0) as qos:
        qos.write(struct.pack("i", max_us))
        yield


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


def relay_floor_binary():
    """build/bench/relay_floor, built if missing (it is not in `all`)."""
    binary = ROOT / "build" / "bench" / "relay_floor"
    if not binary.exists():
        subprocess.run(["cmake", "--build", str(ROOT / "build"), "--target", "relay_floor"],
                       check=True, stdout=subprocess.DEVNULL)
    return str(binary)


def start_setups(run, mtls=False):
    """Starts the backends and proxies of every setup in `run` (a netns.Run) and
    returns the setups, in report order, as (name, client pod, URL, client uid,
    proxy pids). Shared with bench/latency_bench.py and bench/mtls_bench.py.

    With mtls=True (bench/mtls_bench.py, issue 8) the remora pair gets a
    twin that speaks mTLS, and both pairs are set up alike except for that:
    a CA (`remora control`) in the node namespace, every remora sidecar with
    its workload certificate from it, the client sidecar's registry declaring
    each pair's server (ports 8080 HTTP and 8081 TCP), the mTLS one's endpoint
    labelled security.istio.io/tlsMode=istio. The backends also answer a
    1 MiB body on /1m and listen on 8081. The extra setup, last, is
    remora-pair-mtls: meshed -> server3; remora-pair is meshed -> server2."""
    node = run.node()
    client = node.pod("client")
    server = node.pod("server")
    meshed = node.pod("meshed")
    quiet = node.pod("quiet")
    server2 = node.pod("server2")
    hside = node.pod("hside")
    hpair = node.pod("hpair")
    hserver = node.pod("hserver")
    rside = node.pod("rside")
    rserver = node.pod("rserver")
    server3 = node.pod("server3") if mtls else None
    extra = ""
    if mtls:
        big = run.tempfile("1m.bin", b"x" * (1 << 20))
        os.chmod(big, 0o644)
        extra = (f"listen 8081; location = /1m {{ alias {big}; "
                 "default_type application/octet-stream; }")
    for p in (server, server2, server3, hserver, rserver):
        if p is None:
            continue
        p.nginx(8080, body=BODY, http_extra="keepalive_requests 1000000;",
                server_extra="access_log off; " + extra)
    # haproxy and an nginx reverse proxy in the client pod, on loopback.
    hap_cfg = run.tempfile("haproxy.cfg", HAPROXY_HTTP + f"""listen web
  bind 127.0.0.1:9001
  server s1 {server.ip4}:8080
""")
    hap = client.spawn(["haproxy", "-db", "-f", str(hap_cfg)], name="haproxy")
    client.wait_listening(9001, hap)
    ngx = client.nginx(9002, http_extra=f"upstream be {{ server {server.ip4}:8080; keepalive 64; }}",
                       server_extra="access_log off; location /p/ { proxy_pass http://be; "
                                    "proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
                       name="client-nginxproxy")

    def in_sidecar_place(pod, argv, listen_port, name):
        """`argv` as UID 1337 in `pod` after `remora init`'s rules, as a sidecar."""
        pod.run_remora(["init", *INJECTOR], check=True)
        proc = pod.spawn(argv, name=f"{pod.name}-{name}", uid=1337)
        pod.wait_listening(listen_port, proc)
        return proc

    def haproxy_sidecar(pod, listen_port, source=""):
        cfg = run.tempfile(f"{pod.name}-haproxy.cfg", HAPROXY_HTTP + f"""listen captured
  bind 0.0.0.0:{listen_port}
  server original 0.0.0.0{source}
""")
        os.chmod(cfg, 0o644)
        return in_sidecar_place(pod, ["haproxy", "-db", "-f", str(cfg)], listen_port, "haproxy")

    h_side = haproxy_sidecar(hside, 15001)
    h_pair = haproxy_sidecar(hpair, 15001)
    h_server = haproxy_sidecar(hserver, 15006, " source 127.0.0.6")
    relay = relay_floor_binary()
    r_side = in_sidecar_place(rside, [relay, "15001"], 15001, "relay")
    r_server = in_sidecar_place(rserver, [relay, "15006", "127.0.0.6"], 15006, "relay")

    def mesh(pod, services=""):
        cfg = run.tempfile(f"{pod.name}.yaml", services)
        pod.run_remora(["init", *INJECTOR], check=True)
        proc = pod.remora(["proxy", "sidecar", "--concurrency", "1", "--config", str(cfg),
                           "--proxyLogLevel", "warning"], uid=1337)
        pod.wait_listening(15001, proc)
        return proc

    # The same sidecar without its access log (mesh.accessLogFile ""), as
    # Istio's default profile runs it and as HAProxy and nginx run here.
    r_quiet = mesh(quiet, 'mesh: {accessLogFile: ""}\n')
    if not mtls:
        r_meshed = mesh(meshed)
        r_server2 = mesh(server2)
    else:
        ca = start_ca(run, node, ["meshed", "server2", "server3", "haproxy-client",
                                  "haproxy-server"])
        services = registry([("plain", server2, False), ("secure", server3, True)])
        r_meshed, r_server2, r_server3 = (mesh_with_ca(run, p, ca, services)
                                          for p in (meshed, server2, server3))
        hap_tls = haproxy_mtls_pair(run, node, client, server, ca)

    setups = [
        ("direct", client, f"http://{server.ip4}:8080/", 1000, []),
        ("haproxy", client, "http://127.0.0.1:9001/", 1000, [hap.pid]),
        ("nginx", client, "http://127.0.0.1:9002/p/", 1000, children(ngx.pid)),
        ("remora", meshed, f"http://{server.ip4}:8080/", 1000, [r_meshed.pid]),
        ("remora-nolog", quiet, f"http://{server.ip4}:8080/", 1000, [r_quiet.pid]),
        ("remora-pair", meshed, f"http://{server2.ip4}:8080/", 1000,
         [r_meshed.pid, r_server2.pid]),
        ("haproxy-sidecar", hside, f"http://{server.ip4}:8080/", 1000, [h_side.pid]),
        ("haproxy-sidecar-pair", hpair, f"http://{hserver.ip4}:8080/", 1000,
         [h_pair.pid, h_server.pid]),
        ("relay", rside, f"http://{server.ip4}:8080/", 1000, [r_side.pid]),
        ("relay-pair", rside, f"http://{rserver.ip4}:8080/", 1000, [r_side.pid, r_server.pid]),
    ]
    if mtls:
        setups.append(("haproxy-pair-mtls", client, "http://127.0.0.1:9003/", 1000,
                       [p.pid for p in hap_tls]))
        setups.append(("remora-pair-mtls", meshed, f"http://{server3.ip4}:8080/", 1000,
                       [r_meshed.pid, r_server3.pid]))
    return setups


# --- mTLS between the sidecars (bench/mtls_bench.py) ------------------------

CA_NAME = "istiod.istio-system.svc"
CA_PORT = 15012
NAMESPACE = "bench"


def start_ca(run, node, names):
    """`remora control` in the node namespace on the bridge address, one token
    per name (identity spiffe://cluster.local/ns/bench/sa/<name>). Returns a
    dict with the root certificate, the hosts file that makes CA_NAME resolve
    to the bridge in the pods, and each name's token file."""
    state = {"tokens": {}}
    lines = []
    for name in names:
        token = f"bench-{name}-{os.urandom(8).hex()}"
        lines.append(f"{token} {NAMESPACE} {name}\n")
        path = run.tempfile(f"{name}.token", token + "\n")
        os.chmod(path, 0o644)  # read by the sidecar, UID 1337
        state["tokens"][name] = path
    tokens = run.tempfile("ca-tokens", "".join(lines))
    root = run.dir / "root-cert.pem"
    ca = node.spawn([netns.remora_bin(), "control", "--address", str(node.gateway4), "--port",
                     str(CA_PORT), "--token-file", str(tokens), "--ca-dir", str(run.dir / "ca"),
                     "--root-cert-out", str(root), "--dns-name", CA_NAME], name="remora-control")
    node.wait_listening(CA_PORT, ca)
    deadline = time.monotonic() + 20
    while not root.exists():
        if time.monotonic() > deadline or not ca.alive():
            raise netns.HarnessError(f"the CA wrote no root certificate\n{ca.log()}")
        time.sleep(0.05)
    # No DNS in the pods: each sidecar sees its own /etc/hosts (a bind mount in
    # the mount namespace `ip netns exec` makes for it, so the host's is untouched).
    state["hosts"] = run.tempfile("pod-hosts", f"127.0.0.1 localhost\n{node.gateway4} {CA_NAME}\n")
    os.chmod(state["hosts"], 0o644)
    state["root"] = root
    state["proc"] = ca
    return state


def haproxy_mtls_pair(run, node, client, server, ca):
    """The same TLS hop with HAProxy at both ends, the yardstick of the mTLS
    pair: in the client pod, 127.0.0.1:9003 (mode http, keep-alive) and
    127.0.0.1:9004 (mode tcp) originate TLS 1.3 with a client certificate
    to the server pod's HAProxy on 8443 (mode http) and 8444 (mode tcp),
    which requires one (verify required, both ways, same CA, certificates
    fetched from it as the sidecars'), in front of nginx on 8080 and 8081.
    HAProxy's defaults otherwise (its backend may resume TLS sessions: the
    server end's stats socket, proc.stats_socket, says how many were)."""
    pems = {}
    for name in ("haproxy-client", "haproxy-server"):
        out = run.dir / f"{name}-certs"
        node.run_cmd([netns.remora_bin(), "control", "fetch-cert", "--ca-url",
                      f"https://{node.gateway4}:{CA_PORT}", "--server-name", CA_NAME,
                      "--root-cert", str(ca["root"]), "--token-file", str(ca["tokens"][name]),
                      "--out-dir", str(out)])
        pem = run.tempfile(f"{name}.pem", (out / "cert-chain.pem").read_text()
                           + (out / "key.pem").read_text())
        pems[name] = pem
    root = ca["root"]
    common = "\nglobal\n  nbthread 1\ndefaults\n  timeout connect 5s\n  timeout client 30s\n" \
             "  timeout server 30s\n"
    sock = run.dir / "haproxy-server.sock"
    srv_cfg = run.tempfile("haproxy-server.cfg", common.replace(
        "nbthread 1\n", f"nbthread 1\n  stats socket {sock}\n") + f"""
listen tls_http
  mode http
  option http-keep-alive
  bind :8443 ssl crt {pems['haproxy-server']} ca-file {root} verify required
  server s1 127.0.0.1:8080
listen tls_tcp
  mode tcp
  bind :8444 ssl crt {pems['haproxy-server']} ca-file {root} verify required
  server s1 127.0.0.1:8081
""")
    cli_cfg = run.tempfile("haproxy-client.cfg", common + f"""
listen out_http
  mode http
  option http-keep-alive
  bind 127.0.0.1:9003
  server s1 {server.ip4}:8443 ssl crt {pems['haproxy-client']} ca-file {root} verify required
listen out_tcp
  mode tcp
  bind 127.0.0.1:9004
  server s1 {server.ip4}:8444 ssl crt {pems['haproxy-client']} ca-file {root} verify required
""")
    srv = server.spawn(["haproxy", "-db", "-f", str(srv_cfg)], name="haproxy-tls-server")
    server.wait_listening(8444, srv)
    srv.stats_socket = sock  # `show info`: how many TLS sessions were resumed
    cli = client.spawn(["haproxy", "-db", "-f", str(cli_cfg)], name="haproxy-tls-client")
    client.wait_listening(9004, cli)
    return [cli, srv]


def registry(servers):
    """The services every sidecar of the mTLS run is configured with: each
    server pod as a headless service on 8080 (HTTP) and 8081 (TCP), its
    endpoint marked as running a sidecar (auto mTLS) or not."""
    out = []
    for name, pod, tls in servers:
        labels = f"app: {pod.name}" + (", security.istio.io/tlsMode: istio" if tls else "")
        out.append(f"""- name: {name}
  namespace: {NAMESPACE}
  ports:
  - {{name: http, port: 8080, protocol: HTTP}}
  - {{name: tcp, port: 8081, protocol: TCP}}
  endpoints:
  - address: {pod.ip4}
    workload: {pod.name}
    serviceAccount: {pod.name}
    labels: {{{labels}}}
""")
    return "services:\n" + "".join(out)


def mesh_with_ca(run, pod, ca, services, wrap=(), ready_seconds=30):
    """A sidecar as mesh() starts one, plus its identity from the CA; waits
    until 15021 says ready (the certificate has arrived). `wrap` goes before
    the binary (valgrind, for bench/instructions_bench.py)."""
    cfg = run.tempfile(f"{pod.name}.yaml", f"""version: 1
mesh:
  trustDomain: cluster.local
proxy:
  workload: {pod.name}
  namespace: {NAMESPACE}
  app: {pod.name}
  serviceAccount: {pod.name}
  ip: {pod.ip4}
{services}""")
    pod.run_remora(["init", *INJECTOR], check=True)
    argv = ["ip", "netns", "exec", pod.ns, "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
            str(ca["hosts"]), "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", "--",
            *wrap, netns.remora_bin(), "proxy", "sidecar", "--concurrency", "1", "--config", str(cfg),
            "--proxyLogLevel", "warning", "--ca-addr", f"{CA_NAME}:{CA_PORT}",
            "--ca-root-cert", str(ca["root"]), "--token-path", str(ca["tokens"][pod.name]),
            "--trust-domain", "cluster.local"]
    proc = run.spawn(argv, name=f"{pod.name}-remora")
    pod.wait_listening(15001, proc, timeout=ready_seconds)
    deadline = time.monotonic() + ready_seconds
    while local_get(pod, 15021, "/healthz/ready")[0] != 200:
        if time.monotonic() > deadline or not proc.alive():
            raise netns.HarnessError(f"{pod.name}'s sidecar is not ready\n{proc.log()}")
        time.sleep(0.1)
    return proc


def local_get(pod, port, path):
    """(status, body) of GET http://127.0.0.1:port/path inside the pod (0 if refused)."""
    res = pod.run_cmd(["curl", "-s", "-o", "-", "-w", "\\n%{http_code}",
                       f"http://127.0.0.1:{port}{path}"], check=False, timeout=10)
    body, _, code = res.stdout.decode(errors="replace").rpartition("\n")
    return int(code) if code.isdigit() else 0, body


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with netns.Run() as run:
        setups = start_setups(run)
        # Peak RSS before any load: the proxies started, listening, idle.
        idle = {name: rss_kib(pids) for name, _, _, _, pids in setups}
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
        print("| setup | conns | req/s | / direct | / haproxy | / same place | p50 | p90 | p99 | "
              "proxy CPU s per 1000 req | CPU / same place | proxy peak RSS | idle RSS | non-2xx |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | "
              "--- |")
        for conns in CONNS:
            base = results[("direct", conns)][0]
            hap_rps = results[("haproxy", conns)][0]
            for name, *_ in setups:
                rps, lat, errors, cpu, rss = results[(name, conns)]
                total = rps * seconds
                per_k = f"{cpu / total * 1000:.3f}" if name != "direct" and total else "-"
                same, same_cpu = "-", "-"
                if name in SAME_PLACE and (SAME_PLACE[name], conns) in results:
                    s_rps, _, _, s_cpu, _ = results[(SAME_PLACE[name], conns)]
                    same = f"{rps / s_rps:.2f}"
                    if cpu and s_cpu and total:
                        same_cpu = f"{(cpu / total) / (s_cpu / (s_rps * seconds)):.2f}"
                print(f"| {name} | {conns} | {rps:,.0f} | {rps / base:.2f} | {rps / hap_rps:.2f} | "
                      f"{same} | {lat.get('50', '-')} | {lat.get('90', '-')} | "
                      f"{lat.get('99', '-')} | {per_k} | {same_cpu} | {rss / 1024:.1f} MiB | "
                      f"{idle[name] / 1024:.1f} MiB | {errors} |")


if __name__ == "__main__":
    main()
