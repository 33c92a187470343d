# The two commands of the README, and the pieces they are made of.
#   make demo   installs what is needed, builds, runs the main job
#   make test   installs what is needed, builds, runs every test (also under ASan+UBSan)
# Everything runs as root on a fresh Debian 12 machine; see README.md.

SHELL := /bin/bash
JOBS ?= 2
PREFIX ?= /usr/local
export CCACHE_BASEDIR := $(CURDIR)
# Objects do not name the checkout (-ffile-prefix-map, CMakeLists.txt), so a
# second clone on this machine builds from the cache.
export CCACHE_NOHASHDIR := 1
export CMAKE_BUILD_PARALLEL_LEVEL := $(JOBS)
export CTEST_OUTPUT_ON_FAILURE := 1
CTEST := ctest --no-tests=error --timeout 900

.PHONY: all deps build build-asan test test-unit test-asan test-kube kube-tools demo install \
        format format-check lint tidy fuzz bench coverage clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

build-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan

# Every test: style gates, all tiers against the release build, then unit,
# component and fuzz-corpus tests again under ASan+UBSan.
test: deps format-check lint build build-asan
	@bash scripts/test-prereqs.sh
	@bash scripts/kube-tools.sh
	$(CTEST) --test-dir build -j $(JOBS)
	$(CTEST) --test-dir build-asan -j $(JOBS) -L 'unit|component|fuzz'
	@echo "make test: all tests passed"

# The fast loop while developing: unit tests of the release build only.
test-unit: build
	$(CTEST) --test-dir build -j $(JOBS) -L unit

# The Kubernetes tier alone (tests/kube/): a real control plane on loopback.
test-kube: build kube-tools
	$(CTEST) --test-dir build -L kube

# kube-apiserver & co. for the kube tier, built once from the Go module proxy
# and cached in ~/.cache/remora/kube/ (the first build: 13 CPU-minutes).
kube-tools:
	@bash scripts/kube-tools.sh

test-asan: build-asan
	$(CTEST) --test-dir build-asan -j $(JOBS) -L 'unit|component|fuzz'

demo: build
	@bash scripts/demo.sh

install: build
	install -D -m 0755 build/remora $(DESTDIR)$(PREFIX)/bin/remora

format:
	@bash scripts/format.sh fix

format-check: deps
	@bash scripts/format.sh check

lint:
	@bash scripts/lint.sh

tidy: build
	@git ls-files 'src/*.cc' | xargs -P $(JOBS) -n 4 clang-tidy-14 -p build --quiet

# Each fuzz target for FUZZ_SECONDS (default 60) with its corpus.
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz
	@bash scripts/fuzz.sh $${FUZZ_SECONDS:-60}

bench: build
	@bash bench/run.sh

coverage: deps
	@cmake --preset coverage >/dev/null
	@cmake --build --preset coverage
	$(CTEST) --test-dir build-coverage -j $(JOBS) -L 'unit|component|fuzz'
	@gcovr --root . --filter src/ --print-summary --html-details build-coverage/coverage.html build-coverage

clean:
	rm -rf build build-asan build-tsan build-fuzz build-coverage build-debug
