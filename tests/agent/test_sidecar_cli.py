"""`remora proxy sidecar` getting its workload certificate from a real
`remora control`, both as processes on 127.0.0.1, configured as the injected
container is: CA_ADDR, POD_NAMESPACE, SERVICE_ACCOUNT in the environment, the
token and the mesh root in files.

The sidecar starts before its CA: not ready ("no workload certificate") while
it retries, ready once the CA is up, with its SPIFFE identity on 15000/certs
and the certificate's metrics on 15090; SIGTERM stops it cleanly. Without a
CA address it runs as before: ready at once, no certificate.
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REMORA = os.environ.get("REMORA_BIN", "build/remora")
IDENTITY = "spiffe://cluster.local/ns/default/sa/sleep"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="remora-sidecar-certs-") as d:
        yield Path(d)


class Proc:
    def __init__(self, argv, workdir: Path, name: str, env=None):
        self.log = workdir / f"{name}.log"
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=workdir)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"did not stop on SIGTERM:\n{self.log.read_text()}")
        return self.proc.returncode


def sidecar(workdir: Path, ports: list[int], env: dict, *extra) -> Proc:
    out, inb, admin, stats, health, status = ports
    base = {k: "" for k in ("CA_ADDR", "TRUST_DOMAIN", "SECRET_TTL", "REMORA_PROXY_CONFIG")}
    return Proc([REMORA, "proxy", "sidecar", "--outbound-port", str(out), "--inbound-port",
                 str(inb), "--admin-port", str(admin), "--stats-port", str(stats),
                 "--health-port", str(health), "--status-port", str(status), *extra],
                workdir, "sidecar", {**base, **env})


def test_sidecar_waits_for_its_ca_then_serves_its_identity(workdir):
    (workdir / "tokens").write_text("sleep-token-0123456789 default sleep\n")
    (workdir / "istio-token").write_text("sleep-token-0123456789\n")
    ca_port, *ports = free_ports(7)
    admin, stats, health = ports[2], ports[3], ports[4]

    # The CA's root first (the ConfigMap exists before the pod), then the CA goes away.
    control_argv = [REMORA, "control", "--address", "127.0.0.1", "--port", str(ca_port),
                    "--token-file", "tokens", "--ca-dir", "ca", "--root-cert-out",
                    "root-cert.pem", "--issuance-log", "issuance.log", "--dns-name", "localhost"]
    ca = Proc(control_argv, workdir, "control")
    wait_for(lambda: (workdir / "root-cert.pem").exists(), 10, "the CA's root")
    assert ca.stop() == 0

    proxy = sidecar(workdir, ports,
                    {"CA_ADDR": f"localhost:{ca_port}", "POD_NAMESPACE": "default",
                     "SERVICE_ACCOUNT": "sleep"},
                    "--ca-root-cert", "root-cert.pem", "--token-path", "istio-token")
    try:
        wait_for(lambda: get(health, "/healthz/ready")[0] == 503, 10, "the health port")
        # Retrying, not ready, and saying why.
        wait_for(lambda: (metric(get(stats, "/stats/prometheus")[1],
                                 "istio_agent_num_failed_outgoing_requests") or 0) >= 2,
                 10, "two failed CA requests")
        assert get(health, "/healthz/ready") == (503, "no workload certificate\n")
        assert metric(get(stats, "/stats/prometheus")[1], "remora_ca_connected") == 0
        assert get(admin, "/ready")[0] == 200, "the proxy itself is LIVE"

        ca = Proc(control_argv, workdir, "control")
        # Back-off is at most 60 s; the first retries come within seconds.
        wait_for(lambda: get(health, "/healthz/ready")[0] == 200, 30, "readiness")
        certs = json.loads(get(admin, "/certs")[1])
        assert certs["identity"] == IDENTITY
        leaf = certs["certificates"][0]["cert_chain"][0]
        assert leaf["subject_alt_names"] == [{"uri": IDENTITY}]
        prom = get(stats, "/stats/prometheus")[1]
        assert 23 * 3600 < metric(prom, "istio_agent_cert_expiry_seconds") <= 24 * 3600
        assert metric(prom, "remora_workload_cert_rotations_total") == 1
        assert metric(prom, "remora_ca_connected") == 1
        issued = [json.loads(line) for line in (workdir / "issuance.log").read_text().splitlines()]
        assert [i["serial"] for i in issued if i["event"] == "issued"] == [leaf["serial_number"]]
    finally:
        code = proxy.stop()
        ca.stop()
    assert code == 0, proxy.log.read_text()


def test_without_a_ca_address_there_is_no_certificate(workdir):
    ports = free_ports(6)
    admin, health = ports[2], ports[4]
    proxy = sidecar(workdir, ports, {"POD_NAMESPACE": "default", "SERVICE_ACCOUNT": "sleep"})
    try:
        wait_for(lambda: get(health, "/healthz/ready")[0] == 200, 10, "readiness")
        assert json.loads(get(admin, "/certs")[1]) == {"certificates": []}
    finally:
        assert proxy.stop() == 0, proxy.log.read_text()


def test_a_sigterm_as_soon_as_it_listens_drains_it_cleanly(workdir):
    # A port that accepts is a sign of life that tests and kubelet act on;
    # the signal handlers must be in place before the first one, so that a
    # SIGTERM right then drains the proxy rather than killing it (exit -15).
    for attempt in range(5):
        ports = free_ports(6)
        proxy = sidecar(workdir, ports, {})
        try:
            deadline = time.monotonic() + 20
            while True:
                assert proxy.proc.poll() is None, proxy.log.read_text()
                assert time.monotonic() < deadline, "the outbound port never accepted"
                try:
                    socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.0005)
            proxy.proc.send_signal(signal.SIGTERM)
            code = proxy.proc.wait(timeout=20)
        finally:
            proxy.stop()
        assert code == 0, f"attempt {attempt}: exit {code}\n{proxy.log.read_text()}"


def test_a_bad_ca_address_is_refused_at_start(workdir):
    proxy = sidecar(workdir, free_ports(6), {"CA_ADDR": "http://istiod:15010"})
    assert proxy.proc.wait(timeout=10) != 0
    assert "only https://" in proxy.log.read_text()
