#!/usr/bin/env bash
# Runs every libFuzzer target of the `fuzz` preset for N seconds each, seeded
# with its corpus. New crash inputs land in fuzz/artifacts/; after a fix,
# copy them into fuzz/corpus/<target>/ so ctest replays them for ever.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
mkdir -p fuzz/artifacts
status=0
for bin in build-fuzz/fuzz/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  work=$(mktemp -d)
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="fuzz/artifacts/${name}-" "$work" "fuzz/corpus/$name" 2>"$work.log"; then
    tail -n 40 "$work.log"
    status=1
  else
    grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|cov:" "$work.log" | tail -n 1 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
