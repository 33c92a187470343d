"""Network-namespace pods for Remora's tests: a library, not a test.

A test builds a small "node" out of Linux network namespaces and runs real
programs in it: real iptables/nftables rules, real nginx, the real `remora`
binary. The kernel does the interception; nothing is faked.

    with netns.Run() as run:                       # owns every resource below
        node = run.node(ipv6=True)                 # namespace + bridge "br0"
        app = node.pod("app")                      # namespace + veth on br0
        peer = node.pod("peer")
        srv = peer.echo_server(8080)               # records a ledger
        res = app.connect(peer.ip4, 8080, b"hi", uid=1000)
        assert res.reply == b"hi"
        assert srv.ledger()[-1]["received"] == "hi"

Layout of one node:

    host namespace (never touched)
    ----------------------------------------------------------------
    rmr-<run>-node        br0 198.18.0.1/24, fd72:6d72::1/64
       |  vp-app ... vp-peer   (veth ends enslaved to br0)
    rmr-<run>-app         eth0 198.18.0.2/24  default via 198.18.0.1
    rmr-<run>-peer        eth0 198.18.0.3/24  default via 198.18.0.1

Addresses come from 198.18.0.0/15 (RFC 2544, reserved for tests) and the
ULA prefix fd72:6d72::/64. Every node is its own L2 domain inside its own
namespace, so two runs (two engineers, two ctest jobs) never share an
interface, an address or a name: every namespace name carries the run's id.

Ownership and cleanup
---------------------
A `Run` owns a directory /tmp/remora-netns/<run-id>/ holding an `owner.lock`
that it keeps flock()ed while alive, its namespaces (named rmr-<run-id>-*),
the processes it started (each in its own process group) and their logs.
`Run.close()` stops the processes (SIGTERM, then SIGKILL), kills anything
else left inside its namespaces, deletes the namespaces (which deletes their
veths) and removes the directory; it is idempotent and also runs at exit,
a SIGTERM included (turned into SystemExit, as Ctrl-C is into
KeyboardInterrupt).
`sweep_stale()` removes what a killed run (SIGKILL, ctest timeout) left
behind: any rmr-* namespace or run directory whose owner lock is free. Every
Run sweeps when it starts.

Threads: a Run and its objects are used from one thread.
Requires root, iproute2 and util-linux's setpriv; the helper scripts in
helpers/ are run with the same interpreter as the caller (sys.executable).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

PREFIX = "rmr-"
STATE_ROOT = Path(os.environ.get("REMORA_NETNS_STATE", "/tmp/remora-netns"))
HELPERS = Path(__file__).resolve().parent / "helpers"
SUBNET4 = ipaddress.ip_network("198.18.0.0/24")
SERVICE4 = ipaddress.ip_network("198.19.0.0/16")  # virtual IPs of Node.service()
SUBNET6 = ipaddress.ip_network("fd72:6d72::/64")
DEFAULT_TIMEOUT = 20.0


class HarnessError(RuntimeError):
    """A command of the harness itself failed (not the thing under test)."""


def _sh(argv: Sequence[str], *, check: bool = True, timeout: float = DEFAULT_TIMEOUT,
        input: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def list_namespaces() -> list[str]:
    """Names of every network namespace known to `ip netns`."""
    out = _sh(["ip", "-json", "netns", "list"], check=False).stdout.decode()
    try:
        return [entry["name"] for entry in json.loads(out or "[]")]
    except (ValueError, KeyError, TypeError):
        return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_namespace_processes(ns: str) -> None:
    for _ in range(50):
        pids = [int(p) for p in _sh(["ip", "netns", "pids", ns], check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _delete_namespace(ns: str) -> None:
    _kill_namespace_processes(ns)
    _sh(["ip", "netns", "delete", ns], check=False)


def _lock_is_free(lock_path: Path) -> bool:
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def sweep_stale() -> list[str]:
    """Removes namespaces and run directories of runs that no longer live.

    A run is alive while it holds its owner.lock. Returns what was removed.
    Safe to call while other runs are active: their locks are held.
    """
    removed: list[str] = []
    # The namespaces first, then each one's run: a run holds its lock before
    # it makes a namespace, so a namespace listed here whose run's lock is
    # free afterwards is left by a run that has ended. (Judging the runs
    # first let a run that started between the two steps lose the namespace
    # it had just made: a test starting beside another, ctest -j2, killed
    # the other's node set-up with SIGKILL.)
    lock_free: dict[str, bool] = {}
    for ns in list_namespaces():
        if not ns.startswith(PREFIX):
            continue
        run_id = ns[len(PREFIX):].split("-", 1)[0]
        if run_id not in lock_free:
            lock_free[run_id] = _lock_is_free(STATE_ROOT / run_id / "owner.lock")
        if not lock_free[run_id]:
            continue
        _delete_namespace(ns)
        removed.append(ns)
    if STATE_ROOT.is_dir():
        for run_dir in STATE_ROOT.iterdir():
            if not _lock_is_free(run_dir / "owner.lock"):
                continue
            if run_dir.name.startswith("."):
                # A run being created holds its lock only after open(); give it time.
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - run_dir.stat().st_mtime < 60:
                        continue
            shutil.rmtree(run_dir, ignore_errors=True)
            removed.append(str(run_dir))
    return removed


def _in_netns(ns: str, argv: Sequence[str], uid: int | None, gid: int | None,
              env: dict | None = None) -> list[str]:
    cmd = ["ip", "netns", "exec", ns]
    if uid is not None or gid is not None:
        uid = 0 if uid is None else uid
        gid = uid if gid is None else gid
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    if env:
        # Set for the program only: ip and setpriv still run with the caller's PATH.
        cmd += ["env", *[f"{k}={v}" for k, v in env.items()]]
    return cmd + [str(a) for a in argv]


class Process:
    """A long-running program started by a pod or node; stopped by its Run.

    stdout and stderr go to files in the run directory (`log()` reads them).
    The process leads its own process group, so stop() also ends anything it
    forked.
    """

    def __init__(self, name: str, argv: list[str], popen: subprocess.Popen,
                 stdout_path: Path, stderr_path: Path):
        self.name = name
        self.argv = argv
        self.popen = popen
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def returncode(self) -> int | None:
        return self.popen.poll()

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def log(self) -> str:
        return f"--- {self.name} stdout ---\n{self.stdout()}--- {self.name} stderr ---\n{self.stderr()}"

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds. Returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        # The group may outlive its leader (a daemon's children).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        return self.popen.wait(timeout=timeout)


class EchoServer(Process):
    """helpers/echo_server.py: echoes TCP or answers HTTP, and keeps a ledger.

    The ledger is one JSON object per connection (tcp) or request (http):
      {"listener": [ip, port], "peer": [ip, port], "local": [ip, port],
       "original_dst": [ip, port] | null, "redirected": bool,
       "received": "<bytes as latin-1>", "seq": "<x-seq header>" (http only)}
    original_dst is SO_ORIGINAL_DST: where a REDIRECTed connection was going.
    Without redirection it equals "local" (or is null when conntrack is not
    loaded in the namespace); "redirected" says which.
    """

    ledger_path: Path

    def ledger(self) -> list[dict]:
        if not self.ledger_path.exists():
            return []
        entries = []
        for line in self.ledger_path.read_text().splitlines():
            if line.strip():
                entries.append(json.loads(line))
        return entries


@dataclass
class ConnectResult:
    """What helpers/tcp_client.py saw: connected or not, the reply, the error."""

    connected: bool
    reply: bytes
    error: str
    local: tuple | None

    @property
    def ok(self) -> bool:
        return self.connected and not self.error


class Namespace:
    """Common to nodes and pods: one named network namespace of a Run."""

    def __init__(self, run: "Run", short: str):
        self.run = run
        self.short = short
        self.ns = f"{PREFIX}{run.id}-{short}"

    def cmd(self, argv: Sequence[str], uid: int | None = None, gid: int | None = None,
            env: dict | None = None) -> list[str]:
        """The argv that runs `argv` inside this namespace (as uid/gid, with the
        extra environment variables `env`, if given)."""
        return _in_netns(self.ns, argv, uid, gid, env)

    def run_cmd(self, argv: Sequence[str], *, uid: int | None = None, gid: int | None = None,
                check: bool = True, timeout: float = DEFAULT_TIMEOUT, input: bytes | None = None,
                env: dict | None = None) -> subprocess.CompletedProcess:
        """Runs a command to completion inside the namespace.

        `env` adds variables for the program itself (not for ip/setpriv).
        With check=True a non-zero exit raises HarnessError carrying stderr.
        stdout and stderr are bytes in the returned CompletedProcess.
        """
        return _sh(self.cmd(argv, uid, gid, env), check=check, timeout=timeout, input=input)

    # Short alias: pod.sh(["iptables-save"]).stdout
    sh = run_cmd

    def spawn(self, argv: Sequence[str], *, name: str | None = None, uid: int | None = None,
              gid: int | None = None, env: dict | None = None, cwd: str | None = None,
              cls: type = Process) -> Process:
        """Starts a long-running program inside the namespace; the Run stops it.
        `env` adds variables for the program itself."""
        return self.run.spawn(self.cmd(argv, uid, gid, env),
                              name=name or f"{self.short}-{Path(str(argv[0])).name}",
                              cwd=cwd, cls=cls)

    def listening(self, port: int, proto: str = "tcp") -> bool:
        flag = "-Hltn" if proto == "tcp" else "-Hlun"
        out = self.run_cmd(["ss", flag, f"sport = :{port}"], check=False).stdout.decode()
        return bool(out.strip())

    def wait_listening(self, port: int, proc: Process | None = None, proto: str = "tcp",
                       timeout: float = DEFAULT_TIMEOUT) -> None:
        """Waits until something listens on `port` here; fails early if `proc` dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.listening(port, proto):
                return
            if proc is not None and not proc.alive():
                raise HarnessError(f"{proc.name} exited {proc.returncode()} before listening "
                                   f"on {port}\n{proc.log()}")
            time.sleep(0.05)
        raise HarnessError(f"nothing listens on {proto}/{port} in {self.ns} after {timeout}s"
                           + (f"\n{proc.log()}" if proc else ""))

    def read_file(self, path: str | Path) -> str:
        """Reads a file (namespaces share the file system; this is for symmetry)."""
        return Path(path).read_text(errors="replace")

    def ruleset(self) -> str:
        """iptables-save (legacy and nft, v4 and v6) and `nft list ruleset`, for diagnostics
        and before/after comparisons."""
        parts = []
        for tool in ("iptables-legacy-save", "ip6tables-legacy-save", "iptables-nft-save",
                     "ip6tables-nft-save"):
            if shutil.which(tool):
                out = self.run_cmd([tool], check=False).stdout.decode()
                parts.append(f"# {tool}\n" + _strip_save_comments(out))
        if shutil.which("nft"):
            parts.append("# nft list ruleset\n" + self.run_cmd(["nft", "list", "ruleset"], check=False).stdout.decode())
        return "\n".join(parts)

    def diagnostics(self) -> str:
        addr = self.run_cmd(["ip", "-br", "addr"], check=False).stdout.decode()
        route = self.run_cmd(["ip", "route"], check=False).stdout.decode()
        socks = self.run_cmd(["ss", "-Htanp"], check=False).stdout.decode()
        return f"=== {self.ns}\n{addr}{route}{socks}{self.ruleset()}"


