"""The seed's story through `remora webhook` and a real kube-apiserver.

`remora webhook` runs on loopback with a serving certificate from the test
CA; deploy/'s MutatingWebhookConfiguration is registered as it is, except
that its clientConfig points at https://127.0.0.1:<port> with that CA as
caBundle (render_for_loopback). Then the seed, with kubectl:

  label the namespace -> pods are injected (`my-app istio-proxy`, `istio-init`);
  pods created before the label are not, and never are until restarted;
  `kubectl rollout restart deployment -n my-namespace` injects the new pods;
  the opt-out annotation, kube-system and hostNetwork are left alone;
  istio.io/rev selects a revision's webhook;
  failurePolicy Fail refuses pods while the webhook is down, Ignore lets them
  through unmeshed; a rotated serving certificate is used without a restart.

Skipped, with the reason, while the binary has no `webhook` subcommand.
"""

import json
import subprocess

import pytest

from cluster import wait_until
from conftest import remora_has, unique
from manifests import deployment, pod
from webhooks import (SCOPE, RemoraWebhook, load_deploy_webhook_configurations,
                      peer_certificate_serial, render_for_loopback, scoped, wait_until_active)

@pytest.fixture(scope="module")
def webhook_supported(remora):
    if not remora_has(remora, "webhook"):
        pytest.skip(f"{remora} has no `webhook` subcommand yet (issue 3)")


@pytest.fixture(scope="module")
def deploy_configs(webhook_supported):
    configs = load_deploy_webhook_configurations()
    assert configs, "deploy/ has no MutatingWebhookConfiguration (issue 3)"
    return configs


def selects_istio_injection_enabled(config):
    """True when one of the configuration's webhooks selects istio-injection=enabled."""
    for hook in config["webhooks"]:
        selector = hook.get("namespaceSelector") or {}
        if (selector.get("matchLabels") or {}).get("istio-injection") == "enabled":
            return True
        for expr in selector.get("matchExpressions", []):
            if (expr.get("key") == "istio-injection" and expr.get("operator") == "In"
                    and "enabled" in expr.get("values", [])):
                return True
    return False


@pytest.fixture(scope="module")
def deploy_config(deploy_configs):
    """The default (revision-less) configuration: the one selecting istio-injection=enabled.

    (A revision's configuration names istio-injection too, as DoesNotExist.)
    """
    for config in deploy_configs:
        if selects_istio_injection_enabled(config):
            return config
    pytest.fail("no configuration in deploy/ selects namespaces labelled istio-injection=enabled")


def injected(p):
    spec = p["spec"]
    names = [c["name"] for c in spec["containers"]]
    inits = [c["name"] for c in spec.get("initContainers", [])]
    return "istio-proxy" in names + inits


def proxy_added(out):
    return out.returncode == 0 and injected(json.loads(out.stdout))


@pytest.fixture(scope="module")
def webhook(cluster, remora, deploy_configs):
    """The shared `remora webhook`, registered through deploy/'s configurations."""
    server = RemoraWebhook(remora, cluster).start()
    rendered = [render_for_loopback(scoped(c), server.port, cluster.ca.cert)
                for c in deploy_configs]
    for config in rendered:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    probe_ns = unique("active")
    cluster.create_namespace(probe_ns, labels={"istio-injection": "enabled"})
    try:
        wait_until_active(cluster, probe_ns, proxy_added)
        yield server
    finally:
        cluster.delete_namespace(probe_ns, wait=False)
        for config in rendered:
            cluster.kubectl("delete", "mutatingwebhookconfiguration",
                            config["metadata"]["name"], "--ignore-not-found")
        server.stop()


@pytest.fixture
def my_namespace(cluster, webhook):
    cluster.delete_namespace("my-namespace")
    cluster.create_namespace("my-namespace")
    try:
        yield "my-namespace"
    finally:
        cluster.delete_namespace("my-namespace", wait=False)


def seed_checks(cluster, namespace, pod_name="my-app"):
    """The seed's two jsonpath commands, verbatim, with the context on `namespace`."""
    cluster.kubectl("config", "set-context", "--current", f"--namespace={namespace}")
    try:
        containers = cluster.sh(
            f"kubectl get pod {pod_name} -o jsonpath='{{.spec.containers[*].name}}'").stdout
        init = cluster.sh(
            f"kubectl get pod {pod_name} -o jsonpath='{{.spec.initContainers[*].name}}'").stdout
    finally:
        cluster.kubectl("config", "set-context", "--current", "--namespace=")
    return containers, init


