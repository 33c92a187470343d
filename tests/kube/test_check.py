"""`remora check` against a live API server.

The seed's most dangerous state: a namespace labelled for injection whose
pods have no sidecar (made before the label, or while the webhook was down).
`remora check` must find them through the API, agree with its own offline
analysis of `kubectl get ... -o json` from the same cluster, and, with
`--restart`, restart their workloads as `kubectl rollout restart` does.

Skipped, with the reason, while the binary has no `check` subcommand; the
test that needs injection to happen also needs `remora webhook`.
"""

import json
import subprocess

import pytest

from cluster import wait_until
from conftest import remora_has, unique
from manifests import deployment, pod
from webhooks import (RemoraWebhook, load_deploy_webhook_configurations, render_for_loopback,
                      wait_until_active)

KINDS = "namespaces,pods,deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs"


@pytest.fixture(scope="module")
def check(remora, cluster):
    if not remora_has(remora, "check"):
        pytest.skip(f"{remora} has no `check` subcommand yet (issue 6)")

    def run(*args):
        return subprocess.run([str(remora), "check", *map(str, args)], capture_output=True,
                              text=True, env=cluster.env(), timeout=120)

    return run


@pytest.fixture
def partial(cluster):
    """An injection-enabled namespace whose Deployment's pods have no sidecar.

    No webhook is registered, so the pods are created exactly as a cluster
    without (or with a failed-open) injector would create them.
    """
    ns = unique("partial")
    cluster.create_namespace(ns, labels={"istio-injection": "enabled"})
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(deployment("web", replicas=2)))
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(
        pod("batch", annotations={"sidecar.istio.io/inject": "false"})))
    cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s",
                    timeout=150)
    try:
        yield ns
    finally:
        cluster.delete_namespace(ns, wait=False)


def test_check_finds_uninjected_pods_and_names_the_restart(check, partial):
    out = check("-n", partial)
    assert out.returncode != 0, f"no finding reported:\n{out.stdout}{out.stderr}"
    assert "web" in out.stdout
    assert "kubectl rollout restart deployment" in out.stdout
    # The opted-out pod is intentional: listed perhaps, never the cause of failure.
    for line in out.stdout.splitlines():
        if "batch" in line:
            assert "IST0103" not in line and "error" not in line.lower()


def test_check_live_agrees_with_offline(check, cluster, partial, tmp_path):
    live = check("-n", partial, "-o", "json")
    dump = tmp_path / "cluster.json"
    dump.write_text(cluster.kubectl("get", KINDS, "-A", "-o", "json").stdout)
    offline = check("-f", dump, "-n", partial, "-o", "json")
    assert live.returncode == offline.returncode
    assert json.loads(live.stdout) == json.loads(offline.stdout)


def test_check_pod_verdict(check, cluster, partial):
    name = cluster.kubectl_json("get", "pods", "-n", partial, "-l", "app=web")["items"][0]
    out = check("pod", name["metadata"]["name"], "-n", partial)
    assert out.returncode != 0
    assert "istio-proxy" in out.stdout


def test_check_restart_then_clean_with_webhook(check, cluster, remora, partial):
    if not remora_has(remora, "webhook"):
        pytest.skip(f"{remora} has no `webhook` subcommand yet (issue 3): nothing would inject")
    server = RemoraWebhook(remora, cluster, name=unique("check-webhook")).start()
    configs = [render_for_loopback(c, server.port, cluster.ca.cert, name=unique("check-mwc"))
               for c in load_deploy_webhook_configurations()]
    assert configs, "deploy/ has no MutatingWebhookConfiguration (issue 3)"
    try:
        for c in configs:
            cluster.kubectl("apply", "-f", "-", input=json.dumps(c))
        wait_until_active(cluster, partial, lambda out: out.returncode == 0 and "istio-proxy" in
                          out.stdout)
        restarted = check("--restart", "-n", partial)
        assert restarted.returncode == 0, restarted.stderr
        assert "web" in restarted.stdout
        cluster.kubectl("rollout", "status", "deployment/web", "-n", partial, "--timeout=120s",
                        timeout=150)
        template = cluster.kubectl_json("get", "deployment", "web", "-n", partial)
        assert "kubectl.kubernetes.io/restartedAt" in \
            template["spec"]["template"]["metadata"]["annotations"]
        wait_until("remora check to come back clean",
                   lambda: check("-n", partial).returncode == 0, timeout=90)
    finally:
        for c in configs:
            cluster.kubectl("delete", "mutatingwebhookconfiguration", c["metadata"]["name"],
                            "--ignore-not-found")
        server.stop()
