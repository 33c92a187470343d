"""`make demo` itself (scripts/demo.sh): it exits 0 and shows every step.

tests/netns/test_local.py asserts the flow piece by piece; this runs the
script a newcomer runs, with its output piped (no colours), and checks that
each step of issue 9 printed its evidence, so the README's promise and the
script cannot drift apart silently.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_the_whole_story():
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, f"demo exited {proc.returncode}\n{out}\n{proc.stderr}"
    assert "FAILED" not in out
    assert "\x1b[" not in out, "colours in piped output"

    # 1. injection, with the opted-out pod skipped.
    assert re.search(r'Deployment "web": injected', out)
    assert re.search(r'Deployment "batch": skipped', out)
    # 3. the seed's verification, per pod.
    assert re.search(r"pod/web-\S+\s+web istio-proxy\s+istio-init\s+meshed", out)
    assert re.search(r"pod/client-\S+\s+client istio-proxy\s+istio-init\s+meshed", out)
    assert re.search(r"pod/batch-\S+\s+batch\s+\(none\)\s+not meshed, as asked", out)
    assert re.search(r"pod/reporter-\S+\s+reporter\s+\(none\)\s+NOT MESHED", out)
    # 4. traffic through both sidecars: answers, both proxies' counters, one request id.
    assert out.count("hello from web-") >= 3
    assert re.search(r'istio_requests_total\{[^}]*reporter="source"', out)
    assert re.search(r'istio_requests_total\{[^}]*reporter="destination"', out)
    assert re.search(r"x-request-id [0-9a-f-]{36} is in both sidecars' access logs", out)
    # ... with mTLS: the sidecar's own identity from the CA, principals in the metrics.
    assert re.search(r"^  spiffe://cluster.local/ns/hello/sa/client$", out, re.M)
    assert re.search(r'istio_requests_total\{reporter="destination"[^}]*'
                     r'source_principal="spiffe://cluster.local/ns/hello/sa/client"[^}]*'
                     r'connection_security_policy="mutual_tls"', out)
    # 5. partial injection found by remora check, and fixed by the restart.
    assert re.search(r"error\s+IST0103\s+hello\s+pod/reporter-\S+\s+deployment/reporter", out)
    assert "kubectl rollout restart deployment/reporter -n hello" in out
    assert "remora check names the pod without a sidecar" in out
    # STRICT mTLS refuses the pod without a sidecar, not the meshed client.
    assert "remora local: 1 policy applied to 2 proxy configs" in out
    assert "refused: web's sidecar takes only mTLS now" in out
    assert "the meshed client still gets through: its sidecar speaks mTLS" in out
    assert "remora check exits 0: no pod is missing its sidecar" in out
    assert "every pod of namespace hello is meshed or opted out" in out
    assert "the restarted reporter calls web through its own sidecar, with mTLS, under STRICT" in out
    # 6. nothing left.
    assert re.search(r"no namespace, process, rule or file of run \S+ is left", out)
    assert re.search(r"demo: done in \d+ s\.", out)
