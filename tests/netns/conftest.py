"""pytest fixtures over netns.py (the library; read its module doc first).

    def test_something(node):               # a fresh node, IPv4 only
        app, peer = node.pod("app"), node.pod("peer")
        ...

    def test_dual(node6):                   # a node whose pods also have IPv6
        ...

    def test_custom(netns_run):             # the Run itself, for several nodes
        a, b = netns_run.node(), netns_run.node(ipv6=True)

Every fixture is function-scoped: each test gets its own Run, and its
finalizer removes every namespace, veth, process and file the test made,
whether the test passed, failed or was interrupted (Ctrl-C and SIGTERM both
unwind through the finalizers). A run killed with SIGKILL is swept by the
next one. When a test fails, the report carries the diagnostics of its
namespaces (addresses, routes, sockets, rules) and every process's log.
"""

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netns  # noqa: E402


def _terminate(signum, frame):
    # pytest unwinds fixtures on KeyboardInterrupt; make SIGTERM (ctest, kill)
    # take the same path.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _terminate)
    netns.sweep_stale()


@pytest.fixture
def netns_run():
    run = netns.Run(sweep=False)
    try:
        yield run
    finally:
        run.close()


@pytest.fixture
def node(netns_run):
    return netns_run.node()


@pytest.fixture
def node6(netns_run):
    return netns_run.node(ipv6=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        run = item.funcargs.get("netns_run")
        if run is not None and not run._closed:
            try:
                report.sections.append(("netns diagnostics", run.diagnostics()))
            except Exception as e:  # diagnostics never hide the real failure
                report.sections.append(("netns diagnostics", f"unavailable: {e!r}"))
