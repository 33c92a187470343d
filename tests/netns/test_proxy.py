"""`remora proxy` in real network namespaces: two meshed pods, the kernel
redirects, the proxies forward.

    app pod (curl, uid 1000)                 web pod (nginx / echo server)
      OUTPUT nat -> REDIRECT :15001            PREROUTING nat -> REDIRECT :15006
      remora proxy (uid 1337) --------------> remora proxy (uid 1337) -> app port

The rules are the ones `remora init` installs with the injector's arguments;
the proxies run as UID 1337 so that their own connections are not captured
again. Every request goes through both proxies: the app pod's proxy is the
only one that can answer a VIP that no node routes, and the web pod's proxy
is the one nginx sees as its peer (127.0.0.6, Istio's inbound passthrough
source, not the client's address).
"""

import json
import os
import sys
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import netns

INJECTOR = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020"]
PROXY_UID = 1337
APP_UID = 1000
# A VIP no node routes: only the client-side proxy can resolve it.
VIP = "198.19.200.1"


def config(pod, services, *, policy="ALLOW_ANY", drain="5s", workload=None):
    lines = ["mesh:", f"  outboundTrafficPolicy: {{mode: {policy}}}",
             f"  drainDuration: {drain}", "proxy:", f"  workload: {workload or pod.name}",
             "  namespace: default", f"  app: {pod.name}", f"  ip: {pod.ip4}", "services:"]
    lines += services or ["  []"]
    path = pod.run.tempfile(f"{pod.name}-remora.yaml", "\n".join(lines) + "\n")
    return path


def web_service(web, port, protocol="HTTP", vip_port=80):
    return [f"- name: web",
            f"  addresses: [{VIP}]",
            f"  ports: [{{name: p{vip_port}, port: {vip_port}, targetPort: {port}, "
            f"protocol: {protocol}}}]",
            f"  endpoints:",
            f"  - address: {web.ip4}",
            f"    labels: {{app: web, version: v1, security.istio.io/tlsMode: istio}}"]


def meshed(pod, cfg, concurrency=2, dual_stack=False):
    """`remora init` then `remora proxy sidecar` as 1337, as the injected pod runs them."""
    res = pod.run_remora(["init", *INJECTOR, *(["--dual-stack"] if dual_stack else [])])
    assert res.returncode == 0, res.stderr
    proc = pod.remora(["proxy", "sidecar", "--concurrency", str(concurrency), "--config", str(cfg),
                       "--proxyLogLevel", os.environ.get("PROXY_LOG", "info")],
                      uid=PROXY_UID,
                      env={"POD_NAME": pod.name, "POD_NAMESPACE": "default",
                           "INSTANCE_IP": pod.ip4})
    pod.wait_listening(15001, proc)
    pod.wait_listening(15006, proc)
    return proc


def curl(pod, url, *args, timeout=10):
    res = pod.run_cmd(["curl", "-sS", "-m", str(timeout), "-o", "-", "-w", "\n%{http_code}", *args,
                       url], uid=APP_UID, check=False, timeout=timeout + 5)
    out = res.stdout.decode(errors="replace")
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


@pytest.fixture
def pair(node):
    app, web = node.pod("app"), node.pod("web")
    return app, web


