#!/usr/bin/env bash
# Installs every Debian package that building, testing, the demo and the
# benchmarks need. Idempotent and quiet: when everything is present it only
# runs dpkg-query and exits. Both README commands (`make demo`, `make test`)
# call it, so a fresh machine needs nothing done by hand.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  clang-14 clang-format-14 clang-tidy-14 libclang-rt-14-dev lld-14
  # the linker of optimised builds: it lays out the hot text (cmake/Remora.cmake)
  lld
  # libraries the product links (all from Debian, see docs/architecture.md)
  libssl-dev libnghttp2-dev libyaml-cpp-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libasio-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the baseline parser the HTTP/1.1 codec benchmark compares against
  # (libllhttp-dev is not packaged in Debian 12)
  libhttp-parser-dev
  # test tiers and benches: network namespaces, real apps, real tools
  iproute2 iptables nftables procps psmisc curl openssl jq
  nginx-light haproxy wrk strace valgrind
  python3 python3-pytest python3-yaml python3-h2
  etcd-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages such as nginx and etcd-server start a daemon on install; the tests
# start their own instances on loopback, so keep the packaged ones stopped.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if ((created_policy)); then rm -f "$policy"; fi; }
trap cleanup EXIT

apt_get() { apt-get -o Dpkg::Use-Pty=0 -o APT::Color=0 -qq "$@"; }
if ! apt_get install -y --no-install-recommends "${missing[@]}" >/tmp/remora-apt.log 2>&1; then
  apt_get update >>/tmp/remora-apt.log 2>&1
  if ! apt_get install -y --no-install-recommends "${missing[@]}" >>/tmp/remora-apt.log 2>&1; then
    echo "install-deps: apt-get failed; last lines of /tmp/remora-apt.log:" >&2
    tail -n 30 /tmp/remora-apt.log >&2
    exit 1
  fi
fi
echo "install-deps: done"
