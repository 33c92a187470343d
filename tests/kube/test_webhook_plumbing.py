"""The harness's webhook wiring, proven with a minimal webhook of our own.

The API server must call a mutating webhook on a loopback URL, trust it
through caBundle, apply its JSONPatch before the pod is stored, and follow
failurePolicy when the webhook is down. These tests check that ground with
ProbeWebhook (tests/kube/webhooks.py) so that a failure in the Remora
webhook tests (test_webhook.py) points at Remora, not at the harness.
"""

import json

import pytest

from conftest import unique
from manifests import pod
from webhooks import (SCOPE, ProbeWebhook, render_for_loopback, scoped, serving_certificate,
                      wait_until_active)


def probe_configuration(name, selector_value, port, ca, failure_policy="Fail"):
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "probe.remora.test",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {"service": {"name": "probe", "namespace": "default",
                                         "path": "/mutate"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}],
            "namespaceSelector": {"matchLabels": {"remora-test/probe": selector_value}},
        }],
    }
    return render_for_loopback(config, port, ca, failure_policy=failure_policy,
                               timeout_seconds=5)


@pytest.fixture
def probe(cluster):
    cert, key = serving_certificate(cluster.ca, unique("probe"))
    hook = ProbeWebhook(cert, key)
    try:
        yield hook
    finally:
        hook.stop()


@pytest.fixture
def probed_namespace(cluster):
    """A namespace of its own, labelled for the probe webhook (selector value = its name)."""
    name = unique("probed")
    cluster.create_namespace(name, labels={"remora-test/probe": name})
    try:
        yield name
    finally:
        cluster.delete_namespace(name, wait=False)


def register(cluster, config):
    cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    return config["metadata"]["name"]


def annotated(out):
    return (out.returncode == 0 and
            ProbeWebhook.ANNOTATION in json.loads(out.stdout)["metadata"].get("annotations", {}))


def refused(out):
    return out.returncode != 0 and "failed calling webhook" in out.stderr


def test_api_server_calls_loopback_webhook_and_applies_patch(cluster, probe, probed_namespace):
    name = register(cluster, probe_configuration(unique("probe"), probed_namespace, probe.port,
                                                 cluster.ca.cert))
    try:
        wait_until_active(cluster, probed_namespace, annotated)
        probe.reviews.clear()
        cluster.kubectl("apply", "-n", probed_namespace, "-f", "-",
                        input=json.dumps(pod("probed")))
        stored = cluster.kubectl_json("get", "pod", "probed", "-n", probed_namespace)
        assert stored["metadata"]["annotations"][ProbeWebhook.ANNOTATION] == "/mutate"
        creates = [r for r in probe.reviews
                   if r["review"]["request"]["namespace"] == probed_namespace]
        assert len(creates) == 1
        request = creates[0]["review"]["request"]
        assert request["operation"] == "CREATE"
        assert request["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)


def test_unselected_namespace_is_not_sent_to_webhook(cluster, probe, probed_namespace,
                                                     namespace):
    # Registered for probed_namespace only; `namespace` is another, unlabelled one.
    name = register(cluster, probe_configuration(unique("probe"), probed_namespace, probe.port,
                                                 cluster.ca.cert))
    try:
        wait_until_active(cluster, probed_namespace, annotated)
        probe.reviews.clear()
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod("plain")))
        stored = cluster.kubectl_json("get", "pod", "plain", "-n", namespace)
        assert ProbeWebhook.ANNOTATION not in stored["metadata"].get("annotations", {})
        assert probe.reviews == []
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_webhook_down_follows_failure_policy(cluster, probe, probed_namespace, policy):
    port = probe.port
    probe.stop()  # nothing listens on the port now
    # Registered with Fail first, so that the refusal proves the API server
    # calls the webhook; then switched to the policy under test.
    config = probe_configuration(unique("probe"), probed_namespace, port, cluster.ca.cert)
    name = register(cluster, config)
    try:
        wait_until_active(cluster, probed_namespace, refused)
        if policy == "Ignore":
            register(cluster, render_for_loopback(config, port, cluster.ca.cert,
                                                  failure_policy="Ignore"))
            wait_until_active(cluster, probed_namespace, lambda out: out.returncode == 0)
        out = cluster.kubectl("apply", "-n", probed_namespace, "-f", "-",
                              input=json.dumps(pod("orphan")), check=False)
        if policy == "Fail":
            assert out.returncode != 0
            assert "failed calling webhook" in out.stderr
            assert "probe.remora.test" in out.stderr
            assert cluster.kubectl("get", "pod", "orphan", "-n", probed_namespace,
                                   check=False).returncode != 0
        else:
            assert out.returncode == 0, out.stderr
            stored = cluster.kubectl_json("get", "pod", "orphan", "-n", probed_namespace)
            assert ProbeWebhook.ANNOTATION not in stored["metadata"].get("annotations", {})
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)