def test_http_goes_through_both_proxies(pair):
    app, web = pair
    # nginx logs the fields that prove the path (peer address, the proxy's headers).
    rid_log = web.run.dir / "web-nginx80" / "rid.log"
    web.nginx(80, body="hello from nginx",
              http_extra='log_format rid "$remote_addr $http_x_request_id $http_x_forwarded_proto '
                         '$http_x_envoy_peer_metadata";',
              server_extra=f"access_log {rid_log} rid;")
    server = meshed(web, config(web, []))
    client = meshed(app, config(app, web_service(web, 80)))

    code, body = curl(app, f"http://{VIP}/")
    assert code == 200, client.log()
    assert body.strip() == "hello from nginx"
    # Twice more on one connection (keep-alive through both proxies).
    res = app.run_cmd(["curl", "-sS", "-m", "10", f"http://{VIP}/a", f"http://{VIP}/b"],
                      uid=APP_UID, check=False)
    assert res.stdout.decode().count("hello from nginx") == 2, res.stderr

    for _ in range(50):
        log = rid_log.read_text().splitlines()
        if len(log) >= 3:
            break
        time.sleep(0.1)
    assert len(log) == 3, log
    for line in log:
        peer, request_id, proto, peer_metadata = line.split(" ")
        # The server-side proxy connects from Istio's inbound passthrough
        # source (127.0.0.6), which the capture rules let through...
        assert peer == "127.0.0.6", line
        # ...and the client-side proxy stamped the request.
        assert len(request_id) == 36 and proto == "http", line
        # The server-side proxy took Istio's metadata exchange out ("-": absent).
        assert peer_metadata == "-", line
    ids = {line.split(" ")[1] for line in log}

    # Both proxies counted the three requests, each as its side of the hop...
    texts = {}
    for pod, reporter in ((app, "source"), (web, "destination")):
        text = texts[reporter] = pod.run_cmd(["curl", "-sS", "http://127.0.0.1:15090/stats/prometheus"]).stdout.decode()
        total = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                    if l.startswith("istio_requests_total{") and f'reporter="{reporter}"' in l
                    and 'response_code="200"' in l)
        assert total == 3, text
    # The client side knows the service from its registry; the server side,
    # which lists none, names the original destination.
    assert 'destination_service="web.default.svc.cluster.local"' in texts["source"]
    assert f'destination_service="{web.ip4}:80"' in texts["destination"]
    # The server side knows its caller's workload from the metadata exchange.
    assert any(l.startswith("istio_requests_total{") and 'reporter="destination"' in l
               and 'source_workload="app"' in l and 'source_app="app"' in l
               for l in texts["destination"].splitlines()), texts["destination"]
    # ...and logged each one, with the same x-request-id on both sides.
    for proc in (client, server):
        entries = []
        for _ in range(50):
            entries = [json.loads(l) for l in proc.stdout().splitlines() if l.startswith("{")]
            if len(entries) >= 3:
                break
            time.sleep(0.1)
        assert {e["request_id"] for e in entries} == ids, proc.log()
        assert all(e["response_code"] == 200 for e in entries)
    # The log's own counts, on the proxy's metrics: every line written, none dropped.
    for pod in (app, web):
        text = pod.run_cmd(["curl", "-sS", "http://127.0.0.1:15090/stats/prometheus"]).stdout.decode()
        assert "remora_access_log_lines_total 3\n" in text, text
        assert "remora_access_log_dropped_total 0\n" in text, text
    # The readiness endpoint the kubelet probes.
    assert curl(web, "http://127.0.0.1:15021/healthz/ready")[0] == 200


def test_registry_only_refuses_unknown_destinations(pair):
    app, web = pair
    web.nginx(80)
    meshed(web, config(web, []))
    meshed(app, config(app, web_service(web, 80), policy="REGISTRY_ONLY"))
    assert curl(app, f"http://{VIP}/")[0] == 200
    # The pod IP directly is an endpoint of the registry: allowed.
    assert curl(app, f"http://{web.ip4}/")[0] == 200
    # Anything else is a 502 from the client-side proxy.
    assert curl(app, "http://198.19.200.99/")[0] == 502


def admin_get(pod, path):
    """GET on the sidecar's admin port (127.0.0.1:15000) inside the pod."""
    return pod.run_cmd(["curl", "-sS", "-m", "5", f"http://127.0.0.1:15000{path}"]).stdout.decode()