def _strip_save_comments(text: str) -> str:
    """iptables-save output without its timestamp comments, so two dumps compare equal."""
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


@dataclass
class Service:
    """A virtual IP:port the node DNATs to its backends (see Node.service)."""

    name: str
    vip: str
    port: int
    backends: list


class Node(Namespace):
    """A namespace holding the bridge that pods attach to, like a Kubernetes node.

    The bridge has the first address of each subnet and is every pod's default
    gateway; forwarding is on, and service() adds kube-proxy-like virtual IPs.
    """

    def __init__(self, run: "Run", short: str, ipv6: bool):
        super().__init__(run, short)
        self.ipv6 = ipv6
        self.pods: dict[str, Pod] = {}
        self.services: dict[str, Service] = {}
        self._next_host = 2
        self.gateway4 = SUBNET4.network_address + 1
        self.gateway6 = SUBNET6.network_address + 1
        _sh(["ip", "netns", "add", self.ns])
        run._namespaces.append(self.ns)
        script = [
            "set -e",
            "ip link set lo up",
            "sysctl -qw net.ipv4.ip_forward=1",
            "ip link add br0 type bridge",
            f"ip addr add {self.gateway4}/{SUBNET4.prefixlen} dev br0",
        ]
        if ipv6:
            script += [
                "sysctl -qw net.ipv6.conf.all.forwarding=1",
                "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
                f"ip addr add {self.gateway6}/{SUBNET6.prefixlen} dev br0 nodad",
            ]
        script.append("ip link set br0 up")
        self.run_cmd(["sh", "-c", "\n".join(script)])

    def pod(self, name: str, ipv6: bool | None = None) -> "Pod":
        """Creates a pod namespace joined to br0 by a veth (eth0 inside the pod)."""
        if name in self.pods:
            raise HarnessError(f"pod {name} already exists")
        if not name.replace("-", "").isalnum() or len(name) > 12:
            raise HarnessError(f"pod name {name!r}: use up to 12 letters, digits or '-'")
        host = self._next_host
        self._next_host += 1
        pod = Pod(self, name, host, self.ipv6 if ipv6 is None else ipv6)
        self.pods[name] = pod
        return pod

    def service(self, name: str, port: int, backends: Sequence[tuple["Pod", int]],
                vip: str | None = None) -> Service:
        """A ClusterIP-like service: TCP to vip:port from any pod is DNATed by
        this node, round robin, to the backends' (pod IPv4, port).

        VIPs come from 198.19.0.0/16 unless given. As kube-proxy does, a pod
        reaching itself through the VIP (hairpin) is masqueraded so the reply
        comes back through the node. IPv4 only. A meshed pod's outbound
        capture takes the connection before it ever reaches the node; an
        unmeshed pod's goes through here, the way kube-proxy serves it.
        """
        if name in self.services:
            raise HarnessError(f"service {name} already exists")
        if not backends:
            raise HarnessError(f"service {name}: no backends")
        vip = vip or str(SERVICE4.network_address + 10 + len(self.services))
        script = []
        if not self.services:
            script.append("table ip remora-svc {\n"
                          " chain prerouting { type nat hook prerouting priority -100; policy accept; }\n"
                          " chain postrouting { type nat hook postrouting priority 100; policy accept; }\n"
                          "}")
        entries = ", ".join(f"{i} : {pod.ip4} . {bport}" for i, (pod, bport) in enumerate(backends))
        script.append(f"add rule ip remora-svc prerouting ip daddr {vip} tcp dport {port} "
                      f"dnat ip to numgen inc mod {len(backends)} map {{ {entries} }}")
        for pod, _ in backends:
            script.append(f"add rule ip remora-svc postrouting ip saddr {pod.ip4} "
                          f"ip daddr {pod.ip4} ct status dnat masquerade")
        self.run_cmd(["nft", "-f", "-"], input=("\n".join(script) + "\n").encode())
        svc = Service(name, vip, port, [(pod.name, bport) for pod, bport in backends])
        self.services[name] = svc
        return svc

    def diagnostics(self) -> str:
        return "\n".join([super().diagnostics()] + [p.diagnostics() for p in self.pods.values()])