def test_wrong_ca_bundle_is_a_webhook_failure(cluster, probe, probed_namespace, tmp_path):
    from cluster import CertificateAuthority
    other = CertificateAuthority(tmp_path, "other-ca")
    name = register(cluster, probe_configuration(unique("probe"), probed_namespace, probe.port,
                                                 other.cert, failure_policy="Fail"))
    try:
        wait_until_active(cluster, probed_namespace, refused)
        out = cluster.kubectl("apply", "-n", probed_namespace, "-f", "-",
                              input=json.dumps(pod("untrusted")), check=False)
        assert out.returncode != 0
        assert "x509" in out.stderr or "certificate" in out.stderr
        assert probe.reviews == []
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)


# The shape of Istio's istio-sidecar-injector configuration (and so of
# deploy/'s): an in-cluster Service with a path, a namespace label, the
# opt-out label as objectSelector, kube-system excluded.
ISTIO_SHAPED = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "istio-shaped", "labels": {"app": "sidecar-injector"}},
    "webhooks": [{
        "name": "namespace.sidecar-injector.remora.test",
        "admissionReviewVersions": ["v1", "v1beta1"],
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "reinvocationPolicy": "IfNeeded",
        "timeoutSeconds": 10,
        "clientConfig": {"service": {"name": "remora-webhook", "namespace": "remora-system",
                                     "path": "/inject", "port": 443},
                         "caBundle": ""},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}],
        "namespaceSelector": {"matchExpressions": [
            {"key": "istio-injection", "operator": "In", "values": ["enabled"]},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
             "values": ["kube-system", "remora-system"]}]},
        "objectSelector": {"matchExpressions": [
            {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]},
    }],
}


def test_deploy_shaped_configuration_renders_for_loopback(cluster, probe):
    """What test_webhook.py does with deploy/'s configuration, checked with the probe."""
    scope = unique("scope")
    config = render_for_loopback(scoped(ISTIO_SHAPED, scope), probe.port, cluster.ca.cert,
                                 name=unique("istio-shaped"))
    hook = config["webhooks"][0]
    assert hook["clientConfig"]["url"] == f"https://127.0.0.1:{probe.port}/inject"
    assert "service" not in hook["clientConfig"]
    ns = unique("shaped")
    cluster.create_namespace(ns, labels={"istio-injection": "enabled", SCOPE: scope})
    name = register(cluster, config)
    try:
        wait_until_active(cluster, ns, annotated)
        probe.reviews.clear()
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod("in")))
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(
            pod("out", labels={"app": "out", "sidecar.istio.io/inject": "false"})))
        stored_in = cluster.kubectl_json("get", "pod", "in", "-n", ns)
        stored_out = cluster.kubectl_json("get", "pod", "out", "-n", ns)
        assert stored_in["metadata"]["annotations"][ProbeWebhook.ANNOTATION] == "/inject"
        assert ProbeWebhook.ANNOTATION not in stored_out["metadata"].get("annotations", {})
        assert [r["review"]["request"]["name"] for r in probe.reviews] == ["in"]
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", name)
        cluster.delete_namespace(ns, wait=False)
