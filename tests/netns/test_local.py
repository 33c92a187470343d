"""`remora local` end to end: the demo's flow, asserted step by step.

Each test has its own run directory (and so its own namespaces,
remora-<id>-*); a finalizer runs `remora local down` whatever happens, and
the assertions on `down` check that nothing of the run is left: namespaces,
processes, the run directory, the mount points made on the host.

Steps that need pieces still being built (remora check, mTLS) are asserted
as they are today; with a build that has no sidecar, the capture must refuse
the client's connections, as it must with no proxy.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def remora_bin() -> str:
    return os.environ.get("REMORA_BIN") or str(ROOT / "build" / "remora")


def remora(*args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([remora_bin(), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"remora {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def has_command(*words) -> bool:
    out = remora(*words, "--help", check=False).stdout
    return f"Usage: remora {' '.join(words)}" in out


HAS_PROXY = has_command("proxy", "sidecar")


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "-json", "netns", "list"], capture_output=True, text=True).stdout
    return [n["name"] for n in json.loads(out or "[]")]


def processes_in(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class LocalRun:
    """One run directory and the commands on it."""

    def __init__(self, tmp: Path):
        self.dir = tmp / "run"
        self.tmp = tmp

    def __call__(self, sub, *args, **kw):
        return remora("local", sub, "--run-dir", self.dir, *args, **kw)

    def state(self) -> dict:
        return json.loads((self.dir / "state.json").read_text())

    def exec(self, pod, *argv, container=None, check=False, timeout=60):
        extra = ["-c", container] if container else []
        return self("exec", *extra, pod, "--", *argv, check=check, timeout=timeout)

    def pod(self, workload: str) -> dict:
        for p in self.state()["pods"]:
            if p["workload"].split("/", 1)[1] == workload:
                return p
        raise AssertionError(f"no pod of {workload}")

    def leftovers(self, run_id: str, host_dirs: list[str]) -> list[str]:
        found = [n for n in namespaces() if n.startswith(f"remora-{run_id}-")]
        if self.dir.exists():
            found.append(str(self.dir))
        found += [d for d in host_dirs if Path(d).exists() and d not in shared_host_dirs()]
        return found


def shared_host_dirs() -> set[str]:
    """Mount points another live run (another test, a demo) still uses."""
    path = Path("/run/remora-local.hostdirs.json")
    try:
        return set(json.loads(path.read_text()))
    except (OSError, ValueError):
        return set()


@pytest.fixture
def local(tmp_path):
    run = LocalRun(tmp_path)
    try:
        yield run
    finally:
        remora("local", "down", "--run-dir", run.dir, check=False)


@pytest.fixture
def injected(tmp_path) -> Path:
    out = tmp_path / "hello-injected.yaml"
    remora("inject", "-f", EXAMPLES / "hello.yaml", "-o", out)
    return out


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_up_runs_the_injected_pods_as_written(local, injected):
    up = local("up", "-f", injected, "-f", EXAMPLES / "hello-early.yaml")
    assert "remora local: run " in up.stdout
    state = local.state()
    assert state["complete"] is True
    assert len(state["pods"]) == 4
    web, client, batch, reporter = (local.pod(w) for w in ("web", "client", "batch", "reporter"))

    # The seed's verification, on the pods as `kubectl get pods -o json` shows them.
    items = json.loads(local("get", "-o", "json").stdout)["items"]
    pods = {i["metadata"]["labels"]["app"]: i for i in items if i["kind"] == "Pod"}
    names = lambda p, key: [c["name"] for c in p["spec"].get(key) or []]  # noqa: E731
    assert names(pods["web"], "containers") == ["web", "istio-proxy"]
    assert names(pods["web"], "initContainers") == ["istio-init"]
    assert names(pods["client"], "containers") == ["client", "istio-proxy"]
    assert names(pods["batch"], "containers") == ["batch"]
    assert names(pods["batch"], "initContainers") == []
    assert names(pods["reporter"], "containers") == ["reporter"]
    assert pods["reporter"]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    hello = [i for i in items if i["kind"] == "Namespace" and i["metadata"]["name"] == "hello"]
    assert hello[0]["metadata"]["labels"]["istio-injection"] == "enabled"

    # istio-init ran exactly the injector's command line, and left its rules.
    spec = next(p for p in pods["client"]["spec"]["initContainers"] if p["name"] == "istio-init")
    init = next(c for c in client["containers"] if c["name"] == "istio-init")
    assert init["spec"]["argv"][1:] == spec["args"]
    assert init["exitCode"] == 0
    rules = local.exec("client", "iptables-save", "-t", "nat", check=True).stdout
    assert "-A ISTIO_OUTPUT" in rules and "--to-ports 15001" in rules
    assert "ISTIO" not in local.exec("batch", "iptables-save", "-t", "nat").stdout

    # The sidecar's command and environment, resolved as the kubelet does.
    proxy = next(c for c in client["containers"] if c["name"] == "istio-proxy")
    env = dict(e.split("=", 1) for e in proxy["spec"]["env"])
    assert env["POD_NAME"] == client["name"]
    assert env["POD_NAMESPACE"] == "hello"
    assert env["INSTANCE_IP"] == client["ip"]
    assert env["SERVICE_ACCOUNT"] == "client"
    assert env["CA_ADDR"] == "istiod.istio-system.svc:15012"
    assert proxy["spec"]["uid"] == 1337 and proxy["spec"]["gid"] == 1337
    assert proxy["spec"]["argv"][1:3] == ["proxy", "sidecar"]
    assert "hello.svc.cluster.local" in proxy["spec"]["argv"]  # $(POD_NAMESPACE) expanded
    if HAS_PROXY:
        assert proxy["state"] == "running"
    else:
        assert proxy["state"].startswith("not started")

    # The proxy's config: the registry with the web Service's VIP and endpoint.
    config = local.exec("client", "cat", "/etc/istio/proxy/remora.yaml", container="istio-proxy",
                        check=True).stdout
    assert "10.96.0.10" in config and web["ip"] in config
    assert "security.istio.io/tlsMode: istio" in config

    # The sidecar's identity from the local CA, through its projected token.
    cert = local.exec("client", remora_bin(), "control", "fetch-cert", "--ca-url",
                      "https://istiod.istio-system.svc:15012", "--root-cert",
                      "/var/run/secrets/istio/root-cert.pem", "--token-file",
                      "/var/run/secrets/tokens/istio-token", "--identity",
                      "spiffe://cluster.local/ns/hello/sa/client", "--out-dir",
                      "/var/lib/istio/data/cert", container="istio-proxy")
    assert cert.returncode == 0, cert.stderr
    assert cert.stdout.startswith("spiffe://cluster.local/ns/hello/sa/client ")
    # Another pod's token is another identity: asking for the client's is refused.
    stolen = local.exec("web", remora_bin(), "control", "fetch-cert", "--ca-url",
                        "https://istiod.istio-system.svc:15012", "--root-cert",
                        "/var/run/secrets/istio/root-cert.pem", "--token-file",
                        "/var/run/secrets/tokens/istio-token", "--identity",
                        "spiffe://cluster.local/ns/hello/sa/client", "--out-dir",
                        "/var/lib/istio/data/cert", container="istio-proxy")
    assert stolen.returncode != 0
    if HAS_PROXY:
        assert_each_sidecar_has_its_identity(local)

    if HAS_PROXY:
        assert_pods_know_the_gateway_as_it_is(local, state)

    # Traffic from the client to the server.
    res = local.exec("client", "curl", "-sS", "-m", "5", "http://web.hello/")
    if HAS_PROXY:
        assert res.returncode == 0, res.stderr
        assert res.stdout == f"hello from {web['name']}\n"
        # Delivered by web's sidecar: Istio's inbound passthrough source.
        access = local.dir / "pods" / "hello" / web["name"] / "nginx-web" / "access.log"
        assert access.read_text().splitlines()[-1].startswith("127.0.0.6 ")
        assert_both_sidecars_saw_it(local, client, web)
    else:
        # Captured to :15001 where no proxy listens: refused, never bypassed.
        assert res.returncode == 7, res.stdout + res.stderr


def assert_pods_know_the_gateway_as_it_is(local, state):
    """Pods set up later must not change the bridge's MAC under the pods
    already up: their sidecars reached the CA on the gateway, so they hold
    its MAC, and a stale one silently drops their traffic to the CA."""
    link = subprocess.run(["ip", "-n", state["node"], "-json", "link", "show", "br0"],
                          capture_output=True, text=True, check=True).stdout
    bridge_mac = json.loads(link)[0]["address"]
    for workload in ("client", "web"):
        neigh = local.exec(workload, "ip", "-json", "neigh", "show", "10.244.0.1").stdout
        macs = {n.get("lladdr") for n in json.loads(neigh or "[]") if n.get("lladdr")}
        assert macs == {bridge_mac}, f"{workload} sees the gateway at {macs}, br0 is {bridge_mac}"


def assert_each_sidecar_has_its_identity(local):
    """The sidecar's own certificate, fetched at start from CA_ADDR with its
    pod's token: its SPIFFE identity on 15000/certs, ready on 15021."""
    for workload in ("client", "web"):
        identity = f"spiffe://cluster.local/ns/hello/sa/{workload}"
        deadline = time.monotonic() + 15
        while True:
            out = local.exec(workload, "curl", "-sS", "-m", "5", "http://127.0.0.1:15000/certs")
            certs = json.loads(out.stdout) if out.returncode == 0 else {}
            if certs.get("certificates") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert certs.get("identity") == identity, out.stdout + out.stderr
        leaf = certs["certificates"][0]["cert_chain"][0]
        assert leaf["subject_alt_names"] == [{"uri": identity}]
        ready = local.exec(workload, "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w",
                           "%{http_code}", "http://127.0.0.1:15021/healthz/ready")
        assert ready.stdout == "200", ready.stderr
        prom = local.exec(workload, "curl", "-sS", "-m", "5",
                          "http://127.0.0.1:15090/stats/prometheus").stdout
        assert "remora_ca_connected 1\n" in prom