class Pod(Namespace):
    """A pod: a network namespace with lo up and eth0 on the node's bridge.

    Attributes: ip4 (str), ip6 (str or None), node, ns (the namespace name,
    for `ip netns exec`).
    """

    def __init__(self, node: Node, name: str, host: int, ipv6: bool):
        super().__init__(node.run, name)
        self.node = node
        self.name = name
        self.ip4 = str(SUBNET4.network_address + host)
        self.ip6 = str(SUBNET6.network_address + host) if ipv6 else None
        _sh(["ip", "netns", "add", self.ns])
        node.run._namespaces.append(self.ns)
        # The veth is created inside the node's namespace, its peer moved straight
        # into the pod: no interface ever exists in the host namespace.
        veth = f"vp{host}"
        node.run_cmd(["sh", "-c", "\n".join([
            "set -e",
            f"ip link add {veth} type veth peer name eth0 netns {self.ns}",
            f"ip link set {veth} master br0 up",
        ])])
        script = [
            "set -e",
            "ip link set lo up",
            f"ip addr add {self.ip4}/{SUBNET4.prefixlen} dev eth0",
        ]
        if ipv6:
            script += [
                "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
                "sysctl -qw net.ipv6.conf.eth0.accept_dad=0",
                f"ip addr add {self.ip6}/{SUBNET6.prefixlen} dev eth0 nodad",
            ]
        script.append("ip link set eth0 up")
        script.append(f"ip route add default via {node.gateway4}")
        if ipv6:
            script.append(f"ip -6 route add default via {node.gateway6}")
        self.run_cmd(["sh", "-c", "\n".join(script)])

    # --- programs -------------------------------------------------------------

    def echo_server(self, port: int, *, mode: str = "tcp", uid: int | None = None,
                    gid: int | None = None, bind4: str | None = "0.0.0.0",
                    bind6: str | None = None, transparent: bool = False,
                    name: str | None = None) -> EchoServer:
        """Starts helpers/echo_server.py on `port` and waits until it listens.

        mode "tcp" echoes bytes until the client half-closes; mode "http"
        answers each HTTP/1.1 request with 200 and a JSON body describing it.
        bind6 defaults to "::" when the pod has IPv6. Pass bind4=None for an
        IPv6-only listener. Each accepted connection's SO_ORIGINAL_DST (what
        iptables REDIRECT rewrote) is recorded in the ledger.
        """
        name = name or f"{self.name}-echo{port}"
        ledger = self.run.scratch / f"{name}.ledger.jsonl"
        ready = self.run.scratch / f"{name}.ready"
        argv = [sys.executable, str(HELPERS / "echo_server.py"), "--port", str(port),
                "--mode", mode, "--ledger", str(ledger), "--ready", str(ready), "--name", name]
        if bind4:
            argv += ["--bind4", bind4]
        if bind6 is None and self.ip6:
            bind6 = "::"
        if bind6:
            argv += ["--bind6", bind6]
        if transparent:
            argv.append("--transparent")
        proc = self.spawn(argv, name=name, uid=uid, gid=gid, cls=EchoServer)
        proc.ledger_path = ledger
        _wait_for(lambda: ready.exists(), proc, f"{name} ready")
        return proc

    def nginx(self, port: int = 80, *, body: str = "hello from nginx",
              server_extra: str = "", http_extra: str = "", name: str | None = None) -> Process:
        """Starts nginx (one process, no daemon) answering 200 `body` on `port`.

        Its config, pid file and logs live in the run directory:
        proc.access_log and proc.error_log are their paths.
        """
        name = name or f"{self.name}-nginx{port}"
        root = self.run.dir / name
        root.mkdir()
        listen6 = f"listen [::]:{port};" if self.ip6 else ""
        escaped = body.replace("\\", "\\\\").replace('"', '\\"')
        conf = f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 512; }}
