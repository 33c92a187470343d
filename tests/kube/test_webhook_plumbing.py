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
from webhooks import ProbeWebhook, render_for_loopback, serving_certificate, wait_until_active


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