def sidecar_log(local, pod) -> list[dict]:
    """The JSON access log lines of a pod's sidecar (its stdout, beside spdlog's lines)."""
    path = local.dir / "pods" / "hello" / pod["name"] / "logs" / "istio-proxy.log"
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def assert_both_sidecars_saw_it(local, client, web):
    """The demo's step 4: one request in both proxies' metrics and access logs."""
    def requests_total(pod, reporter):
        out = local.exec(pod["workload"].split("/")[1], "curl", "-sf", "-m", "5", "http://127.0.0.1:15090/stats/prometheus",
                         container="istio-proxy", check=True).stdout
        return [line for line in out.splitlines()
                if line.startswith("istio_requests_total{") and f'reporter="{reporter}"' in line]

    outbound = requests_total(client, "source")
    inbound = requests_total(web, "destination")
    assert outbound, "the client's sidecar counts no outbound request"
    assert inbound, "web's sidecar counts no inbound request"
    for line in outbound + inbound:
        assert 'response_code="200"' in line, line
        assert 'destination_workload="web"' in line, line
    # The client's sidecar knows its own workload; web's learns the peer's only
    # through mTLS metadata exchange, so without mTLS it says "unknown", as Istio does.
    assert all('source_workload="client"' in line for line in outbound), outbound

    # The access logs: the same x-request-id on both sides (Istio's default format).
    deadline = time.monotonic() + 10  # the log ring is flushed by the worker, not per request
    while True:
        ids_out = {e.get("request_id") for e in sidecar_log(local, client)} - {None, "", "-"}
        ids_in = {e.get("request_id") for e in sidecar_log(local, web)} - {None, "", "-"}
        if ids_out & ids_in or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ids_out & ids_in, f"no x-request-id in both logs: {ids_out} / {ids_in}"
    # Each side logs the address its client dialled, not its capture port
    # (15001/15006): the Service VIP outbound, the pod's app port inbound.
    request_id = sorted(ids_out & ids_in)[0]
    out_line = next(e for e in sidecar_log(local, client) if e.get("request_id") == request_id)
    in_line = next(e for e in sidecar_log(local, web) if e.get("request_id") == request_id)
    assert out_line["downstream_local_address"] == "10.96.0.10:80", out_line
    assert in_line["downstream_local_address"] == f"{web['ip']}:80", in_line


