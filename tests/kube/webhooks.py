"""Admission webhooks on loopback for the kube tier.

- render_for_loopback(): a MutatingWebhookConfiguration (deploy/'s, or one a
  test writes) pointed at https://127.0.0.1:<port><path> with its caBundle,
  instead of the in-cluster Service it names.
- ProbeWebhook: a minimal mutating webhook in Python that proves the harness
  wiring (API server -> loopback URL -> JSONPatch applied). It is a test of
  the harness, never a stand-in for `remora webhook`.
- RemoraWebhook: `remora webhook` as a child process with a serving
  certificate from the cluster's CA.
"""

import base64
import copy
import json
import os
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from cluster import REPO, Process, free_port, wait_until

DEPLOY = REPO / "deploy"


def load_deploy_webhook_configurations():
    """Every MutatingWebhookConfiguration document under deploy/ (a list, maybe empty)."""
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "MutatingWebhookConfiguration":
                found.append(doc)
    return found


def render_for_loopback(config, port, ca_pem, *, name=None, failure_policy=None,
                        timeout_seconds=None):
    """A copy of `config` whose webhooks call https://127.0.0.1:<port> directly.

    Each webhook keeps its path (clientConfig.service.path, else its URL's
    path, else /inject); caBundle becomes `ca_pem`. `name` renames the object
    so that several renderings can coexist; failure_policy and
    timeout_seconds override every webhook's.
    """
    out = copy.deepcopy(config)
    out["metadata"] = {"name": name or config["metadata"]["name"],
                       "labels": dict(config["metadata"].get("labels") or {})}
    bundle = base64.b64encode(Path(ca_pem).read_bytes()).decode()
    for hook in out["webhooks"]:
        cc = hook.get("clientConfig", {})
        path = (cc.get("service") or {}).get("path")
        if path is None and "url" in cc:
            rest = cc["url"].split("://", 1)[-1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path or '/inject'}",
                                "caBundle": bundle}
        if failure_policy:
            hook["failurePolicy"] = failure_policy
        if timeout_seconds:
            hook["timeoutSeconds"] = timeout_seconds
    return out


def serving_certificate(ca, name):
    """A webhook serving certificate for 127.0.0.1 signed by `ca`; (cert, key)."""
    return ca.issue(name, f"/CN={name}", server_sans=["IP:127.0.0.1", "DNS:localhost"])


def peer_certificate_serial(port):
    """The serial number of the certificate served on 127.0.0.1:<port> (hex)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
                         input=der, capture_output=True, check=True)
    return out.stdout.decode().strip().split("=", 1)[1]


class ProbeWebhook:
    """A mutating webhook that adds the annotation remora-test/probed=<path>.

    It records every AdmissionReview it receives (`reviews`). Serves until
    stop(); runs in a daemon thread.
    """

    ANNOTATION = "remora-test/probed"

    def __init__(self, cert, key):
        self.reviews = []
        probe = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                review = json.loads(body)
                path = self.path.split("?", 1)[0]  # the API server adds ?timeout=Ns
                probe.reviews.append({"path": path, "review": review})
                obj = review["request"]["object"]
                patch = []
                if not obj["metadata"].get("annotations"):
                    patch.append({"op": "add", "path": "/metadata/annotations", "value": {}})
                patch.append({"op": "add",
                              "path": "/metadata/annotations/" +
                                      ProbeWebhook.ANNOTATION.replace("/", "~1"),
                              "value": path})
                answer = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                          "response": {"uid": review["request"]["uid"], "allowed": True,
                                       "patchType": "JSONPatch",
                                       "patch": base64.b64encode(
                                           json.dumps(patch).encode()).decode()}}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class RemoraWebhook:
    """`remora webhook` on 127.0.0.1:<port> with a certificate from the cluster CA.

    The certificate files live in the cluster's directory, so rotate() can
    overwrite them in place as a Secret update or cert-manager would.
    """

    def __init__(self, remora_bin, cluster, name="remora-webhook"):
        self.remora = remora_bin
        self.cluster = cluster
        self.name = name
        self.port = free_port()
        self.cert, self.key = serving_certificate(cluster.ca, name)
        self.proc = None

    def start(self):
        self.proc = Process(self.name, [str(self.remora), "webhook", "--tls-cert", str(self.cert),
                                         "--tls-key", str(self.key), "--port", str(self.port)],
                            self.cluster.dir)

        def up():
            self.proc.check_alive()
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_until(f"remora webhook on port {self.port}", up, timeout=30)
        return self

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def rotate(self):
        """Issues a new serving certificate and writes it over the old files."""
        new_cert, new_key = serving_certificate(self.cluster.ca, self.name + "-next")
        # Each file is replaced by rename, so a reader never sees half a file.
        for src, dst in ((new_key, self.key), (new_cert, self.cert)):
            tmp = dst.with_suffix(".tmp")
            tmp.write_bytes(src.read_bytes())
            os.replace(tmp, dst)


def wait_until_active(cluster, namespace, effective, timeout=30):
    """Waits until a just-registered webhook configuration is in force.

    The API server learns of webhook configurations through an informer, a
    moment after they are stored. This creates a throwaway pod in `namespace`
    with a server-side dry run (sideEffects None webhooks are called, nothing
    is stored) until effective(completed_process) is true.
    """
    from manifests import pod

    probe = json.dumps(pod("activation-probe"))

    def check():
        out = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-n", namespace,
                              "-f", "-", input=probe, check=False)
        return effective(out)

    wait_until(f"the webhook configuration to take effect in {namespace}", check, timeout)
