"""Fixtures of the kube tier: one real control plane per test session.

    cluster      the running Cluster (tests/kube/cluster.py), started once
    kubectl      cluster.kubectl: kubectl("get", "pods", "-n", ns) -> CompletedProcess
    namespace    a fresh namespace with a unique name, deleted after the test
    remora       the remora binary under test (REMORA_BIN, else build/remora)

REMORA_KUBE_KEEP=1 keeps the cluster's directory (logs, certificates, etcd
data) after the run for debugging; the processes always stop.
"""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import REPO, Cluster, ClusterError, tools_dir  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def cluster():
    try:
        bin_dir = tools_dir()
    except ClusterError as e:
        pytest.fail(f"kube tier: {e}", pytrace=False)
    c = Cluster(bin_dir, keep=os.environ.get("REMORA_KUBE_KEEP") == "1")
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    """On a failing test, print the tail of each control-plane log."""
    yield
    rep = getattr(request.node, "rep_call", None)
    c = request.node.funcargs.get("cluster") if hasattr(request.node, "funcargs") else None
    if rep is not None and rep.failed and c is not None:
        for name, tail in c.logs().items():
            print(f"----- {name} (last lines) -----\n{tail}")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def kubectl(cluster):
    return cluster.kubectl


def unique(prefix):
    """A name no other test in this session (or on this machine) uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


@pytest.fixture
def namespace(cluster):
    name = unique("t")
    cluster.create_namespace(name)
    try:
        yield name
    finally:
        cluster.delete_namespace(name, wait=False)


@pytest.fixture(scope="session")
def remora():
    path = Path(os.environ.get("REMORA_BIN", REPO / "build/remora"))
    if not path.is_file():
        pytest.fail(f"remora binary not found at {path} (set REMORA_BIN or run make build)",
                    pytrace=False)
    return path


def remora_has(remora_bin, subcommand):
    """True when this build has `remora <subcommand>`.

    CLI11 answers `remora <unknown> --help` with the top-level help and exit
    0, so the test is that the help printed is the subcommand's own.
    """
    out = subprocess.run([str(remora_bin), subcommand, "--help"], capture_output=True, text=True)
    return out.returncode == 0 and f"Usage: remora {subcommand}" in out.stdout