PLAIN = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: srv, namespace: plain}
spec:
  replicas: 2
  selector: {matchLabels: {app: srv}}
  template:
    metadata: {labels: {app: srv}}
    spec:
      containers:
      - name: srv
        image: nginx
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: srv, namespace: plain}
spec:
  selector: {app: srv}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: plain}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: plain}
spec:
  containers:
  - name: cli
    image: curlimages/curl
    command: [sh, -c, "trap 'exit 0' TERM; echo $(GREETING) $MY_IP; while true; do sleep 1; done"]
    env:
    - {name: GREETING, value: hi}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
"""


NO_ADMIN = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: hello}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin", "/admin/*"]}}]}]
"""

ONLY_CLIENT = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-client, namespace: hello}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/hello/sa/client"]}}]}]
"""


def wait_ready(local, pod):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = local.exec(pod, "curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}",
                       "http://127.0.0.1:15021/healthz/ready", container="istio-proxy")
        if r.stdout == "200":
            return
        time.sleep(0.1)
    raise AssertionError(f"the {pod} sidecar is not ready")


def status_of(local, pod, path):
    """curl's status code for http://web.hello<path>, the path sent as is."""
    r = local.exec(pod, "curl", "-s", "-m", "5", "--path-as-is", "-o", "/dev/null", "-w",
                   "%{http_code}", f"http://web.hello{path}")
    return r.stdout