def test_admin_shows_the_running_config_and_follows_a_reload(pair):
    """Envoy's /config_dump and /clusters on 15000 show the sidecar's current
    snapshot: its identity, capture listeners, clusters and endpoints; a
    config rewritten as a ConfigMap update lands (a rename) shows up there
    with the next version, and traffic carries on."""
    app, web = pair
    web.nginx(80)
    cfg = config(app, web_service(web, 80), policy="REGISTRY_ONLY")
    meshed(app, cfg)
    assert curl(app, f"http://{VIP}/")[0] == 200

    dump = json.loads(admin_get(app, "/config_dump?include_eds"))
    kinds = [c["@type"].rsplit(".", 1)[1] for c in dump["configs"]]
    assert kinds == ["BootstrapConfigDump", "ListenersConfigDump", "ClustersConfigDump",
                     "EndpointsConfigDump"]
    boot, listeners, clusters, eds = dump["configs"]
    assert boot["bootstrap"]["node"]["id"] == f"sidecar~{app.ip4}~app.default~default.svc.cluster.local"
    ports = {l["name"]: l["active_state"]["listener"]["address"]["socket_address"]["port_value"]
             for l in listeners["dynamic_listeners"]}
    assert ports == {"virtualOutbound": 15001, "virtualInbound": 15006}
    outbound = listeners["dynamic_listeners"][0]["active_state"]["listener"]
    assert outbound["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] == "BlackHoleCluster"
    names = [c["cluster"]["name"] for c in clusters["dynamic_active_clusters"]]
    assert names == ["outbound|80||web.default.svc.cluster.local", "PassthroughCluster",
                     "BlackHoleCluster"]
    assert clusters["version_info"] == "0"
    hosts = eds["dynamic_endpoint_configs"][0]["endpoint_config"]["endpoints"][0]["lb_endpoints"]
    assert [h["endpoint"]["address"]["socket_address"] for h in hosts] == [
        {"address": web.ip4, "port_value": 80}]
    text = admin_get(app, "/clusters")
    assert f"outbound|80||web.default.svc.cluster.local::{web.ip4}:80::health_flags::healthy\n" in text

    # A second service, as a ConfigMap update lands: a new file renamed over the old.
    db = ["- name: db", "  ports: [{name: tcp, port: 5432, protocol: TCP}]",
          "  endpoints:", f"  - address: {web.ip4}"]
    text = cfg.read_text() + "\n".join(db) + "\n"
    tmp = cfg.with_suffix(".next")
    tmp.write_text(text)
    os.chmod(tmp, cfg.stat().st_mode)
    os.replace(tmp, cfg)
    deadline = time.monotonic() + 15
    while True:
        clusters = json.loads(admin_get(app, "/config_dump"))["configs"][2]
        if clusters["version_info"] == "1":
            break
        assert time.monotonic() < deadline, clusters
        time.sleep(0.1)
    names = [c["cluster"]["name"] for c in clusters["dynamic_active_clusters"]]
    assert "outbound|5432||db.default.svc.cluster.local" in names
    statuses = json.loads(admin_get(app, "/clusters?format=json"))["cluster_statuses"]
    assert [s["name"] for s in statuses][:2] == ["outbound|80||web.default.svc.cluster.local",
                                                 "outbound|5432||db.default.svc.cluster.local"]
    assert curl(app, f"http://{VIP}/")[0] == 200


def test_opaque_tcp_and_server_first(pair):
    app, web = pair
    echo = web.echo_server(9000, mode="tcp")
    meshed(web, config(web, []))
    meshed(app, config(app, web_service(web, 9000, protocol="TCP", vip_port=9000)))
    payload = bytes(range(256)) * 64
    res = app.connect(VIP, 9000, payload, uid=APP_UID)
    assert res.ok and res.reply == payload, res.error
    # Passthrough to the pod IP (sniffed: not HTTP, so opaque after the timeout).
    res = app.connect(web.ip4, 9000, b"\x00binary", uid=APP_UID)
    assert res.reply == b"\x00binary", res.error
    entries = echo.ledger()
    assert len(entries) == 2
    for e in entries:
        assert e["peer"][0] == "127.0.0.6"  # from the server-side proxy


def test_nothing_lost_under_load_and_during_drain(pair):
    """RELIABILITY.md's ledger: every request the client counts as answered is
    in the backend's ledger exactly once, under load and across a drain of
    the server-side proxy."""
    app, web = pair
    echo = web.echo_server(8080, mode="http")
    server_proxy = meshed(web, config(web, [], drain="10s"))
    meshed(app, config(app, web_service(web, 8080)))

    script = app.run.tempfile("load.py", LOAD_CLIENT)
    out = app.run.scratch / "load.json"
    load = app.spawn([sys.executable, str(script), VIP, "80", "4", "300", str(out)],
                     uid=APP_UID, name="load")
    # Drain the server-side proxy while the load runs.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(echo.ledger()) < 200:
        time.sleep(0.05)
    server_proxy.signal(signal.SIGTERM)
    assert load.wait(timeout=120) == 0, load.log()
    result = json.loads(out.read_text())
    answered = {int(s) for s in result["ok"]}
    seen = [int(e["seq"]) for e in echo.ledger()]
    # Nothing answered 200 without reaching the backend, nothing twice.
    assert len(seen) == len(set(seen)), "a request reached the backend twice"
    assert answered <= set(seen)
    # Before the drain every request succeeded.
    assert len(answered) >= 200, result["errors"][:5]
    # The drained proxy exited cleanly.
    assert server_proxy.wait(timeout=30) == 0, server_proxy.log()


LOAD_CLIENT = r'''
import http.client, json, sys, threading
host, port, conns, per_conn, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ok, errors, lock = [], [], threading.Lock()
def worker(w):
    c = None
    for i in range(per_conn):
        seq = str(w * per_conn + i)
        try:
            if c is None:
                c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/r" + seq, headers={"x-seq": seq})
            r = c.getresponse(); r.read()
            with lock:
                (ok if r.status == 200 else errors).append(seq if r.status == 200 else f"{seq}:{r.status}")
            if r.getheader("connection", "").lower() == "close":
                c.close(); c = None
        except Exception as e:
            with lock:
                errors.append(f"{seq}:{e!r}")
            if c is not None:
                c.close()
            c = None
            if isinstance(e, ConnectionRefusedError):
                break
ts = [threading.Thread(target=worker, args=(w,)) for w in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
json.dump({"ok": ok, "errors": errors}, open(out, "w"))
'''


def test_ipv6_through_both_proxies(node6):
    app, web = node6.pod("app"), node6.pod("web")
    echo = web.echo_server(8080, mode="http")
    meshed(web, config(web, []), dual_stack=True)
    meshed(app, config(app, []), dual_stack=True)
    code, body = curl(app, f"http://[{web.ip6}]:8080/v6", "-H", "x-seq: 6")
    assert code == 200, body
    entries = echo.ledger()
    assert [e["seq"] for e in entries] == ["6"]
    # The inbound side left from ::6, Istio's IPv6 passthrough source.
    assert entries[0]["peer"][0] == "::6", entries[0]
    assert len(entries[0]["headers"].get("x-request-id", "")) == 36
