"""`remora check` on a live API, without a cluster: the real binary against a
small fake Kubernetes API on 127.0.0.1 (plain HTTP, a kubeconfig pointing at
it) that serves tests/check/fixtures/partial.json the way kube-apiserver
does: typed lists without kind/apiVersion on their items, paged with `limit`
and `continue`, 404 Status for a missing namespace.

It checks the live glue the unit tests cannot (kubeconfig discovery,
ApiClient, the paths, the PATCH's content type): a live run prints what an
offline run on the same objects prints, and --restart sends kubectl's
strategic-merge PATCH, one per workload, and nothing else.
"""

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

REMORA = os.environ.get("REMORA_BIN", "build/remora")
FIXTURE = Path(__file__).parent / "fixtures" / "partial.json"
RESOURCES = {"Namespace": ("", "namespaces"), "Pod": ("", "pods"),
             "Deployment": ("apps", "deployments"), "ReplicaSet": ("apps", "replicasets"),
             "StatefulSet": ("apps", "statefulsets"), "DaemonSet": ("apps", "daemonsets"),
             "Job": ("batch", "jobs"), "CronJob": ("batch", "cronjobs")}


class FakeApi:
    def __init__(self, items):
        self.items = items
        self.requests = []  # (method, path, content-type, body)
        self.forbidden = set()  # resources answered with 403
        api = self

        class Handler(BaseHTTPRequestHandler):
            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                api.requests.append(("GET", self.path, None, None))
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                # /api/v1/... or /apis/<group>/v1/...
                group = "" if parts[0] == "api" else parts[1]
                rest = parts[2:] if parts[0] == "api" else parts[3:]
                ns = None
                if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
                    ns, rest = rest[1], rest[2:]
                if group == "" and len(rest) == 2 and rest[0] == "namespaces":
                    for o in api.items:
                        if o["kind"] == "Namespace" and o["metadata"]["name"] == rest[1]:
                            return self.reply(200, o)
                    return self.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound",
                                            "message": f'namespaces "{rest[1]}" not found'})
                resource = rest[0]
                if resource in api.forbidden:
                    return self.reply(403, {"kind": "Status", "code": 403,
                                            "message": f"{resource} is forbidden"})
                kind = next(k for k, (g, r) in RESOURCES.items() if r == resource and g == group)
                selected = [o for o in api.items if o["kind"] == kind and
                            (ns is None or o["metadata"].get("namespace") == ns)]
                query = parse_qs(url.query)
                limit = int(query.get("limit", ["0"])[0]) or len(selected) or 1
                start = int(query.get("continue", ["0"])[0])
                page = selected[start:start + min(limit, 2)]  # small pages: paging is exercised
                more = start + len(page) < len(selected)
                items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                         for o in page]
                self.reply(200, {"kind": kind + "List", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": "1",
                                              **({"continue": str(start + len(page))}
                                                 if more else {})},
                                 "items": items})

            def do_PATCH(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.requests.append(("PATCH", self.path, self.headers.get("Content-Type"),
                                     json.loads(body)))
                self.reply(200, {})

            def do_DELETE(self):
                api.requests.append(("DELETE", self.path, None, None))
                self.reply(405, {})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(tmp_path):
    server = FakeApi(json.loads(FIXTURE.read_text())["items"])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.port}"}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    server.kubeconfig = kubeconfig
    try:
        yield server
    finally:
        server.stop()


def check(api, *args, files=()):
    env = dict(os.environ, KUBECONFIG=str(api.kubeconfig))
    env.pop("HTTP_PROXY", None)
    env.pop("http_proxy", None)
    return subprocess.run([REMORA, "check", *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.mark.parametrize("scope", [["-n", "shop"], []])
def test_live_equals_offline(api, scope):
    live = check(api, *scope, "-o", "json")
    offline = check(api, "-f", str(FIXTURE), *scope, "-o", "json")
    assert live.returncode == offline.returncode == 1, live.stderr + offline.stderr
    assert json.loads(live.stdout) == json.loads(offline.stdout)
    assert json.loads(live.stdout)["summary"] == {"error": 5, "warning": 0, "info": 2}
    # Paged: some list needed a continue token.
    assert any("continue=" in path for method, path, _, _ in api.requests)


def test_table_names_the_restart(api):
    out = check(api, "-n", "shop")
    assert out.returncode == 1
    assert "kubectl rollout restart deployment/web -n shop" in out.stdout
    for line in out.stdout.splitlines():
        if "batch" in line:
            assert "error" not in line.lower()


def test_restart_patches_each_workload_once_as_kubectl(api):
    out = check(api, "--restart", "-n", "shop")
    assert out.returncode == 0, out.stderr
    patches = [r for r in api.requests if r[0] != "GET"]
    assert [p[1] for p in patches] == ["/apis/apps/v1/namespaces/shop/deployments/web",
                                       "/apis/apps/v1/namespaces/shop/statefulsets/db"]
    for _, _, content_type, body in patches:
        assert content_type == "application/strategic-merge-patch+json"
        stamp = body["spec"]["template"]["metadata"]["annotations"][
            "kubectl.kubernetes.io/restartedAt"]
        assert stamp.endswith("Z") and "T" in stamp
    assert "deployment/web -n shop: restarted" in out.stdout
    assert "pod/debug -n shop: not restarted" in out.stdout


def test_dry_run_changes_nothing(api):
    out = check(api, "--restart", "--dry-run", "-n", "shop")
    assert out.returncode == 0, out.stderr
    assert "would restart" in out.stdout
    assert all(r[0] == "GET" for r in api.requests)


def test_pod_verdict_live(api):
    out = check(api, "pod", "db-0", "-n", "shop")
    assert out.returncode == 1
    assert out.stdout.startswith("pod/db-0 -n shop: containers: db; init containers: (none); "
                                 "not meshed: istio-proxy is missing")


def test_pod_without_namespace_is_in_the_contexts_namespace(api):
    config = json.loads(api.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = "shop"  # kubectl config set-context --namespace
    api.kubeconfig.write_text(json.dumps(config))
    out = check(api, "pod", "db-0")
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("pod/db-0 -n shop: ")


def test_api_errors_are_exit_2(api):
    missing = check(api, "-n", "nope")
    assert missing.returncode == 2
    assert "namespace nope not found" in missing.stderr
    api.forbidden.add("replicasets")
    denied = check(api, "-n", "shop")
    assert denied.returncode == 2
    assert "403" in denied.stderr and "replicasets" in denied.stderr
