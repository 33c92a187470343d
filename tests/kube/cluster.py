"""A real Kubernetes control plane on loopback, for the kube test tier.

Cluster starts etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK (one fake node, so pods are
scheduled, become Running and Ready, and rollouts complete) with certificates
made by openssl, on free 127.0.0.1 ports, with every file in one temporary
directory. Nothing listens on any other address and nothing is contacted
outside loopback: the Service CIDR and KWOK's pod IPs are never dialled.

Ownership: the Cluster owns its processes and its directory; stop() ends the
processes (SIGTERM, then SIGKILL) and removes the directory, and is safe to
call twice. The processes also die with the Python process that started them
(PR_SET_PDEATHSIG), so a test run killed by a timeout leaves nothing behind.

Failures raise ClusterError with the tail of the failing component's log.
"""

import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Runs in the child between fork and exec.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ClusterError(RuntimeError):
    pass


_handed_out = set()


def free_port():
    """A port free on every address now that no outgoing connection can take
    before its server binds it. The kernel's choice (bind to port 0) comes from
    the ephemeral range, where connect() also picks local ports: a connection
    made meanwhile (kubectl, the API server's to etcd) once took one, and the
    webhook's bind failed with "Address already in use". So the port is drawn
    below that range (net.ipv4.ip_local_port_range), never twice in a run."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(1000):
        port = random.randrange(10000, max(low, 10001))
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise ClusterError(f"no free port between 10000 and {low}")


def wait_until(what, predicate, timeout=60.0, interval=0.2):
    """Polls predicate() until it returns a truthy value; returns that value.

    Raises ClusterError naming `what` when the timeout runs out. Exceptions
    from predicate count as "not yet" (the last one is reported).
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported below if it persists
            last = e
        if time.monotonic() > deadline:
            detail = f": last error: {last}" if last else ""
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def tools_dir():
    """The directory of the binaries that scripts/kube-tools.sh built."""
    override = os.environ.get("REMORA_KUBE_BIN")
    if override:
        return Path(override)
    out = subprocess.run(["bash", str(REPO / "scripts/kube-tools.sh"), "--print-dir"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise ClusterError(out.stderr.strip() or "scripts/kube-tools.sh --print-dir failed")
    return Path(out.stdout.strip())


# --- certificates -----------------------------------------------------------

def _openssl(*args, cwd):
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise ClusterError(f"openssl {' '.join(args)}: {out.stderr.strip()}")


class CertificateAuthority:
    """A throwaway CA in `directory` (ca.crt, ca.key) that issues leaf certificates."""

    def __init__(self, directory, name):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.cert = self.dir / f"{name}.crt"
        self.key = self.dir / f"{name}.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key.name, "-out", self.cert.name, "-days", "2",
                 "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def issue(self, name, subject, *, server_sans=None, client=False, days=2):
        """Issues <name>.crt/<name>.key; returns (cert path, key path)."""
        key, csr, crt, ext = (f"{name}.key", f"{name}.csr", f"{name}.crt", f"{name}.ext")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", subject, cwd=self.dir)
        lines = ["basicConstraints=critical,CA:FALSE",
                 "keyUsage=critical,digitalSignature,keyEncipherment"]
        if server_sans:
            lines.append("subjectAltName=" + ",".join(server_sans))
            lines.append("extendedKeyUsage=serverAuth")
        if client:
            lines.append("extendedKeyUsage=clientAuth")
        (self.dir / ext).write_text("\n".join(lines) + "\n")
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert.name, "-CAkey", self.key.name,
                 "-CAcreateserial", "-out", crt, "-days", str(days), "-extfile", ext, cwd=self.dir)
        return self.dir / crt, self.dir / key


# --- processes --------------------------------------------------------------

class Process:
    """One child process, its output in <log_dir>/<name>.log."""

    def __init__(self, name, argv, log_dir, env=None):
        self.name = name
        self.log = Path(log_dir) / f"{name}.log"
        self._log_file = open(self.log, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                      stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                      preexec_fn=_die_with_parent)

    def alive(self):
        return self.popen.poll() is None

    def tail(self, lines=30):
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(line[:400] for line in text[-lines:])

    def check_alive(self):
        if not self.alive():
            raise ClusterError(f"{self.name} exited with {self.popen.returncode}; its log ends:\n"
                               f"{self.tail()}")

    def stop(self, grace=10.0):
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log_file.close()


# --- the cluster ------------------------------------------------------------

_DIR_PREFIX = "remora-kube-"


def _remove_abandoned_dirs():
    """Removes the directories of earlier runs that were killed (SIGKILL skips cleanup).

    A directory is abandoned when the process named in its owner.pid is gone;
    directories of live runs (another helper's, say) and kept ones
    (REMORA_KUBE_KEEP, no owner.pid after stop) are left alone.
    """
    for d in Path(tempfile.gettempdir()).glob(_DIR_PREFIX + "*"):
        try:
            pid = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


class Cluster:
    """etcd + kube-apiserver + controller-manager + scheduler + KWOK on loopback.

    Attributes once started: `dir` (everything lives there), `kubeconfig`,
    `server` (https URL), `ca` (the cluster CA, which also signs webhook
    serving certificates when a test wants one), `node` (the fake node's name).
    """

    NODE = "kwok-node-0"

    def __init__(self, bin_dir, keep=False):
        self.bin = Path(bin_dir)
        self.keep = keep
        _remove_abandoned_dirs()
        self.dir = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX))
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        self.procs = []
        self.kubeconfig = self.dir / "kubeconfig"
        self.server = None
        self.node = self.NODE

    # Public ------------------------------------------------------------------

    def start(self):
        try:
            self._certificates()
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig()
            self._start_controllers()
            self._start_kwok()
            self.wait_for_service_account("default")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for proc in reversed(self.procs):
            proc.stop()
        self.procs = []
        if self.keep:
            (self.dir / "owner.pid").unlink(missing_ok=True)
            print(f"kube cluster files kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, extra_path=()):
        """The environment in which `kubectl` is ours and talks to this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = os.pathsep.join([*map(str, extra_path), str(self.bin), env.get("PATH", "")])
        env.pop("HTTPS_PROXY", None)
        env.pop("https_proxy", None)
        return env

    def kubectl(self, *args, input=None, check=True, timeout=120):
        """Runs our kubectl against this cluster; returns the CompletedProcess (text).

        With check=True a non-zero exit raises ClusterError carrying stderr.
        """
        self.check_alive()
        argv = [str(self.bin / "kubectl"), *map(str, args)]
        out = subprocess.run(argv, input=input, capture_output=True, text=True,
                             env=self.env(), timeout=timeout, preexec_fn=_die_with_parent)
        if check and out.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(map(str, args))} exited {out.returncode}:\n"
                               f"{out.stderr.strip()}")
        return out

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def sh(self, command, check=True, timeout=120):
        """Runs a shell command line verbatim (as a person types it) against this cluster."""
        self.check_alive()
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                             env=self.env(), timeout=timeout, preexec_fn=_die_with_parent)
        if check and out.returncode != 0:
            raise ClusterError(f"`{command}` exited {out.returncode}:\n{out.stderr.strip()}")
        return out

    def check_alive(self):
        for proc in self.procs:
            proc.check_alive()

    def logs(self):
        return {p.name: p.tail() for p in self.procs}

    def wait_for_service_account(self, namespace, timeout=60):
        """Pods are refused until the namespace's `default` ServiceAccount exists."""
        wait_until(f"ServiceAccount default in {namespace}",
                   lambda: self.kubectl("get", "serviceaccount", "default", "-n", namespace,
                                        check=False).returncode == 0, timeout)

    def create_namespace(self, name, labels=None):
        self.kubectl("create", "namespace", name)
        if labels:
            self.kubectl("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
        self.wait_for_service_account(name)

    def delete_namespace(self, name, wait=True, timeout=120):
        """Deletes a namespace; wait=True returns only once it is gone (to reuse its name)."""
        self.kubectl("delete", "namespace", name, "--ignore-not-found", f"--wait={str(wait).lower()}",
                     f"--timeout={timeout}s", timeout=timeout + 30)

    # Start-up ------------------------------------------------------------------

    def _certificates(self):
        pki = self.dir / "pki"
        self.ca = CertificateAuthority(pki, "ca")
        self.apiserver_cert = self.ca.issue(
            "apiserver", "/CN=kube-apiserver",
            server_sans=["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes",
                         "DNS:kubernetes.default", "DNS:kubernetes.default.svc"])
        # system:masters: the admin identity kubectl and the controllers use.
        self.admin_cert = self.ca.issue("admin", "/O=system:masters/CN=remora-test-admin",
                                        client=True)
        self.sa_key = pki / "sa.key"
        self.sa_pub = pki / "sa.pub"
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=pki)
        _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)

    def _spawn(self, name, argv, env=None):
        proc = Process(name, argv, self.dir, env=env)
        self.procs.append(proc)
        return proc

    def _start_etcd(self):
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._spawn("etcd", [
            str(self.bin / "etcd"),
            "--name", "remora-test",
            "--data-dir", str(self.dir / "etcd"),
            "--listen-client-urls", self.etcd_url,
            "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"remora-test=http://127.0.0.1:{peer}",
            "--log-level", "warn",
            # Throwaway data: skipping fsync spares the shared disk and CPU.
            "--unsafe-no-fsync",
        ])

        def healthy():
            etcd.check_alive()
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"

        wait_until("etcd /health", healthy, timeout=30)

    def _tls_context(self):
        ctx = ssl.create_default_context(cafile=str(self.ca.cert))
        ctx.load_cert_chain(*map(str, self.admin_cert))
        return ctx

    def _start_apiserver(self):
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        crt, key = self.apiserver_cert
        api = self._spawn("kube-apiserver", [
            str(self.bin / "kube-apiserver"),
            "--etcd-servers", self.etcd_url,
            "--bind-address", "127.0.0.1",
            "--secure-port", str(port),
            "--advertise-address", "127.0.0.1",
            # The default reconciler refuses a loopback advertise address; with
            # `none` the `kubernetes` Service simply has no endpoints.
            "--endpoint-reconciler-type", "none",
            "--cert-dir", str(self.dir / "apiserver"),
            "--tls-cert-file", str(crt),
            "--tls-private-key-file", str(key),
            "--client-ca-file", str(self.ca.cert),
            "--service-account-key-file", str(self.sa_pub),
            "--service-account-signing-key-file", str(self.sa_key),
            "--service-account-issuer", "https://kubernetes.default.svc",
            # Allocation only: ClusterIPs are recorded, never dialled.
            "--service-cluster-ip-range", "10.96.0.0/16",
            "--authorization-mode", "Node,RBAC",
            # The defaults plus the two the seed is about, named so that a
            # change of defaults cannot drop them.
            "--enable-admission-plugins",
            "NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,"
            "ValidatingAdmissionWebhook",
            "--profiling=false",
        ])
        ctx = self._tls_context()

        def ready():
            api.check_alive()
            with urllib.request.urlopen(f"{self.server}/readyz", context=ctx, timeout=5) as r:
                return r.status == 200

        wait_until("kube-apiserver /readyz", ready, timeout=120, interval=0.5)

    def _write_kubeconfig(self):
        crt, key = self.admin_cert
        kc = str(self.kubeconfig)
        steps = [
            ["config", "set-cluster", "remora-test", f"--server={self.server}",
             f"--certificate-authority={self.ca.cert}", "--embed-certs=true"],
            ["config", "set-credentials", "admin", f"--client-certificate={crt}",
             f"--client-key={key}", "--embed-certs=true"],
            ["config", "set-context", "remora-test", "--cluster=remora-test", "--user=admin"],
            ["config", "use-context", "remora-test"],
        ]
        for step in steps:
            subprocess.run([str(self.bin / "kubectl"), f"--kubeconfig={kc}", *step], check=True,
                           capture_output=True)

    def _start_controllers(self):
        kc = str(self.kubeconfig)
        common = [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                  f"--authorization-kubeconfig={kc}", "--leader-elect=false",
                  "--bind-address=127.0.0.1", "--secure-port=0"]
        self._spawn("kube-controller-manager", [
            str(self.bin / "kube-controller-manager"), *common,
            f"--service-account-private-key-file={self.sa_key}",
            f"--root-ca-file={self.ca.cert}",
            "--use-service-account-credentials=false",
        ])
        self._spawn("kube-scheduler", [str(self.bin / "kube-scheduler"), *common])

    def _start_kwok(self):
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node,
                         "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": self.node,
                                    "kubernetes.io/os": "linux"}},
            "spec": {},
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(node))
        self._spawn("kwok", [
            str(self.bin / "kwok"),
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.bin / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            # Fake addresses on loopback, written into status only.
            "--node-ip=127.0.0.1",
            "--cidr=127.100.0.0/16",
            "--server-address=127.0.0.1:0",
        ])

        def node_ready():
            self.check_alive()
            node_obj = self.kubectl_json("get", "node", self.node)
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in node_obj.get("status", {}).get("conditions", []))

        wait_until(f"node {self.node} Ready (KWOK)", node_ready, timeout=60)
