#!/usr/bin/env bash
# Builds fortio, the load generator Istio's own benchmarks use, from the Go
# module proxy, for bench/latency_bench.py. Benchmark infrastructure only:
# never part of the product or of the tests.
#
#   bench/fortio.sh    build if needed, then print the binary's path (the only
#                      output when it is cached)
#
# What is built is the test-only Go module bench/fortio/: fortio's own load
# engine (fortio.org/fortio's periodic and fhttp packages) behind a `fortio
# load` front of ours, because upstream's main package also links its
# scripting mode, whose module (grol.io/grol) the module proxy does not serve
# here, so `go install fortio.org/fortio@version` fails. The module's go.sum
# pins every byte.
#
# The binary is cached outside the tree, in
# ${REMORA_BENCH_CACHE:-~/.cache/remora/bench}/fortio-<version>-<hash>/fortio,
# the hash being of the module's files and the build flags, so a rerun costs a
# stat and a change is a new directory. The first build takes about a
# CPU-minute; a lock makes concurrent callers wait for one build.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly FORTIO_VERSION=v1.75.3
readonly module_dir=bench/fortio
readonly cache_root=${REMORA_BENCH_CACHE:-${HOME}/.cache/remora/bench}
readonly build_flags=(-trimpath -ldflags "-s -w")
sum=$( (cat "$module_dir/go.mod" "$module_dir/go.sum" "$module_dir/main.go"
  echo "${build_flags[*]} CGO_ENABLED=0") | sha256sum | cut -c1-12)
readonly out_dir=$cache_root/fortio-$FORTIO_VERSION-$sum
readonly bin=$out_dir/fortio

if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "fortio: building fortio needs Go >= 1.25 (go not found on PATH)" >&2
  exit 1
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
  echo "fortio: another build is running; waiting for it" >&2
  flock 9
fi
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi

# The machine's own Go; -mod=readonly so that the build never rewrites the
# committed go.mod/go.sum; a build cache of our own; a static binary.
export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOCACHE=$cache_root/go-build
export CGO_ENABLED=0

staging=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$staging"' EXIT
echo "fortio: building fortio $FORTIO_VERSION into $out_dir" >&2
start=$SECONDS
(cd "$module_dir" && go build -p "${FORTIO_JOBS:-2}" "${build_flags[@]}" -o "$staging/fortio" .)

got=$("$staging/fortio" version)
if [[ $got != "$FORTIO_VERSION" ]]; then
  echo "fortio: built fortio links fortio.org/fortio '$got', expected $FORTIO_VERSION" >&2
  exit 1
fi

rm -rf "$out_dir"
mv "$staging" "$out_dir"
trap - EXIT
echo "fortio: built in $((SECONDS - start)) s" >&2
echo "$bin"
