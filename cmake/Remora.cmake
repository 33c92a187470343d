# Build helpers shared by every module. A module is a static library
# `remora_<name>` whose public include root is src/, so every include names
# its module: #include "http/http1_parser.h".

set(REMORA_SRC_DIR "${CMAKE_SOURCE_DIR}/src")

add_library(remora_build_flags INTERFACE)
target_compile_options(remora_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                    -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(REMORA_WERROR)
  target_compile_options(remora_build_flags INTERFACE -Werror)
endif()

# Optimised builds: each function and datum in a section of its own, so the
# linker drops what nothing reaches. The one binary serves every role, and a
# sidecar maps its text: 3.83 -> 3.27 MB, 0.3-0.4 MiB less resident when idle
# (docs/performance.md, Memory). Not with the instrumented builds, which
# gain nothing from it.
if(CMAKE_BUILD_TYPE MATCHES "Rel" AND NOT REMORA_SANITIZE AND NOT REMORA_TSAN
   AND NOT REMORA_FUZZ AND NOT REMORA_COVERAGE)
  add_compile_options(-ffunction-sections -fdata-sections)
  add_link_options(-Wl,--gc-sections)
endif()

# Linked in: the `remora` binary maps only libc, libm and OpenSSL. libstdc++
# and libgcc are linked statically (optimised, uninstrumented builds: the
# sanitizers want the shared runtime), yaml-cpp from its static archive,
# {fmt} and spdlog compiled in (src/core/*_impl.cc). A shared library's pages
# become resident 64 KiB around each one touched (the kernel's fault-around),
# so an idle sidecar held 2.4 MiB of those five libraries' pages, mostly code
# it never runs; linked in, with --gc-sections, only what it reaches is there
# (docs/performance.md, Memory). Envoy's release builds link their C++
# runtime statically too. Test binaries keep the shared libstdc++, which
# GoogleTest's shared library needs.
set(REMORA_STATIC_RUNTIME OFF)
if(CMAKE_BUILD_TYPE MATCHES "Rel" AND NOT REMORA_SANITIZE AND NOT REMORA_TSAN
   AND NOT REMORA_FUZZ AND NOT REMORA_COVERAGE)
  set(REMORA_STATIC_RUNTIME ON)
endif()

# Hot text: the functions the proxy's worker runs on every request lie side
# by side in the optimised binary, in the order src/cli/hot_text.order lists
# them (lld's --symbol-ordering-file; GNU ld 2.40 has no such option). At a
# moderate rate a request finds the caches and TLB cold (docs/performance.md,
# "What a request finds cold"): scattered over the binary, those functions
# fell on 65 pages of 4 KiB and shared their cache lines with code that does
# not run; together, they take 29-31 pages and fewer lines, and the
# sidecar's CPU a request at 1000 requests/s went down by 3-6%
# (docs/performance.md, "Stop 25"). After them, the warm tier: every other
# function a sidecar ran (start-up, config, agent, TLS, admin), so that the
# kernel's 64 KiB fault-around maps the code a sidecar runs and little else
# (an mTLS sidecar under load: 1.7 MiB of the binary's pages, not 3.0). The
# list is made by bench/instructions_bench.py --write-order.
set(REMORA_HOT_TEXT OFF)
if(REMORA_STATIC_RUNTIME)
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=lld" REMORA_HAVE_LLD)
  if(REMORA_HAVE_LLD)
    set(REMORA_HOT_TEXT ON)
  else()
    message(WARNING "ld.lld not found (scripts/install-deps.sh installs it): build/remora is "
                    "linked without its hot-text order")
  endif()
endif()

if(REMORA_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(${_san})
  add_link_options(${_san})
endif()
if(REMORA_TSAN)
  # g++ 12 warns (-Wtsan) that TSan cannot model std::atomic_thread_fence, which
  # Asio uses; with -Werror that warning would make the preset unbuildable.
  # Our own code synchronises with atomics and mutexes, which TSan models; a
  # fence-only handoff inside Asio could at worst show up as a false report.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()
if(REMORA_COVERAGE)
  add_compile_options(--coverage -O0)
  add_link_options(--coverage)
endif()
if(REMORA_FUZZ)
  # Instrument everything for coverage feedback; the targets add the driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# remora_add_module(<name> SOURCES ... [DEPS ...])
function(remora_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(remora_${name} STATIC ${ARG_SOURCES})
  target_include_directories(remora_${name} PUBLIC "${REMORA_SRC_DIR}")
  target_link_libraries(remora_${name} PUBLIC ${ARG_DEPS} PRIVATE remora_build_flags)
  # Asio's implementation is compiled once, in core/asio_impl.cc, instead of
  # in every translation unit that includes it: this halves incremental builds.
  target_compile_definitions(remora_${name} PUBLIC ASIO_STANDALONE ASIO_SEPARATE_COMPILATION
                                                   ASIO_NO_DEPRECATED)
endfunction()

# remora_add_test(<name> SOURCES ... DEPS ... [LABELS ...])
# One GoogleTest binary per module keeps link time low; ctest sees each test
# case on its own (discovered when the tests run, not when they build).
function(remora_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main
                                        remora_build_flags)
  # Tests share helpers by their path from the root: "tests/support/...".
  target_include_directories(${name} PRIVATE "${CMAKE_SOURCE_DIR}")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS "${ARG_LABELS}"
                       WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}")
endfunction()