@pytest.mark.skipif(not HAS_PROXY, reason="needs remora proxy sidecar")
def test_authorization_policy_in_real_pods(local, injected, tmp_path):
    """AuthorizationPolicy in web's sidecar, with nginx behind it and curl in
    front: every spelling of /admin is denied with 403 'RBAC: access denied';
    an ALLOW on the client's principal admits the meshed client and refuses
    the pod without a sidecar (no principal). Applied live, no restart."""
    early = EXAMPLES / "hello-early.yaml"
    local("up", "-f", injected, "-f", early, "-f", write(tmp_path, "no-admin.yaml", NO_ADMIN))
    for pod in ("client", "web"):
        wait_ready(local, pod)
    for path in ("/admin", "/%61dmin", "/./admin", "/x/../admin", "/admin/", "/admin/x",
                 "/%2e/admin"):
        assert status_of(local, "client", path) == "403", path
    body = local.exec("client", "curl", "-s", "-m", "5", "http://web.hello/admin").stdout
    assert body == "RBAC: access denied"
    assert status_of(local, "client", "/") == "200"
    assert status_of(local, "reporter", "/") == "200"  # no ALLOW policy yet: plaintext passes

    local("apply", "-f", write(tmp_path, "only-client.yaml", ONLY_CLIENT))
    deadline = time.monotonic() + 10
    while status_of(local, "reporter", "/") != "403" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_of(local, "reporter", "/") == "403"
    assert status_of(local, "client", "/") == "200"
    assert status_of(local, "client", "/admin") == "403"  # the DENY still holds


STRICT = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: hello}
spec: {mtls: {mode: STRICT}}
"""

PERMISSIVE = STRICT.replace("STRICT", "PERMISSIVE")


def proxy_config(local, workload) -> Path:
    pod = local.pod(workload)
    return local.dir / "pods" / "hello" / pod["name"] / "volumes" / "istio-envoy" / "remora.yaml"


@pytest.mark.skipif(not HAS_PROXY, reason="needs remora proxy sidecar")
def test_mtls_in_real_pods_secure_naming_and_switching_under_load(local, injected, tmp_path):
    """Between real pods (iptables, nginx, curl, OpenSSL on both ends):
    PERMISSIVE <-> STRICT switched four times while the meshed client keeps
    calling loses no request; then the client's registry is made to expect
    another identity for web's endpoint, and its sidecar refuses web's
    valid certificate (secure naming): 503, counted by reason."""
    local("up", "-f", injected)
    for pod in ("client", "web"):
        wait_ready(local, pod)
    strict = write(tmp_path, "strict.yaml", STRICT)
    permissive = write(tmp_path, "permissive.yaml", PERMISSIVE)
    stop = time.monotonic() + 6
    codes = []
    switches = 0
    while time.monotonic() < stop or switches < 4:
        if len(codes) % 10 == 0 and switches < 4:
            local("apply", "-f", strict if switches % 2 == 0 else permissive)
            switches += 1
        codes.append(status_of(local, "client", "/"))
    assert len(codes) >= 20
    assert set(codes) == {"200"}, codes

    config = proxy_config(local, "client")
    text = config.read_text()
    assert "serviceAccount: web" in text
    config.write_text(text.replace("serviceAccount: web", "serviceAccount: impostor"))
    deadline = time.monotonic() + 10
    while status_of(local, "client", "/") != "503" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_of(local, "client", "/") == "503"
    prom = local.exec("client", "curl", "-s", "-m", "5", "http://127.0.0.1:15090/stats/prometheus",
                      container="istio-proxy").stdout
    assert re.search(r'remora_tls_handshake_failures_total\{direction="outbound",'
                     r'reason="identity_not_allowed"\} [1-9]', prom), prom


def test_services_balance_over_pods_without_a_mesh(local):
    """Service VIPs as kube-proxy makes them: DNAT round robin, hairpin, refusal
    without endpoints; names resolve from the pod's /etc/hosts."""
    local("up", "-f", write(local.tmp, "plain.yaml", PLAIN))
    state = local.state()
    srv = [p for p in state["pods"] if p["workload"] == "Deployment/srv"]
    assert len(srv) == 2
    answers = {local.exec("cli", "curl", "-sS", "-m", "5", "http://srv/", check=True).stdout
               for _ in range(4)}
    assert answers == {f"hello from {p['name']}\n" for p in srv}
    # A backend reaching itself through its own Service (hairpin).
    for _ in range(2):
        assert local.exec(srv[0]["name"], "curl", "-sS", "-m", "5",
                          "http://srv.plain.svc.cluster.local/").returncode == 0
    refused = local.exec("cli", "curl", "-sS", "-m", "5", "http://empty/")
    assert refused.returncode == 7
    # $(VAR) in the command and downward-API env.
    cli = next(p for p in state["pods"] if p["name"] == "cli")
    log = Path(cli["containers"][0]["spec"]["log"]).read_text()
    assert log.startswith(f"hi {cli['ip']}\n")
    # exec: exit codes pass through.
    assert local.exec("cli", "sh", "-c", "exit 3").returncode == 3


