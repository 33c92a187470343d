#!/usr/bin/env bash
# Checks what the network-namespace and Kubernetes tiers need before ctest
# runs them, so a missing capability fails with one clear line instead of a
# hundred test failures.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "make test: the network-namespace tier needs root (ip netns, iptables)" >&2
  exit 1
fi
probe="remora-probe-$$"
if ! ip netns add "$probe" 2>/tmp/remora-netns-probe.log; then
  echo "make test: cannot create a network namespace: $(cat /tmp/remora-netns-probe.log)" >&2
  exit 1
fi
ip netns del "$probe"
