#!/usr/bin/env bash
# Builds the Kubernetes control plane that the kube test tier (tests/kube/)
# runs: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl and KWOK, from the Go module proxy, through the test-only Go module
# tests/kube/tools/ (its go.sum pins every byte).
#
# etcd is built too (v3.7.0, the version Kubernetes v1.37.2 pins for its
# client) rather than taken from Debian: the API server accepts Debian's
# 3.4.23, but that etcd has no watch progress notifications, so watch-list
# streams fail and KWOK saw pod changes only on relists, seconds to a minute
# late (the tier took 3.5 minutes instead of 30 seconds).
#
#   scripts/kube-tools.sh              build if needed (seconds when cached)
#   scripts/kube-tools.sh --print-dir  print the binary directory; exit 1 if
#                                      it has not been built
#
# The binaries are cached outside the tree, in
# ${REMORA_KUBE_CACHE:-~/.cache/remora/kube}/<versions>-<go.sum hash>/, so a
# rerun costs a stat. The first build takes 13 CPU-minutes (see
# README.md); a lock makes concurrent callers wait for one build instead of
# running two.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly KUBE_VERSION=v1.37.2
readonly KWOK_VERSION=v0.8.0
readonly ETCD_VERSION=v3.7.0
readonly module_dir=tests/kube/tools
readonly cache_root=${REMORA_KUBE_CACHE:-${HOME}/.cache/remora/kube}

# What the binaries are made of: the pinned module (go.sum pins every
# byte), the packages and the flags. The cache key is its hash, so a change
# of any of them is a new directory and a stale build is never reused.
readonly packages=(
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler
  k8s.io/kubernetes/cmd/kubectl
  sigs.k8s.io/kwok/cmd/kwok
)
readonly etcd_package=go.etcd.io/etcd/server/v3
# The version stamps that Kubernetes' own build (hack/lib/version.sh) sets;
# without them every binary says v0.0.0-master and kubectl cannot parse it.
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done
readonly build_flags=(-trimpath -ldflags "$ldflags")
# KWOK's "fast" stages from the same module: nodes become Ready at once, pods
# Running and Ready, Jobs' pods Succeeded, deleted pods go away.
readonly stage_files=(node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
sum=$( (cat "$module_dir/go.mod" "$module_dir/go.sum"
  echo "${packages[*]} $etcd_package ${build_flags[*]} CGO_ENABLED=0 ${stage_files[*]}") |
  sha256sum | cut -c1-12)
readonly out_dir=$cache_root/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-$sum
readonly stamp=$out_dir/.complete

if [[ ${1:-} == --print-dir ]]; then
  if [[ -f $stamp ]]; then
    echo "$out_dir"
    exit 0
  fi
  echo "kube-tools: not built yet; run scripts/kube-tools.sh (or make kube-tools)" >&2
  exit 1
fi
[[ -f $stamp ]] && exit 0

if ! command -v go >/dev/null; then
  echo "kube-tools: the kube tier needs Go >= 1.26 (go not found on PATH)" >&2
  exit 1
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
  echo "kube-tools: another build is running; waiting for it" >&2
  flock 9
fi
[[ -f $stamp ]] && exit 0

# The machine's own Go; -mod=readonly so that the build never rewrites the
# committed go.mod/go.sum; a build cache of our own, kept between versions.
export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOCACHE=$cache_root/go-build
export CGO_ENABLED=0

staging=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$staging"' EXIT
echo "kube-tools: building Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION and KWOK $KWOK_VERSION" \
  "into $out_dir" \
  "(first build: about 13 CPU-minutes)" >&2
start=$SECONDS
(
  cd "$module_dir"
  go build -p "${KUBE_TOOLS_JOBS:-2}" "${build_flags[@]}" -o "$staging/" "${packages[@]}"
  # etcd's main package is the module root: name the binary.
  go build -p "${KUBE_TOOLS_JOBS:-2}" "${build_flags[@]}" -o "$staging/etcd" "$etcd_package"
)

kwok_dir=$(cd "$module_dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
stages=$kwok_dir/kustomize/stage
for f in "${stage_files[@]}"; do
  echo '---'
  cat "$stages/$f"
done >"$staging/kwok-stages.yaml"

got=$("$staging/kube-apiserver" --version)
if [[ $got != "Kubernetes $KUBE_VERSION" ]]; then
  echo "kube-tools: built kube-apiserver says '$got', expected 'Kubernetes $KUBE_VERSION'" >&2
  exit 1
fi
got=$("$staging/etcd" --version | sed -n 1p)
if [[ $got != "etcd Version: ${ETCD_VERSION#v}" ]]; then
  echo "kube-tools: built etcd says '$got', expected etcd ${ETCD_VERSION#v}" >&2
  exit 1
fi

rm -rf "$out_dir"
mv "$staging" "$out_dir"
trap - EXIT
touch "$stamp"
echo "kube-tools: built in $((SECONDS - start)) s" >&2