def test_down_removes_everything(local, injected):
    local("up", "-f", injected)
    state = local.state()
    run_id, host_dirs = state["id"], state["hostDirs"]
    pids = [c["pid"] for p in state["pods"] for c in p["containers"] if "pid" in c]
    assert pids and all(Path(f"/proc/{pid}").exists() for pid in pids)
    assert any(n.startswith(f"remora-{run_id}-") for n in namespaces())
    down = local("down")
    assert "removed" in down.stdout
    assert local.leftovers(run_id, host_dirs) == []
    assert not any(Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/ns/net").exists()
                   for pid in pids)
    # A second down has nothing to do.
    assert local("down").returncode == 0


def test_second_up_starts_from_scratch(local, injected):
    local("up", "-f", injected)
    first = local.state()["id"]
    second_up = local("up", "-f", injected)
    assert "removed the previous run" in second_up.stdout
    second = local.state()["id"]
    assert second != first
    assert not [n for n in namespaces() if n.startswith(f"remora-{first}-")]


def _many_pods(tmp: Path) -> Path:
    # Enough pods that `up` is caught half way.
    return write(tmp, "many.yaml", """
apiVersion: apps/v1
kind: Deployment
metadata: {name: many, namespace: crowd}
spec:
  replicas: 40
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec:
      containers:
      - {name: c, image: busybox, command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]}
""")


def _start_up_and_wait_for_namespaces(local, manifest: Path, count: int) -> subprocess.Popen:
    proc = subprocess.Popen([remora_bin(), "local", "up", "--run-dir", str(local.dir), "-f",
                             str(manifest)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(local.state()["namespaces"]) >= count:
                return proc
        except (OSError, ValueError, KeyError):
            pass
        assert proc.poll() is None, f"up ended early: {proc.stderr.read()}"
        time.sleep(0.005)
    raise AssertionError("up never got half way")


def test_down_after_up_was_killed_with_sigkill(local, tmp_path):
    proc = _start_up_and_wait_for_namespaces(local, _many_pods(tmp_path), 6)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    state = local.state()
    run_id = state["id"]
    made = [n for n in namespaces() if n.startswith(f"remora-{run_id}-")]
    assert len(made) >= 5
    assert any(processes_in(n) for n in made), "the pods started before the kill must be running"
    local("down")
    assert local.leftovers(run_id, state["hostDirs"]) == []


def test_ctrl_c_during_up_removes_what_it_made(local, tmp_path):
    proc = _start_up_and_wait_for_namespaces(local, _many_pods(tmp_path), 6)
    run_id = local.state()["id"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "interrupted" in proc.stderr.read().decode()
    assert local.leftovers(run_id, []) == []


@pytest.mark.parametrize("manifest,message", [
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "  - {name: c, image: registry.example/secret-app:1}\n", "no local mapping"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "  - {name: c, image: busybox, command: [no-such-program-remora]}\n", "not found"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "  - {name: c, image: busybox, command: [sh, -c, 'exit 4'], ports: [{containerPort: 9}]}\n",
     "exited 4"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n"
     "  - {name: i, image: busybox, command: [sh, -c, 'echo broken >&2; exit 2']}\n"
     "  containers:\n  - {name: c, image: busybox, command: [sleep, '60']}\n", "broken"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "  - {name: c, image: busybox, command: [sleep, '60'], volumeMounts: [{name: v, mountPath: /x}]}\n",
     "does not declare"),
    ("kind: Pod\nmetadata: {name: [\n", "document 1"),
])
def test_bad_pods_fail_up_and_leave_nothing(local, tmp_path, manifest, message):
    res = local("up", "-f", write(tmp_path, "bad.yaml", manifest), check=False)
    assert res.returncode == 1
    assert message in res.stderr
    started = re.search(r"starting run ([0-9a-f]{4})", res.stdout)
    if started:  # it got as far as making things: they are gone
        assert not [n for n in namespaces() if n.startswith(f"remora-{started[1]}-")]
    assert not local.dir.exists()
