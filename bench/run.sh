#!/usr/bin/env bash
# Runs every benchmark binary of the release build and reports each of ours
# as a ratio against the baseline measured in the same run. Never part of
# the tests: timings are figures, not assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build --preset release --target benchmarks
out=build/bench/results
mkdir -p "$out"
for bin in build/bench/*_bench; do
  [[ -x $bin ]] || continue
  name=$(basename "$bin")
  echo "== $name"
  "$bin" --benchmark_format=console --benchmark_out="$out/$name.json" \
    --benchmark_out_format=json --benchmark_repetitions="${BENCH_REPETITIONS:-3}" \
    --benchmark_report_aggregates_only=true
  /usr/bin/python3 bench/ratios.py "$out/$name.json"
done
echo "== remora inject (CLI, 10,000 documents)"
bash bench/inject_cli.sh
echo "== remora webhook (concurrent reviews over HTTPS)"
build/bench/webhook_load --seconds "${WEBHOOK_BENCH_SECONDS:-5}"
echo "== the proxy hop: req/s at saturation (wrk), CPU, RSS"
/usr/bin/python3 bench/proxy_bench.py "${PROXY_BENCH_SECONDS:-5}"
echo "== the idle sidecar's memory and what each service of its config adds"
/usr/bin/python3 bench/memory_bench.py
echo "== the proxy hop: added latency at fixed rates (fortio)"
/usr/bin/python3 bench/latency_bench.py "${LATENCY_BENCH_SECONDS:-10}"
echo "== mTLS between sidecars: the pair with and without mTLS, HAProxy's mTLS pair"
/usr/bin/python3 bench/mtls_bench.py --seconds "${MTLS_BENCH_SECONDS:-5}"
echo "== system calls per request, every setup side by side (strace -c)"
/usr/bin/python3 bench/syscall_bench.py
echo "== what the scheduler does with each proxy under load, requests/s per proxy core"
/usr/bin/python3 bench/sched_bench.py
echo "== instructions per request, every proxy in the sidecar's place (callgrind)"
/usr/bin/python3 bench/instructions_bench.py
echo "== minutes of load on both mTLS pairs at once: memory over time, where it lies"
/usr/bin/python3 bench/soak_bench.py --minutes "${SOAK_BENCH_MINUTES:-10}"
