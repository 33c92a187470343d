"""`remora inject` output against the real API server.

Every manifest that `remora inject` produces from examples/ and from the
Istio conformance inputs must pass `kubectl apply --dry-run=server` (the API
server's full validation and defaulting, admission included), and the pods
created from it for real must carry the seed's layout: `istio-proxy` beside
the app, `istio-init` among the init containers.

Skipped, with the reason, while the binary has no `inject` subcommand.
"""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from cluster import REPO, wait_until
from conftest import remora_has, unique
from manifests import pod

WORKLOAD_KINDS = {"Pod", "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet",
                  "DaemonSet", "Job", "CronJob"}
# Inputs on which a correct injector must refuse (see the conformance README).
MUST_FAIL = {"traffic-annotations-bad-includeipranges.yaml"}
STATUS = "sidecar.istio.io/status"


def conformance_dir():
    for candidate in (REPO / "tests/conformance/istio-inject/inputs",
                      REPO.parent / "shared/conformance/istio-inject/inputs",
                      Path("/work/shared/conformance/istio-inject/inputs")):
        if candidate.is_dir():
            return candidate
    return None


def inputs():
    found = []
    examples = REPO / "examples"
    if examples.is_dir():
        found += [p for p in sorted(examples.rglob("*")) if p.suffix in (".yaml", ".yml", ".json")]
    conf = conformance_dir()
    if conf:
        found += sorted(conf.glob("*.yaml"))
    return found


def label(path):
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return "conformance/" + path.name


@pytest.fixture(scope="module")
def inject(remora):
    if not remora_has(remora, "inject"):
        pytest.skip(f"{remora} has no `inject` subcommand yet (issue 2)")

    def run(path_or_text, check=True):
        if isinstance(path_or_text, Path):
            argv, stdin = [str(remora), "inject", "-f", str(path_or_text)], None
        else:
            argv, stdin = [str(remora), "inject", "-f", "-"], path_or_text
        out = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise AssertionError(f"remora inject exited {out.returncode}: {out.stderr}")
        return out

    return run


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


def workloads(docs):
    for d in docs:
        if d.get("kind") == "List":
            yield from workloads(d.get("items", []))
        elif d.get("kind") in WORKLOAD_KINDS:
            yield d


def pod_template(obj):
    kind = obj["kind"]
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def is_injected(meta):
    return STATUS in (meta.get("annotations") or {})


def namespaces_of(docs):
    out = set()
    for d in docs:
        if d.get("kind") == "List":
            out |= namespaces_of(d.get("items", []))
        ns = (d.get("metadata") or {}).get("namespace")
        if ns:
            out.add(ns)
    return out


@pytest.fixture(scope="module")
def target_namespace(cluster):
    """One namespace for every dry run; namespaces the manifests name are created too."""
    name = unique("inject")
    cluster.create_namespace(name)
    extra = []

    def ensure(names):
        for ns in sorted(names):
            if cluster.kubectl("get", "namespace", ns, check=False).returncode != 0:
                cluster.create_namespace(ns)
                extra.append(ns)

    try:
        yield name, ensure
    finally:
        for ns in [name, *extra]:
            cluster.delete_namespace(ns, wait=False)


def assert_seed_layout(spec, where):
    containers = [c["name"] for c in spec["containers"]]
    inits = spec.get("initContainers", [])
    init_names = [c["name"] for c in inits]
    assert "istio-init" in init_names, f"{where}: init containers {init_names}"
    if "istio-proxy" in containers:
        assert containers[-1] == "istio-proxy", f"{where}: containers {containers}"
    else:
        native = [c for c in inits if c["name"] == "istio-proxy"]
        assert native and native[0].get("restartPolicy") == "Always", \
            f"{where}: no istio-proxy in containers {containers} nor native in {init_names}"
    assert containers.count("istio-proxy") + init_names.count("istio-proxy") == 1


def test_inputs_present(inject):
    assert (REPO / "examples").is_dir(), "examples/ is missing (issue 2)"
    assert conformance_dir(), "no conformance inputs found"


def namespace_args(docs, namespace):
    """`-n namespace`, unless the manifests name their own (kubectl refuses a mismatch)."""
    return [] if namespaces_of(docs) else ["-n", namespace]


def refused_as_written(cluster, docs, namespace):
    """The API server's objection to an input before injection, or None.

    Some of Istio's inputs were never meant for an API server (a Deployment
    named "statusPort" is not a valid name): injection cannot be blamed.
    """
    out = cluster.kubectl("apply", "--dry-run=server", *namespace_args(docs, namespace), "-f", "-",
                          input=yaml.safe_dump_all(docs), check=False)
    return out.stderr.strip() if out.returncode != 0 else None


