# Tiers 3 and 4: pytest suites that drive the real binary in network
# namespaces (label netns) or against a real kube-apiserver (label kube).
# They run with Debian's interpreter, whatever python3 is first on PATH, and
# get the binary under test in REMORA_BIN. One ctest per file, so ctest -j
# runs files side by side (each run's names are unique, see tests/netns/netns.py).

set(REMORA_PYTHON /usr/bin/python3)

# remora_add_pytest(<ctest name> FILE <path> LABELS <labels> [TIMEOUT <s>] [RESOURCE_LOCK <lock>])
function(remora_add_pytest name)
  cmake_parse_arguments(ARG "" "FILE;TIMEOUT;RESOURCE_LOCK" "LABELS" ${ARGN})
  get_filename_component(dir "${ARG_FILE}" DIRECTORY)
  add_test(NAME ${name}
           COMMAND ${REMORA_PYTHON} -m pytest -q -p no:cacheprovider -rfE "${ARG_FILE}"
           WORKING_DIRECTORY "${dir}")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "REMORA_BIN=$<TARGET_FILE:remora>;PYTHONDONTWRITEBYTECODE=1")
  if(ARG_RESOURCE_LOCK)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK "${ARG_RESOURCE_LOCK}")
  endif()
endfunction()

# The network-namespace harness itself (tests/netns/netns.py).
remora_add_pytest(netns.harness FILE "${CMAKE_CURRENT_SOURCE_DIR}/netns/test_harness.py" LABELS netns)

# `remora init` in real namespaces, on every backend (tests/netns/test_init.py).
remora_add_pytest(netns.init FILE "${CMAKE_CURRENT_SOURCE_DIR}/netns/test_init.py" LABELS netns)

# Kubernetes: a real kube-apiserver, etcd, controller-manager, scheduler and
# KWOK on loopback (tests/kube/, docs/testing.md). One ctest for the whole
# directory: one control plane serves every file. The binaries come from
# scripts/kube-tools.sh, which `make test` runs first (cached; the first
# build: 13 CPU-minutes). It runs alone: its control plane wants both
# cores while it starts.
remora_add_pytest(kube FILE "${CMAKE_CURRENT_SOURCE_DIR}/kube" LABELS kube TIMEOUT 1500
                  RESOURCE_LOCK kube-apiserver)
set_tests_properties(kube PROPERTIES RUN_SERIAL TRUE)

# `remora control` run as a user runs it, with curl and openssl (tests/control/test_control_cli.py).
remora_add_pytest(control.cli FILE "${CMAKE_CURRENT_SOURCE_DIR}/control/test_control_cli.py"
                  LABELS component TIMEOUT 300)

# `remora local` end to end, the flow of `make demo` (tests/netns/test_local.py).
remora_add_pytest(netns.local FILE "${CMAKE_CURRENT_SOURCE_DIR}/netns/test_local.py" LABELS netns)
# `make demo` itself, its every step asserted (tests/netns/test_demo.py).
remora_add_pytest(netns.demo FILE "${CMAKE_CURRENT_SOURCE_DIR}/netns/test_demo.py" LABELS netns
                  TIMEOUT 400)
# `remora proxy` between two meshed pods (tests/netns/test_proxy.py).
remora_add_pytest(netns.proxy FILE "${CMAKE_CURRENT_SOURCE_DIR}/netns/test_proxy.py" LABELS netns)

# `remora check` against a fake Kubernetes API on loopback: the live glue
# (kubeconfig, paging, PATCH) without a cluster (tests/check/test_check_api.py).
remora_add_pytest(check.api FILE "${CMAKE_CURRENT_SOURCE_DIR}/check/test_check_api.py"
                  LABELS component TIMEOUT 120)

# `remora proxy sidecar` getting its certificate from `remora control`, both
# processes on 127.0.0.1 (tests/agent/test_sidecar_cli.py).
remora_add_pytest(agent.cli FILE "${CMAKE_CURRENT_SOURCE_DIR}/agent/test_sidecar_cli.py"
                  LABELS component TIMEOUT 120)

# The admin's dumps of a large mesh: whole, and their memory given back
# (tests/proxy/test_admin_dump.py).
remora_add_pytest(proxy.admin_dump FILE "${CMAKE_CURRENT_SOURCE_DIR}/proxy/test_admin_dump.py"
                  LABELS component TIMEOUT 120)
# The optimised binary's hot text: src/cli/hot_text.order still names its
# functions, and lld laid them side by side (tests/proxy/test_hot_text.py).
if(REMORA_HOT_TEXT)
  remora_add_pytest(proxy.hot_text FILE "${CMAKE_CURRENT_SOURCE_DIR}/proxy/test_hot_text.py"
                    LABELS unit TIMEOUT 60)
endif()
