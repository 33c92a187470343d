# Tiers 3 and 4: pytest suites that drive the built binary end to end, run
# with Debian's /usr/bin/python3 (python3-pytest, python3-yaml, python3-h2
# from scripts/install-deps.sh). Each gets REMORA_BIN.

set(REMORA_PYTHON /usr/bin/python3)
set(REMORA_PYTEST ${REMORA_PYTHON} -m pytest -q -rs -p no:cacheprovider)

# Kubernetes: a real kube-apiserver, etcd, controller-manager, scheduler and
# KWOK on loopback (tests/kube/). The binaries come from
# scripts/kube-tools.sh, which `make test` runs first (cached; the first
# build takes about 10 minutes). It runs alone: its control plane wants both
# cores for a moment at start-up, and it shares nothing with other tiers.
add_test(NAME kube COMMAND ${REMORA_PYTEST} ${CMAKE_SOURCE_DIR}/tests/kube)
set_tests_properties(kube PROPERTIES
  LABELS kube
  ENVIRONMENT "REMORA_BIN=$<TARGET_FILE:remora>;PYTHONDONTWRITEBYTECODE=1"
  RESOURCE_LOCK kube-apiserver
  RUN_SERIAL TRUE
  TIMEOUT 1500)
