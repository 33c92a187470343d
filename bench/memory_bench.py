#!/usr/bin/python3
"""Side by side in one run: what an idle sidecar holds in memory, and what
each service of its mesh config adds (PERFORMANCE.md goal 3).

For each mesh size (no services; 100 services with 1,000 endpoints, the
test point of goal 3; 1,000 services with 10 endpoints each, and with one:
one HTTP port per service, labels, a workload name and a service account
on every endpoint, as the control plane would send them), a
fresh `remora proxy sidecar --concurrency 2` (Istio's default worker count)
in a network-namespace pod as UID 1337, idle and ready
(/healthz/ready on 15021 answers 200), and beside it HAProxy 2.6 (two
threads) with the same services as backends and servers (no health checks),
the baseline. Reported per process: RSS, its anonymous part (the process's
own memory; the rest is shared library and binary pages, shared with every
other process mapping the same files), PSS, and per service the anonymous
memory it adds over the empty config.

Then reloads: the 1,000 × 1 sidecar is handed three new configs (one
endpoint address changed each time), left for two of its idle-memory
checks (12 s), and measured again beside its fresh figure: what the
snapshots it dropped left behind.

Figures, not assertions: never run by the tests. Needs root, haproxy and
build/remora (REMORA_BIN). Usage: bench/memory_bench.py
"""

import os
import sys
import time

import proxy_bench
from proxy_bench import netns

# (services, endpoints per service)
SIZES = [(0, 0), (100, 10), (1000, 10), (1000, 1)]
RELOADS = 3
RELOAD_SETTLE_S = 12  # past two of the workers' idle-memory checks (5 s each)


def remora_config(services, per_service):
    lines = ["services:"]
    for s in range(services):
        lines += [f"- name: svc{s}", "  namespace: bench",
                  f"  hostname: svc{s}.bench.svc.cluster.local",
                  f"  addresses: [10.96.{s // 250}.{s % 250 + 1}]",
                  "  ports: [{name: http, port: 8080, protocol: HTTP, targetPort: 8080}]",
                  "  endpoints:"]
        for e in range(per_service):
            n = s * per_service + e
            lines += [f"  - address: 10.{1 + n // 65025}.{n // 255 % 255}.{n % 255 + 1}",
                      f"    workload: svc{s}-v1", "    serviceAccount: bench",
                      f"    labels: {{app: svc{s}, version: v1, security.istio.io/tlsMode: istio}}"]
    return "\n".join(lines) + "\n" if services else "{}\n"


def haproxy_config(services, per_service):
    out = ["global", "  nbthread 2", "defaults", "  mode http", "  timeout connect 5s",
           "  timeout client 30s", "  timeout server 30s", "frontend out",
           "  bind 127.0.0.1:9001", "  default_backend svc0" if services else ""]
    for s in range(services):
        out.append(f"backend svc{s}")
        for e in range(per_service):
            n = s * per_service + e
            out.append(f"  server e{e} 10.{1 + n // 65025}.{n // 255 % 255}.{n % 255 + 1}:8080")
    return "\n".join(out) + "\n"


def reload(cfg, services, per_service, generation, proc):
    """Rewrites the config (one endpoint address changed) the way a ConfigMap
    update lands (a rename), and waits for the sidecar to take it."""
    text = remora_config(services, per_service).replace(
        "address: 10.1.0.1\n", f"address: 10.250.0.{generation}\n", 1)
    tmp = cfg.with_suffix(".next")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, cfg)
    deadline = time.monotonic() + 30
    while f"(generation {generation}," not in proc.log():
        if time.monotonic() > deadline or not proc.alive():
            raise netns.HarnessError(f"the sidecar did not take reload {generation}\n{proc.log()}")
        time.sleep(0.1)


def wait_ready(pod, proc):
    deadline = time.monotonic() + 30
    while proxy_bench.local_get(pod, 15021, "/healthz/ready")[0] != 200:
        if time.monotonic() > deadline or not proc.alive():
            raise netns.HarnessError(f"the sidecar is not ready\n{proc.log()}")
        time.sleep(0.1)


def main():
    rows = []
    with netns.Run() as run:
        node = run.node()
        for services, per_service in SIZES:
            name = f"mem{services}x{per_service}"
            pod = node.pod(name)
            cfg = run.tempfile(f"{name}.yaml", remora_config(services, per_service))
            os.chmod(cfg, 0o644)
            reloads = (services, per_service) == (1000, 1)
            proc = pod.remora(["proxy", "sidecar", "--concurrency", "2", "--config", str(cfg),
                               "--proxyLogLevel", "info" if reloads else "warning"], uid=1337)
            pod.wait_listening(15001, proc)
            wait_ready(pod, proc)
            hcfg = run.tempfile(f"{name}-haproxy.cfg", haproxy_config(services, per_service))
            os.chmod(hcfg, 0o644)
            hap = pod.spawn(["haproxy", "-db", "-f", str(hcfg)], name=f"{name}-haproxy", uid=1337)
            pod.wait_listening(9001, hap)
            time.sleep(1)  # both settled: config applied, workers parked
            rows.append((services, per_service, proxy_bench.smaps_kib(proc.pid), proxy_bench.smaps_kib(hap.pid)))
            if reloads:
                for generation in range(1, RELOADS + 1):
                    reload(cfg, services, per_service, generation, proc)
                time.sleep(RELOAD_SETTLE_S)
                reloaded = (services, per_service, rows[-1][2], proxy_bench.smaps_kib(proc.pid))
            proc.stop()
            hap.stop()

    print(f"# memory_bench: idle processes; load average {os.getloadavg()[0]:.1f}")
    print("| services | endpoints | remora RSS | anonymous | PSS | anonymous per service | "
          "haproxy RSS | anonymous | PSS | anonymous per service |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    base_r, base_h = rows[0][2][1], rows[0][3][1]
    for services, per_service, r, h in rows:
        per = (lambda anon, base: f"{(anon - base) / services:.2f} KiB" if services else "-")
        print(f"| {services:,} | {services * per_service:,} | {r[0] / 1024:.1f} MiB | "
              f"{r[1] / 1024:.1f} MiB | {r[2] / 1024:.1f} MiB | {per(r[1], base_r)} | "
              f"{h[0] / 1024:.1f} MiB | {h[1] / 1024:.1f} MiB | {h[2] / 1024:.1f} MiB | "
              f"{per(h[1], base_h)} |")
    services, per_service, fresh, after = reloaded
    print(f"\n# {services:,} services × {per_service}: fresh, then {RELOADS} reloads and "
          f"{RELOAD_SETTLE_S} s idle")
    print("| remora | RSS | anonymous | PSS |")
    print("| --- | --- | --- | --- |")
    for label, r in (("fresh", fresh), (f"after {RELOADS} reloads", after)):
        print(f"| {label} | {r[0] / 1024:.1f} MiB | {r[1] / 1024:.1f} MiB | {r[2] / 1024:.1f} MiB |")


if __name__ == "__main__":
    sys.exit(main())