def pods(cluster, namespace, selector=None):
    args = ["get", "pods", "-n", namespace]
    if selector:
        args += ["-l", selector]
    return cluster.kubectl_json(*args)["items"]


def test_label_then_pod_is_injected_seed_story(cluster, webhook, my_namespace):
    cluster.sh("kubectl label namespace my-namespace istio-injection=enabled")
    wait_until_active(cluster, my_namespace, proxy_added)
    cluster.kubectl("apply", "-n", my_namespace, "-f", "-",
                    input=json.dumps(pod("my-app", containers=["my-app"])))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/my-app", "-n", my_namespace,
                    "--timeout=120s", timeout=150)
    assert seed_checks(cluster, my_namespace) == ("my-app istio-proxy", "istio-init")


def test_partial_injection_until_rollout_restart(cluster, webhook, my_namespace):
    """PartialInjection: pods made before the label keep running without a sidecar."""
    cluster.kubectl("apply", "-n", my_namespace, "-f", "-",
                    input=json.dumps(deployment("my-app", replicas=2)))
    cluster.kubectl("rollout", "status", "deployment/my-app", "-n", my_namespace,
                    "--timeout=120s", timeout=150)
    old = pods(cluster, my_namespace)
    assert len(old) == 2 and not any(injected(p) for p in old)

    cluster.sh("kubectl label namespace my-namespace istio-injection=enabled")
    wait_until_active(cluster, my_namespace, proxy_added)
    # The label changes nothing for running pods: they never get a sidecar.
    still = pods(cluster, my_namespace)
    assert {p["metadata"]["uid"] for p in still} == {p["metadata"]["uid"] for p in old}
    assert not any(injected(p) for p in still)

    cluster.sh("kubectl rollout restart deployment -n my-namespace")
    cluster.kubectl("rollout", "status", "deployment/my-app", "-n", my_namespace,
                    "--timeout=120s", timeout=150)
    old_uids = {p["metadata"]["uid"] for p in old}

    def all_new():
        items = pods(cluster, my_namespace)
        return items if len(items) == 2 and not {p["metadata"]["uid"] for p in items} & old_uids \
            else None

    new = wait_until("old pods to be replaced", all_new, timeout=90)
    assert all(injected(p) for p in new)
    for p in new:
        name = p["metadata"]["name"]
        assert seed_checks(cluster, my_namespace, name) == ("my-app istio-proxy", "istio-init")


def test_opt_out_annotation_is_honoured(cluster, webhook, namespace):
    cluster.kubectl("label", "namespace", namespace, "istio-injection=enabled")
    wait_until_active(cluster, namespace, proxy_added)
    # The seed's snippet: metadata.annotations sidecar.istio.io/inject: "false".
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(
        pod("batch", annotations={"sidecar.istio.io/inject": "false"})))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod("meshed")))
    assert not injected(cluster.kubectl_json("get", "pod", "batch", "-n", namespace))
    assert injected(cluster.kubectl_json("get", "pod", "meshed", "-n", namespace))


def test_host_network_pod_is_untouched(cluster, webhook, namespace):
    cluster.kubectl("label", "namespace", namespace, "istio-injection=enabled")
    wait_until_active(cluster, namespace, proxy_added)
    cluster.kubectl("apply", "-n", namespace, "-f", "-",
                    input=json.dumps(pod("hostnet", hostNetwork=True)))
    stored = cluster.kubectl_json("get", "pod", "hostnet", "-n", namespace)
    assert not injected(stored)
    assert not stored["spec"].get("initContainers")


def test_kube_system_is_untouched_even_when_labelled(cluster, webhook):
    name = unique("sys")
    cluster.kubectl("label", "namespace", "kube-system", "istio-injection=enabled", "--overwrite")
    try:
        cluster.kubectl("apply", "-n", "kube-system", "-f", "-", input=json.dumps(pod(name)))
        stored = cluster.kubectl_json("get", "pod", name, "-n", "kube-system")
        assert not injected(stored)
    finally:
        cluster.kubectl("delete", "pod", name, "-n", "kube-system", "--ignore-not-found",
                        "--wait=false")
        cluster.kubectl("label", "namespace", "kube-system", "istio-injection-")


