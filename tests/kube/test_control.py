"""`remora control --kubernetes`: the CA checks each caller's projected
service-account token with a TokenReview against the real kube-apiserver
(audience istio-ca), as istiod does, and signs only for the identity the API
server vouches for.

Tokens come from the API server's TokenRequest (`kubectl create token`), the
same tokens the kubelet projects into an injected pod's istio-token volume.
"""

import re
import signal
import subprocess
import time

import pytest

TRUST_DOMAIN = "cluster.local"


class KubeControl:
    """`remora control --kubernetes` on a free loopback port, with the
    cluster's admin kubeconfig as its own credentials."""

    def __init__(self, remora, cluster, workdir):
        self.workdir = workdir
        self.err_path = workdir / "control.err"
        self.err = open(self.err_path, "ab")
        self.proc = subprocess.Popen(
            [str(remora), "control", "--kubernetes", "--kubeconfig", str(cluster.kubeconfig),
             "--address", "127.0.0.1", "--port", "0", "--ca-dir", str(workdir / "ca"),
             "--root-cert-out", str(workdir / "root-cert.pem"),
             "--issuance-log", str(workdir / "issuance.log")],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, f"no start line: {line!r}; stderr: {self.errors()}"
        self.port = int(match.group(1))

    def errors(self):
        self.err.flush()
        return self.err_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.err.close()
        return self.proc.returncode


@pytest.fixture
def control(remora, cluster, tmp_path):
    c = KubeControl(remora, cluster, tmp_path)
    try:
        yield c
    finally:
        c.stop()


def token(kubectl, namespace, sa, *extra):
    return kubectl("create", "token", sa, "-n", namespace, *extra).stdout.strip()


def fetch(remora, control, tmp_path, token_text, identity, name):
    token_file = tmp_path / f"{name}.token"
    token_file.write_text(token_text + "\n")
    return subprocess.run(
        [str(remora), "control", "fetch-cert", "--ca-url", f"https://127.0.0.1:{control.port}",
         "--server-name", "localhost", "--root-cert", str(tmp_path / "root-cert.pem"),
         "--token-file", str(token_file), "--identity", identity,
         "--out-dir", str(tmp_path / name)],
        capture_output=True, text=True, timeout=60)


def test_projected_token_gets_its_service_accounts_identity(remora, kubectl, namespace, control,
                                                            tmp_path):
    kubectl("create", "serviceaccount", "web", "-n", namespace)
    identity = f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/web"
    r = fetch(remora, control, tmp_path, token(kubectl, namespace, "web", "--audience", "istio-ca"),
              identity, "web")
    assert r.returncode == 0, r.stderr + control.errors()
    assert r.stdout.startswith(f"{identity} serial ")
    san = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "web" / "cert-chain.pem"),
                          "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True, check=True).stdout
    assert f"URI:{identity}" in san


def test_tokens_the_api_server_does_not_vouch_for_get_nothing(remora, kubectl, namespace, control,
                                                               tmp_path):
    kubectl("create", "serviceaccount", "web", "-n", namespace)
    kubectl("create", "serviceaccount", "other", "-n", namespace)
    web = f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/web"
    cases = {
        # The API server's default audience, not istio-ca: TokenReview says no.
        "wrong-audience": (token(kubectl, namespace, "web"), web),
        # A valid istio-ca token of another service account asking for web's
        # identity: the SAN is always the caller's, so fetch-cert sees a
        # certificate for `other` and refuses it, or the CA refuses outright.
        "foreign-identity": (token(kubectl, namespace, "other", "--audience", "istio-ca"), web),
        "garbage": ("eyJhbGciOiJSUzI1NiJ9.bm90LWEtdG9rZW4.c2lnbmF0dXJl", web),
    }
    for name, (text, identity) in cases.items():
        r = fetch(remora, control, tmp_path, text, identity, name)
        assert r.returncode != 0, f"{name}: {r.stdout}"
        chain = tmp_path / name / "cert-chain.pem"
        if chain.exists():
            san = subprocess.run(["openssl", "x509", "-in", str(chain), "-noout", "-ext",
                                  "subjectAltName"], capture_output=True, text=True).stdout
            assert web not in san, name
    # A deleted service account's token stops working at once.
    ghost = token(kubectl, namespace, "other", "--audience", "istio-ca")
    kubectl("delete", "serviceaccount", "other", "-n", namespace)
    r = fetch(remora, control, tmp_path, ghost, f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/other",
              "deleted")
    assert r.returncode != 0, r.stdout


def wait_for_root(kubectl, namespace, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = kubectl("get", "configmap", "istio-ca-root-cert", "-n", namespace, "-o",
                    "jsonpath={.data.root-cert\\.pem}", check=False)
        if r.returncode == 0 and r.stdout:
            return r.stdout
        time.sleep(0.5)
    return None


def test_root_is_published_to_every_namespace_and_put_back(kubectl, namespace, control, tmp_path):
    """The istio-ca-root-cert ConfigMap the injected pod mounts: in each
    namespace, with the CA's root, recreated when deleted."""
    root = (tmp_path / "root-cert.pem").read_text()
    assert wait_for_root(kubectl, namespace) == root, control.errors()
    kubectl("delete", "configmap", "istio-ca-root-cert", "-n", namespace)
    assert wait_for_root(kubectl, namespace) == root, control.errors()
    # Not in kube-system, as Istio.
    r = kubectl("get", "configmap", "istio-ca-root-cert", "-n", "kube-system", check=False)
    assert r.returncode != 0