http {{
  access_log {root}/access.log;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  {http_extra}
  server {{
    listen {port};
    {listen6}
    location / {{ default_type text/plain; return 200 "{escaped}\\n"; }}
    {server_extra}
  }}
}}
"""
        (root / "nginx.conf").write_text(conf)
        proc = self.spawn(["nginx", "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "stderr"],
                          name=name)
        proc.access_log = root / "access.log"
        proc.error_log = root / "error.log"
        self.wait_listening(port, proc)
        return proc

    def remora(self, args: Sequence[str], *, uid: int | None = None, gid: int | None = None,
               name: str | None = None, env: dict | None = None) -> Process:
        """Starts the remora binary (REMORA_BIN) with `args` as a long-running process."""
        return self.spawn([remora_bin(), *args], name=name or f"{self.name}-remora", uid=uid,
                          gid=gid, env=env)

    def run_remora(self, args: Sequence[str], *, check: bool = False,
                   timeout: float = DEFAULT_TIMEOUT, env: dict | None = None,
                   uid: int | None = None) -> subprocess.CompletedProcess:
        """Runs `remora args...` to completion inside the pod (stdout/stderr as text)."""
        proc = self.run_cmd([remora_bin(), *args], check=check, timeout=timeout, env=env, uid=uid)
        proc.stdout = proc.stdout.decode(errors="replace")
        proc.stderr = proc.stderr.decode(errors="replace")
        return proc

    def connect(self, host: str, port: int, payload: bytes = b"", *, uid: int | None = None,
                gid: int | None = None, timeout: float = 5.0,
                source: str | None = None) -> ConnectResult:
        """Opens a TCP connection from this pod (as uid/gid), sends `payload`,
        half-closes and reads the reply until EOF. Never raises for network
        errors: they are in the result (connected=False, error="...")."""
        argv = [sys.executable, str(HELPERS / "tcp_client.py"), "--host", host, "--port",
                str(port), "--timeout", str(timeout),
                "--send-b64", base64.b64encode(payload).decode()]
        if source:
            argv += ["--source", source]
        proc = self.run_cmd(argv, uid=uid, gid=gid, timeout=timeout + 10)
        out = json.loads(proc.stdout.decode())
        return ConnectResult(connected=out["connected"], reply=base64.b64decode(out["reply_b64"]),
                             error=out["error"],
                             local=tuple(out["local"]) if out.get("local") else None)


def _wait_for(cond, proc: Process, what: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if not proc.alive():
            raise HarnessError(f"{proc.name} exited {proc.returncode()} before {what}\n{proc.log()}")
        time.sleep(0.02)
    raise HarnessError(f"timed out waiting for {what}\n{proc.log()}")


def remora_bin() -> str:
    """The binary under test: $REMORA_BIN, else build/remora of this checkout."""
    path = os.environ.get("REMORA_BIN") or str(Path(__file__).resolve().parents[2] / "build" / "remora")
    if not os.access(path, os.X_OK):
        raise HarnessError(f"remora binary not found at {path} (set REMORA_BIN)")
    return path


def _exit_on_sigterm() -> None:
    """A plain `kill` (SIGTERM) ends a run as Ctrl-C does: as an exception,
    so `with Run()` blocks and the atexit hook remove what it made. Python's
    default for SIGTERM is to die on the spot and leave namespaces, nginx
    and proxies behind. Only from the main thread, and only where nobody set
    a handler of their own."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def exit_run(signum, _frame):
        # Once: a second SIGTERM (`timeout` forwards the one it got, pkill
        # hits both) must not cut the cleanup short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_run)