def revision_of(configs):
    """A revision value that one of deploy/'s configurations selects through istio.io/rev."""
    for hook in [h for c in configs for h in c["webhooks"]]:
        for expr in (hook.get("namespaceSelector") or {}).get("matchExpressions", []):
            if expr.get("key") == "istio.io/rev":
                if expr["operator"] == "In":
                    return expr["values"][0]
                if expr["operator"] == "Exists":
                    return "canary"
        rev = ((hook.get("namespaceSelector") or {}).get("matchLabels") or {}).get("istio.io/rev")
        if rev:
            return rev
    return None


def test_revision_label_selects_the_webhook(cluster, webhook, deploy_configs, namespace):
    rev = revision_of(deploy_configs)
    assert rev, "deploy/'s MutatingWebhookConfigurations select no istio.io/rev namespace"
    cluster.kubectl("label", "namespace", namespace, f"istio.io/rev={rev}")
    wait_until_active(cluster, namespace, proxy_added)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod("revved")))
    assert injected(cluster.kubectl_json("get", "pod", "revved", "-n", namespace))


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_webhook_down_follows_failure_policy(cluster, remora, deploy_config, webhook, policy):
    scope = unique("scope")
    ns = unique("down")
    cluster.create_namespace(ns, labels={"istio-injection": "enabled", SCOPE: scope})
    own = RemoraWebhook(remora, cluster, name=unique("down-webhook")).start()
    config = render_for_loopback(scoped(deploy_config, scope), own.port, cluster.ca.cert,
                                 name=unique("remora-down"), failure_policy=policy)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        wait_until_active(cluster, ns, proxy_added)
        own.stop()
        out = cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod("while-down")),
                              check=False)
        if policy == "Fail":
            assert out.returncode != 0
            assert "failed calling webhook" in out.stderr
            assert cluster.kubectl("get", "pod", "while-down", "-n", ns,
                                   check=False).returncode != 0
        else:
            assert out.returncode == 0, out.stderr
            stored = cluster.kubectl_json("get", "pod", "while-down", "-n", ns)
            assert not injected(stored), "created unmeshed: the seed's partial injection"
            assert not stored["spec"].get("initContainers"), "never half-injected"
            if remora_has(remora, "check"):
                check = subprocess.run([str(remora), "check", "-n", ns], capture_output=True,
                                       text=True, env=cluster.env(), timeout=60)
                assert check.returncode != 0
                assert "while-down" in check.stdout
    finally:
        own.stop()
        cluster.kubectl("delete", "mutatingwebhookconfiguration", config["metadata"]["name"])
        cluster.delete_namespace(ns, wait=False)


def test_rotated_certificate_is_used_without_restart(cluster, webhook, namespace):
    cluster.kubectl("label", "namespace", namespace, "istio-injection=enabled")
    wait_until_active(cluster, namespace, proxy_added)
    pid = webhook.proc.popen.pid
    before = peer_certificate_serial(webhook.port)
    webhook.rotate()
    wait_until("the webhook to serve the rotated certificate",
               lambda: peer_certificate_serial(webhook.port) != before, timeout=60)
    assert webhook.proc.alive() and webhook.proc.popen.pid == pid, "restarted"
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod("after-rotation")))
    assert injected(cluster.kubectl_json("get", "pod", "after-rotation", "-n", namespace))


def test_webhook_patch_equals_remora_inject(cluster, remora, webhook, namespace):
    if not remora_has(remora, "inject"):
        pytest.skip(f"{remora} has no `inject` subcommand")
    cluster.kubectl("label", "namespace", namespace, "istio-injection=enabled")
    wait_until_active(cluster, namespace, proxy_added)
    manifest = pod("same", containers=["same"])
    via_webhook = json.loads(cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-",
        input=json.dumps(manifest)).stdout)
    offline = subprocess.run([str(remora), "inject", "-f", "-"], input=json.dumps(manifest),
                             capture_output=True, text=True, check=True).stdout
    via_inject = json.loads(cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-",
        input=offline).stdout)

    def shape(p):
        s = p["spec"]
        return ([c["name"] for c in s["containers"]],
                [c["name"] for c in s.get("initContainers", [])],
                # The ServiceAccount plugin's token volume has a random suffix.
                sorted(v["name"] for v in s.get("volumes", [])
                       if not v["name"].startswith("kube-api-access-")))

    assert shape(via_webhook) == shape(via_inject)
