"""`remora init` in real network namespaces: the kernel redirects real TCP.

Every test builds pods with the harness (netns.py), applies the rules with
the real binary, and proves the effect with real connections: where a
connection lands is read from the ledgers of the listeners, and where it was
going from SO_ORIGINAL_DST as the kernel reports it.

Most tests run on each backend: iptables-nft, iptables-legacy and native
nftables.
"""

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

import netns

# The istio-init arguments the injector writes, verbatim.
INJECTOR = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
            "-b", "*", "-d", "15090,15021,15020"]

BACKENDS = {
    "iptables-nft": ["--iptables-backend=nft"],
    "iptables-legacy": ["--iptables-backend=legacy"],
    "nftables": ["--native-nftables"],
}

APP_UID = 1000
PROXY_UID = 1337
GOLDEN = Path(__file__).resolve().parents[1] / "netfilter" / "golden"


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    return request.param


def init(pod, *args, backend="iptables-nft", check=True, env=None):
    """Runs `remora init` in the pod; with check, fails the test on a non-zero exit."""
    res = pod.run_remora(["init", *args, *BACKENDS[backend]], env=env)
    if check:
        assert res.returncode == 0, f"remora init failed ({res.returncode}):\n{res.stderr}"
    return res


def pods(node, *names):
    return [node.pod(n) for n in names]


# --- rule snapshots ----------------------------------------------------------

IPTABLES_SAVES = ["iptables-legacy-save", "ip6tables-legacy-save", "iptables-nft-save",
                  "ip6tables-nft-save"]


def _normalize_save(text):
    """iptables-save output without comments and counters, and without tables
    that hold nothing (no rule, no user chain, default policies): a legacy
    table, once the kernel instantiated it in a namespace, cannot be removed,
    and iptables-nft recreates empty tables on any listing."""
    out, table = [], None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        line = re.sub(r" \[\d+:\d+\]$", "", line)
        if line.startswith("*"):
            table = [line]
        elif line == "COMMIT":
            meaningful = any(l.startswith("-A") or (l.startswith(":") and not l.endswith(" ACCEPT"))
                             for l in table[1:])
            if meaningful:
                out += table + ["COMMIT"]
            table = None
        else:
            table.append(line)
    return "\n".join(out)


def rules_snapshot(pod):
    """Every rule of the namespace, as comparable text: iptables legacy and nft
    (v4, v6), and the native nftables tables that are not iptables-nft's."""
    parts = []
    for tool in IPTABLES_SAVES:
        res = pod.sh([tool], check=False)
        parts.append(f"## {tool}\n" + _normalize_save(res.stdout.decode()))
    tables = pod.sh(["nft", "list", "tables"], check=False).stdout.decode().split("\n")
    for line in sorted(t for t in tables if t.strip()):
        _, family, name = line.split()
        if name in ("filter", "nat", "mangle", "raw", "security"):
            continue  # iptables-nft's own tables, compared through iptables-nft-save
        parts.append(pod.sh(["nft", "list", "table", family, name]).stdout.decode())
    return "\n".join(parts)


