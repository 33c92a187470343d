"""The control plane itself, and the seed's kubectl commands that need no injection.

These prove the tier's ground: a real kube-apiserver that keeps namespace
labels, a controller-manager that turns Deployments into ReplicaSets and
Pods, a scheduler that binds them to the KWOK node where they become Running
and Ready, `kubectl rollout restart` making new pods, and the seed's jsonpath
commands typed verbatim. They hold with or without Remora.
"""

import json

import pytest

from cluster import wait_until
from manifests import deployment, pod


@pytest.fixture
def my_namespace(cluster):
    """The seed's `my-namespace`, fresh for each test that uses the seed's commands verbatim."""
    cluster.delete_namespace("my-namespace")
    cluster.create_namespace("my-namespace")
    try:
        yield "my-namespace"
    finally:
        cluster.delete_namespace("my-namespace", wait=False)


def test_server_version_is_the_pinned_release(cluster):
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    assert version["clientVersion"]["gitVersion"] == "v1.37.2"


def test_namespace_label_seed_command(cluster, my_namespace):
    out = cluster.sh("kubectl label namespace my-namespace istio-injection=enabled")
    assert out.stdout.strip() == "namespace/my-namespace labeled"
    labels = cluster.kubectl_json("get", "namespace", "my-namespace")["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled"
    # Selecting by the label is what a namespaceSelector does server-side.
    # Other files' namespaces may still be terminating (deleted without waiting),
    # so the selection is checked for this namespace in, the unlabelled ones out.
    selected = cluster.kubectl("get", "namespaces", "-l", "istio-injection=enabled", "-o", "name")
    names = selected.stdout.split()
    assert "namespace/my-namespace" in names
    assert "namespace/default" not in names and "namespace/kube-system" not in names


def test_deployment_becomes_running_ready_pods(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", "-",
                    input=json.dumps(deployment("web", replicas=2)))
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s",
                    timeout=150)
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    for p in pods:
        assert p["spec"]["nodeName"] == cluster.node, "the scheduler bound the pod"
        assert p["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert ready["Ready"] == "True"
        owner = p["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet" and owner["name"].startswith("web-")


def test_rollout_restart_seed_command_replaces_pods(cluster, my_namespace):
    cluster.kubectl("apply", "-n", my_namespace, "-f", "-",
                    input=json.dumps(deployment("my-app")))
    cluster.kubectl("rollout", "status", "deployment/my-app", "-n", my_namespace,
                    "--timeout=120s", timeout=150)
    before = {p["metadata"]["name"] for p in
              cluster.kubectl_json("get", "pods", "-n", my_namespace)["items"]}
    assert len(before) == 1

    out = cluster.sh("kubectl rollout restart deployment -n my-namespace")
    assert out.stdout.strip() == "deployment.apps/my-app restarted"
    cluster.kubectl("rollout", "status", "deployment/my-app", "-n", my_namespace,
                    "--timeout=120s", timeout=150)

    def replaced():
        items = cluster.kubectl_json("get", "pods", "-n", my_namespace)["items"]
        names = {p["metadata"]["name"] for p in items}
        return names if names and not names & before else None

    after = wait_until("the old pod to go away", replaced, timeout=60)
    assert len(after) == 1
    template = cluster.kubectl_json("get", "deployment", "my-app", "-n", my_namespace)
    annotations = template["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations


def test_seed_jsonpath_commands_verbatim(cluster, my_namespace):
    """The seed's verification commands, typed as written, read what the API server stored."""
    cluster.kubectl("apply", "-n", my_namespace, "-f", "-",
                    input=json.dumps(pod("my-app", containers=["my-app", "helper"],
                                         init_containers=["setup"])))
    cluster.kubectl("config", "set-context", "--current", "--namespace=my-namespace")
    try:
        containers = cluster.sh(
            "kubectl get pod my-app -o jsonpath='{.spec.containers[*].name}'").stdout
        init = cluster.sh(
            "kubectl get pod my-app -o jsonpath='{.spec.initContainers[*].name}'").stdout
    finally:
        cluster.kubectl("config", "set-context", "--current", "--namespace=")
    assert containers == "my-app helper"
    assert init == "setup"


def test_server_side_dry_run_validates_and_stores_nothing(cluster, namespace):
    bad = pod("bad", containers=["app"])
    bad["spec"]["containers"][0]["ports"] = [{"containerPort": 70000}]
    out = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                          input=json.dumps(bad), check=False)
    assert out.returncode != 0
    assert "containerPort" in out.stderr

    good = pod("good", containers=["app"])
    out = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                          input=json.dumps(good))
    assert "(server dry run)" in out.stdout
    assert cluster.kubectl("get", "pod", "good", "-n", namespace, check=False).returncode != 0


def test_job_pods_complete(cluster, namespace):
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {"backoffLimit": 0, "template": {
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "work", "image": "busybox:1.36"}]}}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(job))
    cluster.kubectl("wait", "--for=condition=Complete", "job/once", "-n", namespace,
                    "--timeout=120s", timeout=150)
