"""`remora proxy sidecar`'s admin dumps of a large mesh, as a process on
127.0.0.1: /config_dump (with ?include_eds) and /clusters answer with the
whole mesh, and give their memory back. A dump of 1,000 services of ten
endpoints is 10 MB of JSON; before the sidecar kept large blocks as
mappings of their own (core/thread.h, keepLargeBlocksMapped), one such dump
left it 20 MiB larger for good.
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REMORA = os.environ.get("REMORA_BIN", "build/remora")
SERVICES = 400
ENDPOINTS = 10
# What repeated dumps may leave behind, against the sidecar's RSS before.
MOST_GROWTH_KIB = 4 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mesh_config() -> str:
    out = ["proxy: {workload: app, namespace: default, ip: 10.0.0.1}", "services:"]
    for s in range(SERVICES):
        out += [f"- name: svc{s}", f"  addresses: [10.96.{s // 250}.{s % 250 + 1}]",
                "  ports: [{name: http, port: 8080, protocol: HTTP}]", "  endpoints:"]
        for e in range(ENDPOINTS):
            n = s * ENDPOINTS + e
            out.append(f"  - {{address: 10.{1 + n // 65025}.{n // 255 % 255}.{n % 255 + 1}, "
                       f"workload: w{s}, labels: {{app: svc{s}, security.istio.io/tlsMode: istio}}}}")
    return "\n".join(out) + "\n"


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        assert r.status == 200
        return r.read()


def test_large_dumps_are_whole_and_give_their_memory_back():
    with tempfile.TemporaryDirectory(prefix="remora-admin-dump-") as d:
        cfg = Path(d) / "mesh.yaml"
        cfg.write_text(mesh_config())
        admin, health = free_port(), free_port()
        proc = subprocess.Popen(
            [REMORA, "proxy", "sidecar", "--config", str(cfg), "--outbound-port", "0",
             "--inbound-port", "0", "--admin-port", str(admin), "--stats-port", "0",
             "--health-port", str(health), "--status-port", "0", "--proxyLogLevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "CA_ADDR": "", "REMORA_PROXY_CONFIG": ""})
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    get(health, "/healthz/ready")
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None, \
                        proc.stderr.read().decode() if proc.poll() is not None else "not ready"
                    time.sleep(0.1)
            time.sleep(1)  # the first config's scratch memory trimmed
            before = rss_kib(proc.pid)
            for _ in range(3):
                dump = json.loads(get(admin, "/config_dump?include_eds"))
                eds = dump["configs"][3]["dynamic_endpoint_configs"]
                assert len(eds) == SERVICES
                assert all(len(e["endpoint_config"]["endpoints"][0]["lb_endpoints"]) == ENDPOINTS
                           for e in eds)
                statuses = json.loads(get(admin, "/clusters?format=json"))["cluster_statuses"]
                assert len(statuses) == SERVICES + 2  # the passthrough and black hole
                text = get(admin, "/clusters").decode()
                assert text.count("::health_flags::healthy\n") == SERVICES * ENDPOINTS
            time.sleep(0.5)
            after = rss_kib(proc.pid)
            # ASan's allocator keeps freed memory in quarantine by design:
            # the sizes hold for glibc's malloc only (the sanitizer tier still
            # checks the dumps themselves).
            if "libasan" not in Path(f"/proc/{proc.pid}/maps").read_text():
                assert after - before <= MOST_GROWTH_KIB, (
                    f"the sidecar grew from {before} to {after} KiB over three dumps")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