def add_foreign_rules(pod, backend):
    """Someone else's rules, which init and cleanup must leave exactly as they are."""
    if backend == "nftables":
        pod.sh(["nft", "-f", "-"], input=b"table inet foreign {\n chain out {\n"
               b"  type filter hook output priority 0; policy accept;\n"
               b"  tcp dport 9 counter drop\n }\n}\n")
    tool = "iptables-legacy" if backend == "iptables-legacy" else "iptables-nft"
    pod.sh([tool, "-t", "nat", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "RETURN"])
    pod.sh([tool, "-t", "nat", "-N", "CNI-HOSTPORT"])
    pod.sh([tool, "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "9", "-j", "CNI-HOSTPORT"])
    pod.sh([tool, "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP"])


# --- outbound ----------------------------------------------------------------


def test_outbound_from_app_uid_lands_on_15001_with_original_dst(node, backend):
    app, peer = pods(node, "app", "peer")
    proxy = app.echo_server(15001, name="proxy-out")
    target = peer.echo_server(8080)
    init(app, *INJECTOR, backend=backend)

    res = app.connect(peer.ip4, 8080, b"hello", uid=APP_UID, gid=APP_UID)
    assert res.ok, res.error
    assert res.reply == b"hello"
    (entry,) = proxy.ledger()
    assert entry["original_dst"] == [peer.ip4, 8080]
    assert entry["received"] == "hello"
    assert target.ledger() == []  # the proxy, not the peer, got the connection


def test_outbound_to_a_service_vip_keeps_the_vip_as_original_dst(node, backend):
    app, peer = pods(node, "app", "peer")
    proxy = app.echo_server(15001, name="proxy-out")
    target = peer.echo_server(8080)
    svc = node.service("peer", 80, [(peer, 8080)])
    init(app, *INJECTOR, backend=backend)
    assert app.connect(svc.vip, 80, b"vip", uid=APP_UID).ok
    # The proxy itself reaches the service the way kube-proxy serves it.
    assert app.connect(svc.vip, 80, b"proxy", uid=PROXY_UID).reply == b"proxy"
    assert [(e["received"], e["original_dst"]) for e in proxy.ledger()] == [
        ("vip", [svc.vip, 80])]
    assert [e["received"] for e in target.ledger()] == ["proxy"]


def test_root_is_captured_and_the_proxy_uid_and_gid_are_not(node, backend):
    app, peer = pods(node, "app", "peer")
    proxy = app.echo_server(15001, name="proxy-out")
    target = peer.echo_server(8080)
    init(app, *INJECTOR, backend=backend)

    # UID 0 is not exempt (telepresence#4156): captured.
    assert app.connect(peer.ip4, 8080, b"root", uid=0, gid=0).ok
    # The proxy's UID reaches the peer directly: no loop.
    assert app.connect(peer.ip4, 8080, b"proxy", uid=PROXY_UID, gid=PROXY_UID).reply == b"proxy"
    # The proxy's GID alone is exempt too (-g defaults to -u).
    assert app.connect(peer.ip4, 8080, b"gid", uid=APP_UID, gid=PROXY_UID).reply == b"gid"
    # Any other UID is captured.
    assert app.connect(peer.ip4, 8080, b"app", uid=2000, gid=2000).ok

    assert [e["received"] for e in proxy.ledger()] == ["root", "app"]
    assert all(e["original_dst"] == [peer.ip4, 8080] for e in proxy.ledger())
    assert sorted(e["received"] for e in target.ledger()) == ["gid", "proxy"]


def test_custom_proxy_uid_is_the_only_exemption(node, backend):
    app, peer = pods(node, "app", "peer")
    proxy = app.echo_server(15001, name="proxy-out")
    target = peer.echo_server(8080)
    args = [a if a != "1337" else "2500" for a in INJECTOR]
    init(app, *args, backend=backend)
    assert app.connect(peer.ip4, 8080, b"custom", uid=2500, gid=2500).reply == b"custom"
    assert app.connect(peer.ip4, 8080, b"1337", uid=PROXY_UID, gid=PROXY_UID).ok
    assert [e["received"] for e in target.ledger()] == ["custom"]
    assert [e["received"] for e in proxy.ledger()] == ["1337"]


def test_excluded_outbound_ports_and_cidrs_bypass(node, backend):
    app, peer, other = pods(node, "app", "peer", "other")
    proxy = app.echo_server(15001, name="proxy-out")
    peer_app = peer.echo_server(8080)
    peer_db = peer.echo_server(3306)
    other_app = other.echo_server(8080)
    # A repeated flag takes its last value (as with istio-iptables).
    init(app, *INJECTOR, "-o", "3306", "-x", f"{other.ip4}/32", backend=backend)

    assert app.connect(peer.ip4, 3306, b"db", uid=APP_UID).reply == b"db"        # port excluded
    assert app.connect(other.ip4, 8080, b"other", uid=APP_UID).reply == b"other"  # CIDR excluded
    assert app.connect(peer.ip4, 8080, b"app", uid=APP_UID).ok                   # captured
    assert [e["received"] for e in peer_db.ledger()] == ["db"]
    assert [e["received"] for e in other_app.ledger()] == ["other"]
    assert peer_app.ledger() == []
    assert [(e["received"], e["original_dst"]) for e in proxy.ledger()] == [
        ("app", [peer.ip4, 8080])]


def test_only_included_cidrs_are_captured(node, backend):
    app, peer, other = pods(node, "app", "peer", "other")
    proxy = app.echo_server(15001, name="proxy-out")
    peer.echo_server(8080)
    other_app = other.echo_server(8080)
    args = list(INJECTOR)
    args[args.index("-i") + 1] = f"{peer.ip4}/32"
    init(app, *args, backend=backend)
    assert app.connect(peer.ip4, 8080, b"in", uid=APP_UID).ok
    assert app.connect(other.ip4, 8080, b"out", uid=APP_UID).reply == b"out"
    assert [e["original_dst"] for e in proxy.ledger()] == [[peer.ip4, 8080]]
    assert [e["received"] for e in other_app.ledger()] == ["out"]


def test_outbound_ports_include_without_cidrs(node, backend):
    app, peer = pods(node, "app", "peer")
    proxy = app.echo_server(15001, name="proxy-out")
    direct = peer.echo_server(8080)
    peer.echo_server(9090)
    init(app, "-u", "1337", "-q", "9090", backend=backend)
    assert app.connect(peer.ip4, 9090, b"q", uid=APP_UID).ok
    assert app.connect(peer.ip4, 8080, b"not", uid=APP_UID).reply == b"not"
    assert [e["original_dst"] for e in proxy.ledger()] == [[peer.ip4, 9090]]
    assert [e["received"] for e in direct.ledger()] == ["not"]


# --- inbound -----------------------------------------------------------------


def test_inbound_from_another_pod_lands_on_15006_with_original_dst(node, backend):
    app, peer = pods(node, "app", "peer")
    inbound = app.echo_server(15006, name="proxy-in")
    real_app = app.echo_server(8080, name="app8080")
    init(app, *INJECTOR, backend=backend)

    res = peer.connect(app.ip4, 8080, b"inbound")
    assert res.ok, res.error
    assert res.reply == b"inbound"
    (entry,) = inbound.ledger()
    assert entry["original_dst"] == [app.ip4, 8080]
    assert entry["peer"][0] == peer.ip4
    assert real_app.ledger() == []  # the sidecar cannot be bypassed from outside


def test_health_and_stats_ports_are_not_captured(node, backend):
    app, peer = pods(node, "app", "peer")
    inbound = app.echo_server(15006, name="proxy-in")
    direct = {port: app.echo_server(port) for port in (15090, 15021, 15020)}
    init(app, *INJECTOR, backend=backend)
    for port, srv in direct.items():
        assert peer.connect(app.ip4, port, str(port).encode()).reply == str(port).encode()
        (entry,) = srv.ledger()
        assert entry["redirected"] is False
    assert inbound.ledger() == []


def test_excluded_and_included_inbound_ports(node, backend):
    app, peer = pods(node, "app", "peer")
    inbound = app.echo_server(15006, name="proxy-in")
    excluded = app.echo_server(8081)
    app.echo_server(8080)
    init(app, *INJECTOR, "-d", "8081", backend=backend)
    assert peer.connect(app.ip4, 8081, b"x").reply == b"x"
    assert peer.connect(app.ip4, 8080, b"c").ok
    assert [e["received"] for e in excluded.ledger()] == ["x"]
    assert [e["original_dst"] for e in inbound.ledger()] == [[app.ip4, 8080]]


def test_inbound_port_list_captures_only_those_ports(node, backend):
    app, peer = pods(node, "app", "peer")
    inbound = app.echo_server(15006, name="proxy-in")
    listed = app.echo_server(9080)
    unlisted = app.echo_server(8080)
    args = list(INJECTOR)
    args[args.index("-b") + 1] = "9080"
    init(app, *args, backend=backend)
    assert peer.connect(app.ip4, 9080, b"listed").ok
    assert peer.connect(app.ip4, 8080, b"unlisted").reply == b"unlisted"
    assert listed.ledger() == []
    assert [e["received"] for e in unlisted.ledger()] == ["unlisted"]
    assert [e["original_dst"] for e in inbound.ledger()] == [[app.ip4, 9080]]


def test_direct_connections_to_the_capture_ports_do_not_loop(node, backend):
    app, peer = pods(node, "app", "peer")
    inbound = app.echo_server(15006, name="proxy-in")
    outbound = app.echo_server(15001, name="proxy-out")
    init(app, *INJECTOR, backend=backend)
    assert peer.connect(app.ip4, 15006, b"a").reply == b"a"
    assert peer.connect(app.ip4, 15001, b"b").reply == b"b"
    # Both land on 15006 once: REDIRECT to the port they were already going to.
    assert sorted(e["received"] for e in inbound.ledger()) == ["a", "b"]
    assert outbound.ledger() == []


# --- loopback ----------------------------------------------------------------


def test_loopback_and_calls_to_self(node, backend):
    app, = pods(node, "app")
    app_srv = app.echo_server(8080, name="app8080")
    inbound = app.echo_server(15006, name="proxy-in")
    outbound = app.echo_server(15001, name="proxy-out")
    init(app, *INJECTOR, backend=backend)

    # The app calling itself, by pod IP or on localhost, stays on loopback.
    assert app.connect(app.ip4, 8080, b"self-ip", uid=APP_UID).reply == b"self-ip"
    assert app.connect("127.0.0.1", 8080, b"localhost", uid=APP_UID).reply == b"localhost"
    # The proxy calling the pod IP (an app calling itself through a VIP comes
    # back this way) goes through inbound capture...
    assert app.connect(app.ip4, 8080, b"via-proxy", uid=PROXY_UID).ok
    # ...except from 127.0.0.6, the inbound passthrough source.
    assert app.connect(app.ip4, 8080, b"passthrough", uid=PROXY_UID, source="127.0.0.6").ok
    # And the proxy's own localhost traffic is left alone.
    assert app.connect("127.0.0.1", 8080, b"proxy-lo", uid=PROXY_UID).reply == b"proxy-lo"

    got = sorted(e["received"] for e in app_srv.ledger())
    assert got == ["localhost", "passthrough", "proxy-lo", "self-ip"]
    assert [(e["received"], e["original_dst"]) for e in inbound.ledger()] == [
        ("via-proxy", [app.ip4, 8080])]
    assert outbound.ledger() == []


def test_loopback_only_app_stays_unreachable_from_outside(node, backend):
    app, peer = pods(node, "app", "peer")
    lo_only = app.echo_server(8080, bind4="127.0.0.1", name="lo-only")
    init(app, *INJECTOR, backend=backend)
    res = peer.connect(app.ip4, 8080, b"x", timeout=2)
    assert not res.ok  # nothing on 15006 here: refused, as without the mesh
    assert lo_only.ledger() == []


# --- IPv6 --------------------------------------------------------------------


def test_ipv6_mirrors_ipv4_with_dual_stack(node6, backend):
    app, peer = pods(node6, "app", "peer")
    out = app.echo_server(15001, name="proxy-out")
    inbound = app.echo_server(15006, name="proxy-in")
    peer_srv = peer.echo_server(8080)
    app.echo_server(8080, name="app8080")
    init(app, *INJECTOR, "--dual-stack", backend=backend)

    assert app.connect(peer.ip6, 8080, b"v6-out", uid=APP_UID).ok
    assert app.connect(peer.ip6, 8080, b"v6-proxy", uid=PROXY_UID).reply == b"v6-proxy"
    assert peer.connect(app.ip6, 8080, b"v6-in").ok
    assert app.connect(peer.ip4, 8080, b"v4-out", uid=APP_UID).ok
    assert [(e["received"], e["original_dst"]) for e in out.ledger()] == [
        ("v6-out", [peer.ip6, 8080]), ("v4-out", [peer.ip4, 8080])]
    assert [(e["received"], e["original_dst"]) for e in inbound.ledger()] == [
        ("v6-in", [app.ip6, 8080])]
    assert [e["received"] for e in peer_srv.ledger()] == ["v6-proxy"]
    assert "::6/128" in app.sh(["ip", "-6", "addr", "show", "dev", "lo"]).stdout.decode()


def test_without_dual_stack_ipv6_is_not_captured(node6, backend):
    app, peer = pods(node6, "app", "peer")
    out = app.echo_server(15001, name="proxy-out")
    peer_srv = peer.echo_server(8080)
    init(app, *INJECTOR, backend=backend)
    assert app.connect(peer.ip6, 8080, b"v6", uid=APP_UID).reply == b"v6"
    assert out.ledger() == []
    assert [e["received"] for e in peer_srv.ledger()] == ["v6"]


# --- idempotence, cleanup, atomicity -------------------------------------------


def test_second_run_is_a_no_op(node, backend):
    app, peer = pods(node, "app", "peer")
    proxy = app.echo_server(15001, name="proxy-out")
    init(app, *INJECTOR, backend=backend)
    once = rules_snapshot(app)
    init(app, *INJECTOR, backend=backend)
    assert rules_snapshot(app) == once
    assert app.connect(peer.ip4, 8080, b"x", uid=APP_UID).ok
    assert len(proxy.ledger()) == 1


def test_a_new_config_replaces_the_old_one(node, backend):
    app, = pods(node, "app")
    init(app, *INJECTOR, "--drop-invalid", "-c", "eth9", backend=backend)
    init(app, *INJECTOR, backend=backend)
    replaced = rules_snapshot(app)
    init(app, "--cleanup-only", backend=backend)
    init(app, *INJECTOR, backend=backend)
    assert rules_snapshot(app) == replaced


def test_cleanup_only_restores_the_namespace_exactly(node, backend):
    app, = pods(node, "app")
    add_foreign_rules(app, backend)
    before = rules_snapshot(app)
    init(app, *INJECTOR, "--drop-invalid", "-c", "eth9", backend=backend)
    assert rules_snapshot(app) != before
    init(app, "--cleanup-only", backend=backend)
    assert rules_snapshot(app) == before
    init(app, "--cleanup-only", backend=backend)  # nothing left: still fine
    assert rules_snapshot(app) == before


def test_cleanup_only_without_a_backend_finds_every_backend(node6):
    app, = pods(node6, "app")
    before = rules_snapshot(app)
    init(app, *INJECTOR, "--dual-stack", backend="iptables-nft")
    # Leftovers in the other two backends at the same time (as a crashed
    # switch of backends could leave them), loaded straight from the golden file.
    sections = golden_sections(GOLDEN / "injector-dual-stack.golden")
    app.sh(["iptables-legacy-restore", "--noflush"],
           input=sections["iptables-restore --noflush (IPv4)"].encode())
    app.sh(["ip6tables-legacy-restore", "--noflush"],
           input=sections["ip6tables-restore --noflush (IPv6)"].encode())
    app.sh(["nft", "-f", "-"], input=sections["nft -f (--native-nftables)"].encode())
    res = app.run_remora(["init", "--cleanup-only"])
    assert res.returncode == 0, res.stderr
    assert rules_snapshot(app) == before


def test_switching_backends_leaves_one_capture(node):
    app, = pods(node, "app")
    init(app, *INJECTOR, backend="iptables-legacy")
    init(app, *INJECTOR, backend="nftables")
    snap = rules_snapshot(app)
    assert "ISTIO_OUTPUT" not in snap  # the legacy rules are gone
    assert "istio-output" in snap


def write_script(dir_path, name, body):
    path = Path(dir_path) / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def test_failure_half_way_leaves_nothing_applied_ipv6_restore_broken(node6, netns_run):
    app, = pods(node6, "app")
    add_foreign_rules(app, "iptables-nft")
    before = rules_snapshot(app)
    fake = netns_run.dir / "broken-bin"
    fake.mkdir()
    write_script(fake, "ip6tables-nft-restore", "cat >/dev/null\necho 'simulated failure' >&2\nexit 1\n")
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    res = init(app, *INJECTOR, "--dual-stack", backend="iptables-nft", check=False, env=env)
    assert res.returncode == 1
    assert "applying the IPv6 rules failed" in res.stderr
    assert "simulated failure" in res.stderr
    assert "rolled back" in res.stderr
    assert rules_snapshot(app) == before  # the IPv4 rules that did apply are gone again


def test_failure_half_way_through_a_legacy_restore_is_rolled_back(node, netns_run):
    # iptables-legacy commits table by table: a bad nat table after a good
    # mangle table leaves mangle applied unless we roll it back.
    app, = pods(node, "app")
    add_foreign_rules(app, "iptables-legacy")
    before = rules_snapshot(app)
    fake = netns_run.dir / "half-bin"
    fake.mkdir()
    real = subprocess.run(["which", "iptables-legacy-restore"], capture_output=True,
                          text=True).stdout.strip()
    write_script(fake, "iptables-legacy-restore",
                 "case \" $* \" in *' --noflush '*)\n"
                 f"  sed '/^\\*nat/,$ s/^COMMIT$/-A NO_SUCH_CHAIN -j RETURN\\nCOMMIT/' | {real} \"$@\";;\n"
                 f"*) {real} \"$@\";;\nesac\n")
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    res = init(app, *INJECTOR, "--drop-invalid", backend="iptables-legacy", check=False, env=env)
    assert res.returncode == 1, res.stderr
    assert "rolled back" in res.stderr, res.stderr
    assert rules_snapshot(app) == before
    assert "ISTIO_DROP" not in app.sh(["iptables-legacy-save"]).stdout.decode()


def test_killed_between_families_a_rerun_completes_with_one_copy(node6, netns_run):
    # SIGKILL while the IPv6 restore runs: IPv4 is applied, IPv6 is not.
    # Running again must complete it, leaving one copy of everything.
    app, ref = pods(node6, "app", "ref")
    fake = netns_run.dir / "hang-bin"
    fake.mkdir()
    started = netns_run.scratch / "ip6-restore-started"
    write_script(fake, "ip6tables-nft-restore", f"touch {started}\nexec sleep 60\n")
    proc = app.spawn(["env", f"PATH={fake}:{os.environ['PATH']}", netns.remora_bin(), "init",
                      *INJECTOR, "--dual-stack", "--iptables-backend=nft"], name="killed-init")
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        assert proc.alive(), proc.log()
        time.sleep(0.05)
    assert started.exists(), proc.log()
    proc.signal(signal.SIGKILL)  # remora and the hanging restore (one process group)
    proc.wait()
    v4 = app.sh(["iptables-nft-save"]).stdout.decode()
    v6 = app.sh(["ip6tables-nft-save"]).stdout.decode()
    assert "-j ISTIO_OUTPUT" in v4 and "ISTIO_OUTPUT" not in v6
    init(app, *INJECTOR, "--dual-stack")
    init(ref, *INJECTOR, "--dual-stack")
    assert rules_snapshot(app) == rules_snapshot(ref)


def test_failure_of_nft_changes_nothing(node, netns_run):
    app, = pods(node, "app")
    init(app, *INJECTOR, backend="nftables")
    before = rules_snapshot(app)
    fake = netns_run.dir / "nft-bin"
    fake.mkdir()
    real = subprocess.run(["which", "nft"], capture_output=True, text=True).stdout.strip()
    # A script with a bad rule at the end: nft applies all of it or nothing.
    write_script(fake, "nft", "if [ \"$1\" = -f ]; then\n"
                 f"  {{ cat; echo 'add rule inet istio-proxy-nat no-such-chain return'; }} | {real} -f -\n"
                 f"else exec {real} \"$@\"; fi\n")
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    res = init(app, *INJECTOR, "--drop-invalid", backend="nftables", check=False, env=env)
    assert res.returncode == 1
    assert "nothing was changed" in res.stderr
    assert rules_snapshot(app) == before


@pytest.mark.parametrize("args,message", [
    (["-x", "*"], "-x/--istio-service-exclude-cidr (ISTIO_SERVICE_EXCLUDE_CIDR)"),
    (["-i", "10.0.0.0/33"], "invalid CIDR \"10.0.0.0/33\""),
    (["-i", "10.0.0.300/8"], "invalid CIDR"),
    (["-d", "15090,70000"], "invalid port \"70000\""),
    (["-b", "0"], "invalid port \"0\""),
    (["-p", "15006"], "must differ"),
    (["-u", "istio-proxy"], "-u/--proxy-uid"),
    (["-m", "NAT"], "use REDIRECT or TPROXY"),
    (["-c", "eth0;reboot"], "invalid interface name"),
])
def test_invalid_values_fail_before_anything_is_applied(node, args, message):
    app, = pods(node, "app")
    before = rules_snapshot(app)
    res = app.run_remora(["init", *INJECTOR, *args])
    assert res.returncode == 1
    assert message in res.stderr
    assert "nothing was applied" in res.stderr
    assert rules_snapshot(app) == before


def test_environment_variables_bind_like_istio(node):
    app, = pods(node, "app")
    env = {"ENVOY_PORT": "15001", "INBOUND_CAPTURE_PORT": "15006", "PROXY_UID": "1337",
           "ISTIO_INBOUND_INTERCEPTION_MODE": "REDIRECT", "ISTIO_SERVICE_CIDR": "*",
           "ISTIO_SERVICE_EXCLUDE_CIDR": "", "ISTIO_INBOUND_PORTS": "*",
           "ISTIO_LOCAL_EXCLUDE_PORTS": "15090,15021,15020"}
    from_env = app.run_remora(["init", "-n"], env=env)
    from_flags = app.run_remora(["init", "-n", *INJECTOR])
    assert from_env.returncode == 0, from_env.stderr
    assert from_env.stdout == from_flags.stdout
    bad = app.run_remora(["init", "-n"], env={"ISTIO_SERVICE_EXCLUDE_CIDR": "*"})
    assert bad.returncode == 1 and "ISTIO_SERVICE_EXCLUDE_CIDR" in bad.stderr
    flag_wins = app.run_remora(["init", "-n", "-b", "8080"], env={"ISTIO_INBOUND_PORTS": "*"})
    assert "--dport 8080 -j ISTIO_IN_REDIRECT" in flag_wins.stdout


# --- dry run -------------------------------------------------------------------


def golden_section(name, header):
    text = (GOLDEN / f"{name}.golden").read_text()
    start = text.index(header) + len(header) + 1
    end = text.find("\n# ", start)
    return text[start:end + 1 if end >= 0 else None]


def test_dry_run_prints_exactly_what_is_applied(node):
    app, ref = pods(node, "app", "ref")
    before = rules_snapshot(app)
    res = app.run_remora(["init", "-n", *INJECTOR])
    assert res.returncode == 0, res.stderr
    assert rules_snapshot(app) == before  # nothing applied
    lines = res.stdout.splitlines(keepends=True)
    assert lines[0].startswith("# remora init --dry-run: backend iptables-nft")
    assert lines[1] == "# iptables-nft-restore --noflush\n"
    restore_input = "".join(lines[2:])
    assert restore_input == golden_section("injector-default", "# iptables-restore --noflush (IPv4)")
    # Feeding the printed input to the tool gives what `remora init` gives.
    ref.sh(["iptables-nft-restore", "--noflush"], input=restore_input.encode())
    init(app, *INJECTOR)
    assert rules_snapshot(app) == rules_snapshot(ref)


def test_dry_run_native_nftables_prints_the_script(node):
    app, = pods(node, "app")
    res = app.run_remora(["init", "-n", "--native-nftables", *INJECTOR])
    assert res.returncode == 0, res.stderr
    script = res.stdout.split("# nft -f -\n", 1)[1]
    assert script == golden_section("injector-default", "# nft -f (--native-nftables)")


# --- validation ----------------------------------------------------------------


def test_run_validation_passes_when_capture_works(node, backend):
    app, = pods(node, "app")
    res = init(app, *INJECTOR, "--run-validation", backend=backend)
    assert "validation passed" in res.stdout
    assert "192.0.2.1:15002 was redirected to 127.0.0.1:15001" in res.stdout
    # Validation alone, later: the rules are still there.
    again = init(app, *INJECTOR, "--run-validation", "--skip-rule-apply", backend=backend)
    assert "validation passed" in again.stdout


def test_run_validation_fails_clearly_without_rules(node):
    app, = pods(node, "app")
    res = app.run_remora(["init", *INJECTOR, "--run-validation", "--skip-rule-apply"])
    assert res.returncode == 126
    assert "no redirection rules" in res.stderr


def test_run_validation_fails_clearly_without_net_admin(node):
    app, = pods(node, "app")
    res = app.run_remora(["init", *INJECTOR, "--run-validation"], uid=APP_UID)
    assert res.returncode == 126
    assert "missing capability NET_ADMIN" in res.stderr
    plain = app.run_remora(["init", *INJECTOR], uid=APP_UID)
    assert plain.returncode == 1 and "missing capability NET_ADMIN" in plain.stderr


def test_run_validation_fails_clearly_without_a_backend(node, netns_run):
    app, = pods(node, "app")
    empty = netns_run.dir / "empty-bin"
    empty.mkdir()
    res = app.run_remora(["init", *INJECTOR, "--run-validation"], env={"PATH": str(empty)})
    assert res.returncode == 126
    assert "no iptables backend" in res.stderr


def test_run_validation_fails_when_the_rules_miss_this_uid(node):
    app, = pods(node, "app")
    init(app, *INJECTOR)
    # Rules that exempt UID 0 cannot capture the probe of a root process.
    init(app, *INJECTOR[:5], "0", *INJECTOR[6:], "-g", "1337")
    res = app.run_remora(["init", *INJECTOR, "--run-validation", "--skip-rule-apply",
                          "--probe-timeout", "1s"])
    assert res.returncode == 126
    assert "was not redirected" in res.stderr


# --- TPROXY and DNS --------------------------------------------------------------


def test_tproxy_inbound_lands_on_a_transparent_listener(node):
    app, peer = pods(node, "app", "peer")
    inbound = app.echo_server(15006, name="proxy-in", transparent=True)
    args = list(INJECTOR)
    args[args.index("-m") + 1] = "TPROXY"
    init(app, *args)
    res = peer.connect(app.ip4, 8080, b"tproxy")
    assert res.ok, res.error
    assert res.reply == b"tproxy"
    (entry,) = inbound.ledger()
    assert entry["local"] == [app.ip4, 8080]  # TPROXY keeps the original destination
    assert entry["peer"][0] == peer.ip4
    rules = app.sh(["ip", "rule", "list", "fwmark", "1337", "lookup", "133"]).stdout.decode()
    assert "lookup 133" in rules
    init(app, "--cleanup-only")
    assert app.sh(["ip", "rule", "list", "fwmark", "1337", "lookup", "133"]).stdout.decode() == ""


def test_dns_is_captured_only_with_redirect_dns(node, backend):
    app, peer = pods(node, "app", "peer")
    agent = app.echo_server(15053, name="agent-dns")
    proxy = app.echo_server(15001, name="proxy-out")
    dns = peer.echo_server(53, name="peer-dns")
    init(app, *INJECTOR, backend=backend)
    assert app.connect(peer.ip4, 53, b"to-proxy", uid=APP_UID).ok  # ordinary outbound capture
    init(app, *INJECTOR, "--redirect-dns", "--capture-all-dns", backend=backend)
    assert app.connect(peer.ip4, 53, b"to-agent", uid=APP_UID).ok
    assert app.connect(peer.ip4, 53, b"agent", uid=PROXY_UID).reply == b"agent"
    assert [(e["received"], e["original_dst"]) for e in proxy.ledger()] == [
        ("to-proxy", [peer.ip4, 53])]
    assert [(e["received"], e["original_dst"]) for e in agent.ledger()] == [
        ("to-agent", [peer.ip4, 53])]
    assert [e["received"] for e in dns.ledger()] == ["agent"]


# --- every golden file is valid for the kernel --------------------------------------


def golden_sections(path):
    sections, name, body = {}, None, []
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("# ") and ("restore" in line or "nft -f" in line or "policy" in line):
            if name:
                sections[name] = "".join(body)
            name, body = line[2:].strip(), []
        else:
            body.append(line)
    if name:
        sections[name] = "".join(body)
    return sections


@pytest.mark.parametrize("golden", sorted(p.stem for p in GOLDEN.glob("*.golden")))
def test_golden_rules_are_accepted_by_every_backend(node, golden):
    pod, = pods(node, "g")
    for header, body in golden_sections(GOLDEN / f"{golden}.golden").items():
        if header.startswith("iptables-restore"):
            tools = ["iptables-nft-restore", "iptables-legacy-restore"]
        elif header.startswith("ip6tables-restore"):
            tools = ["ip6tables-nft-restore", "ip6tables-legacy-restore"]
        elif header.startswith("nft -f"):
            tools = ["nft"]
        else:
            continue
        for tool in tools:
            args = [tool, "-f", "-"] if tool == "nft" else [tool, "--noflush"]
            res = pod.sh(args, input=body.encode(), check=False)
            assert res.returncode == 0, f"{golden}: {tool}: {res.stderr.decode()}"
