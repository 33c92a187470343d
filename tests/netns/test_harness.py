"""The harness's own tests: pods talk, UIDs apply, the ledger is exact, the host
namespace is untouched, and nothing survives a run, not even a SIGKILLed one."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import netns


def host_links():
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(":")[1].strip() for line in out.splitlines())


def test_pods_talk_over_the_bridge_and_the_ledger_is_exact(node):
    app, peer = node.pod("app"), node.pod("peer")
    srv = peer.echo_server(8080)
    res = app.connect(peer.ip4, 8080, b"hello\x00\xff", uid=1000)
    assert res.ok, res.error
    assert res.reply == b"hello\x00\xff"
    (entry,) = srv.ledger()
    assert entry["received"].encode("latin-1") == b"hello\x00\xff"
    assert entry["peer"][0] == app.ip4
    assert entry["local"] == [peer.ip4, 8080]
    assert entry["redirected"] is False  # nothing redirected it


def test_ipv6_pods(node6):
    app, peer = node6.pod("app"), node6.pod("peer")
    srv = peer.echo_server(8080)
    res = app.connect(peer.ip6, 8080, b"six")
    assert res.ok, res.error
    assert res.reply == b"six"
    assert srv.ledger()[0]["peer"][0] == app.ip6


def test_commands_run_as_the_given_uid_and_gid_without_groups(node):
    pod = node.pod("app")
    ids = pod.sh(["sh", "-c", "id -u; id -g; id -G"], uid=1000, gid=2000).stdout.decode()
    assert ids.split() == ["1000", "2000", "2000"]
    assert pod.sh(["id", "-u"]).stdout.decode().strip() == "0"


def test_env_applies_to_the_program_only(node, netns_run):
    pod = node.pod("app")
    empty = netns_run.dir / "empty"
    empty.mkdir()
    out = pod.sh(["/usr/bin/env"], env={"PATH": str(empty), "X_TEST": "1"}).stdout.decode()
    assert f"PATH={empty}" in out and "X_TEST=1" in out


def test_loopback_is_up_and_a_closed_port_refuses(node):
    pod = node.pod("app")
    srv = pod.echo_server(9000, bind4="127.0.0.1")
    assert pod.connect("127.0.0.1", 9000, b"lo").reply == b"lo"
    assert srv.ledger()[0]["peer"][0] == "127.0.0.1"
    res = pod.connect("127.0.0.1", 9001, b"x")
    assert not res.connected and "ConnectionRefused" in res.error


def test_nginx_answers_curl_from_another_pod(node):
    web, client = node.pod("web"), node.pod("client")
    nginx = web.nginx(80, body="meshed")
    out = client.sh(["curl", "-sS", "--max-time", "5", f"http://{web.ip4}/x"]).stdout.decode()
    assert out == "meshed\n"
    assert "GET /x" in nginx.access_log.read_text()


def test_http_echo_records_sequence_ids(node):
    app, peer = node.pod("app"), node.pod("peer")
    srv = peer.echo_server(8080, mode="http")
    for seq in ("1", "2"):
        out = app.sh(["curl", "-sS", "--max-time", "5", "-H", f"x-seq: {seq}", "--data", "body",
                      f"http://{peer.ip4}:8080/p"]).stdout.decode()
        assert json.loads(out)["seq"] == seq
    assert [e["seq"] for e in srv.ledger()] == ["1", "2"]
    assert srv.ledger()[0]["received"].endswith("\r\n\r\nbody")


def test_echo_server_reports_the_original_destination_of_a_redirect(node):
    # The path remora init relies on, checked with a hand-written rule so a
    # harness bug cannot hide behind an init bug.
    app, peer = node.pod("app"), node.pod("peer")
    proxy = app.echo_server(15001, name="proxy")
    app.sh(["iptables-nft", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "--uid-owner",
            "1000", "-j", "REDIRECT", "--to-ports", "15001"])
    res = app.connect(peer.ip4, 80, b"to-peer", uid=1000)
    assert res.reply == b"to-peer"
    assert proxy.ledger()[0]["original_dst"] == [peer.ip4, 80]
    assert proxy.ledger()[0]["redirected"] is True


def test_services_balance_over_backends_and_hairpin(node):
    client, a, b = node.pod("client"), node.pod("a"), node.pod("b")
    srv_a, srv_b = a.echo_server(8080), b.echo_server(9090)
    svc = node.service("web", 80, [(a, 8080), (b, 9090)])
    assert svc.vip.startswith("198.19.")
    replies = [client.connect(svc.vip, 80, b"x%d" % i).reply for i in range(4)]
    assert replies == [b"x0", b"x1", b"x2", b"x3"]
    assert len(srv_a.ledger()) == 2 and len(srv_b.ledger()) == 2
    assert srv_a.ledger()[0]["peer"][0] == client.ip4  # no SNAT between pods
    # A backend calling its own service reaches a backend (itself or b).
    assert a.connect(svc.vip, 80, b"hairpin").reply == b"hairpin"
    assert a.connect(svc.vip, 80, b"hairpin2").reply == b"hairpin2"
    assert a.connect(svc.vip, 81, b"no", timeout=1).connected is False


def test_host_namespace_is_never_touched(netns_run):
    before = host_links()
    node = netns_run.node(ipv6=True)
    node.pod("a"), node.pod("b")
    assert host_links() == before


def test_close_removes_namespaces_processes_and_files():
    run = netns.Run()
    node = run.node()
    pod = node.pod("app")
    srv = pod.echo_server(8080)
    pid = srv.pid
    assert netns.leftovers(run.id)
    run.close()
    assert netns.leftovers(run.id) == []
    assert not Path(f"/proc/{pid}").exists() or srv.returncode() is not None
    run.close()  # idempotent


def test_a_terminated_run_cleans_up_after_itself():
    # A plain `kill` (SIGTERM) of a script holding a run, as when a benchmark
    # is stopped: the run removes its namespaces and processes on the way
    # out, with no sweep needed.
    child = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        import netns
        with netns.Run(sweep=False) as run:
            pod = run.node().pod("app")
            srv = pod.spawn(["sleep", "600"], name="sleeper")
            print(run.id, srv.pid, flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        run_id, pid = proc.stdout.readline().split()
        assert netns.leftovers(run_id)
        proc.terminate()
        proc.terminate()  # a second one, as `timeout` forwards, cuts nothing short
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert netns.leftovers(run_id) == []
    assert not Path(f"/proc/{pid}").exists()


def test_a_killed_run_is_swept_by_the_next():
    # A child makes a run with a live process inside a pod, prints its id and
    # SIGKILLs itself: no finalizer runs. sweep_stale() must remove it all.
    child = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        import netns
        run = netns.Run(sweep=False)
        pod = run.node().pod("app")
        srv = pod.spawn(["sleep", "600"], name="sleeper")
        print(run.id, srv.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id, pid = proc.stdout.split()
    assert netns.leftovers(run_id)
    assert Path(f"/proc/{pid}").exists()
    removed = netns.sweep_stale()
    assert any(run_id in r for r in removed)
    assert netns.leftovers(run_id) == []
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_sweep_spares_a_run_that_starts_while_it_sweeps(monkeypatch):
    # ctest runs the netns tests two at a time and every pytest session
    # sweeps as it starts: a run that makes its first namespace while
    # another process sweeps must keep it. The run starts here at the worst
    # moment, just before the sweep lists the namespaces.
    started = []
    real_list = netns.list_namespaces

    def list_while_a_run_starts():
        if not started:
            run = netns.Run(sweep=False)
            started.append(run)
            started.append(run.node().pod("app"))
        return real_list()

    monkeypatch.setattr(netns, "list_namespaces", list_while_a_run_starts)
    try:
        removed = netns.sweep_stale()
        run, pod = started
        assert pod.ns in real_list(), removed
        assert run.dir.exists()
    finally:
        if started:
            started[0].close()


def test_sweep_spares_live_runs(netns_run):
    pod = netns_run.node().pod("app")
    netns.sweep_stale()
    assert pod.ns in netns.list_namespaces()
    assert netns_run.dir.exists()