@pytest.mark.parametrize("path", inputs(), ids=label)
def test_injected_manifest_passes_server_dry_run(cluster, inject, target_namespace, path):
    namespace, ensure = target_namespace
    if path.name in MUST_FAIL:
        out = inject(path, check=False)
        assert out.returncode != 0, "remora inject accepted an input it must refuse"
        assert out.stdout.strip() == "", "a refused input must produce no output"
        return
    text = inject(path).stdout
    docs = documents(text)
    assert docs, "remora inject produced no documents"
    ensure(namespaces_of(docs))
    objection = refused_as_written(cluster, documents(path.read_text()), namespace)
    if objection:
        pytest.skip(f"the API server refuses the input itself: {objection}")
    out = cluster.kubectl("apply", "--dry-run=server", *namespace_args(docs, namespace), "-o", "json",
                          "-f", "-", input=text, check=False)
    assert out.returncode == 0, f"API server refused remora inject's output:\n{out.stderr}"
    # What the API server would store still has the sidecar where we put it.
    stored = json.loads(out.stdout)
    stored_docs = stored["items"] if stored.get("kind") == "List" else [stored]
    for before, after in zip(workloads(docs), workloads(stored_docs)):
        if is_injected(pod_template(before).get("metadata", {})):
            assert_seed_layout(pod_template(after)["spec"],
                               f"{after['kind']}/{after['metadata']['name']}")


def expected_pods(obj):
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind == "Pod":
        return 1
    if kind in ("Deployment", "ReplicaSet", "ReplicationController", "StatefulSet"):
        return spec.get("replicas", 1)
    if kind == "DaemonSet":
        return 1  # one KWOK node
    if kind == "Job":
        return 1 if spec.get("parallelism", 1) else 0
    return 0  # CronJob: nothing until its schedule fires


@pytest.mark.parametrize("path", [p for p in inputs() if p.name not in MUST_FAIL], ids=label)
def test_injected_pods_created_for_real(cluster, inject, path):
    docs = documents(inject(path).stdout)
    if any(namespaces_of(docs)):
        pytest.skip("names its own namespaces: covered by the dry run only")
    want = sum(expected_pods(w) for w in workloads(docs))
    injected = any(is_injected(pod_template(w).get("metadata", {})) for w in workloads(docs))
    namespace = unique("real")
    cluster.create_namespace(namespace)
    try:
        objection = refused_as_written(cluster, documents(path.read_text()), namespace)
        if objection:
            pytest.skip(f"the API server refuses the input itself: {objection}")
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
        pods = wait_until(f"{want} pods in {namespace}", lambda: (
            lambda items: items if len(items) >= want else None)(
            cluster.kubectl_json("get", "pods", "-n", namespace)["items"]), timeout=120)
        for p in pods:
            where = f"pod {p['metadata']['name']}"
            if injected and is_injected(p["metadata"]):
                assert_seed_layout(p["spec"], where)
            elif not injected:
                names = [c["name"] for c in p["spec"]["containers"]]
                assert "istio-proxy" not in names, f"{where}: injected though skipped"
    finally:
        cluster.delete_namespace(namespace, wait=False)


def test_seed_story_with_manual_injection(cluster, inject):
    """`remora inject` (the seed's manual injection), then the seed's checks, verbatim."""
    cluster.delete_namespace("my-namespace")
    cluster.create_namespace("my-namespace")
    try:
        manifest = json.dumps(pod("my-app", containers=["my-app"]))
        cluster.kubectl("apply", "-n", "my-namespace", "-f", "-", input=inject(manifest).stdout)
        cluster.kubectl("wait", "--for=condition=Ready", "pod/my-app", "-n", "my-namespace",
                        "--timeout=120s", timeout=150)
        cluster.kubectl("config", "set-context", "--current", "--namespace=my-namespace")
        try:
            containers = cluster.sh(
                "kubectl get pod my-app -o jsonpath='{.spec.containers[*].name}'").stdout
            init = cluster.sh(
                "kubectl get pod my-app -o jsonpath='{.spec.initContainers[*].name}'").stdout
        finally:
            cluster.kubectl("config", "set-context", "--current", "--namespace=")
        assert containers == "my-app istio-proxy"
        assert init == "istio-init"
    finally:
        cluster.delete_namespace("my-namespace", wait=False)