class Run:
    """Owns every namespace, process and file of one test run. See the module doc."""

    def __init__(self, sweep: bool = True):
        if os.geteuid() != 0:
            raise HarnessError("network-namespace tests need root")
        if sweep:
            sweep_stale()
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        os.chmod(STATE_ROOT, 0o755)
        # 8 hex digits: namespace names stay short and two runs never collide.
        # The directory is built under a hidden name and renamed into place with
        # its lock already held, so a concurrent sweep never sees it unlocked.
        while True:
            self.id = secrets.token_hex(4)
            self.dir = STATE_ROOT / self.id
            staging = STATE_ROOT / f".new-{self.id}"
            try:
                staging.mkdir()
            except FileExistsError:
                continue
            self._lock_fd = os.open(staging / "owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            if self.dir.exists():
                os.close(self._lock_fd)
                shutil.rmtree(staging, ignore_errors=True)
                continue
            staging.rename(self.dir)
            break
        os.chmod(self.dir, 0o755)
        # Programs that run as an app or proxy UID write their ledgers here.
        self.scratch = self.dir / "scratch"
        self.scratch.mkdir()
        os.chmod(self.scratch, 0o1777)
        self._namespaces: list[str] = []
        self._processes: list[Process] = []
        self.nodes: list[Node] = []
        self._closed = False
        atexit.register(self.close)
        _exit_on_sigterm()

    def node(self, ipv6: bool = False, name: str | None = None) -> Node:
        """A fresh node namespace with its bridge; pods are created from it."""
        node = Node(self, name or f"node{len(self.nodes) + 1}", ipv6)
        self.nodes.append(node)
        return node

    def tempfile(self, name: str, content: str | bytes = "") -> Path:
        """A file in the run directory (removed with the run)."""
        path = self.dir / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def spawn(self, argv: list[str], *, name: str, env: dict | None = None,
              cwd: str | None = None, cls: type = Process) -> Process:
        """Starts argv (already wrapped for its namespace) in a new process group."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        stdout_path = self.dir / f"{safe}.{len(self._processes)}.stdout"
        stderr_path = self.dir / f"{safe}.{len(self._processes)}.stderr"
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     env=full_env, cwd=cwd, start_new_session=True)
        proc = cls(name, argv, popen, stdout_path, stderr_path)
        self._processes.append(proc)
        return proc

    @property
    def processes(self) -> list[Process]:
        return list(self._processes)

    def logs(self) -> str:
        return "\n".join(p.log() for p in self._processes)

    def diagnostics(self) -> str:
        """Addresses, routes, sockets and rules of every namespace, then every log."""
        return "\n".join([n.diagnostics() for n in self.nodes] + [self.logs()])

    def close(self) -> None:
        """Stops every process, deletes every namespace and the run directory."""
        if self._closed:
            return
        self._closed = True
        for proc in reversed(self._processes):
            with contextlib.suppress(Exception):
                proc.stop(timeout=3.0)
        for ns in reversed(self._namespaces):
            _delete_namespace(ns)
        # Namespaces this run made but did not record (a crash mid-creation).
        for ns in list_namespaces():
            if ns.startswith(f"{PREFIX}{self.id}-"):
                _delete_namespace(ns)
        if os.environ.get("REMORA_NETNS_KEEP"):
            sys.stderr.write(f"netns: keeping {self.dir} (REMORA_NETNS_KEEP)\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        os.close(self._lock_fd)
        atexit.unregister(self.close)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def leftovers(run_id: str) -> list[str]:
    """What of run `run_id` still exists: namespaces, directory, processes in it.
    Used by the harness's own tests to prove cleanup."""
    found = [ns for ns in list_namespaces() if ns.startswith(f"{PREFIX}{run_id}-")]
    if (STATE_ROOT / run_id).exists():
        found.append(str(STATE_ROOT / run_id))
    return found


def main(argv: Iterable[str]) -> int:
    args = list(argv)
    if args == ["sweep"]:
        for item in sweep_stale():
            print(f"removed {item}")
        return 0
    if args == ["list"]:
        for ns in list_namespaces():
            if ns.startswith(PREFIX):
                print(ns)
        return 0
    print("usage: netns.py sweep | list", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
