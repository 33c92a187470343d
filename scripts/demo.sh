#!/usr/bin/env bash
# `make demo`: the main job. Grows with the project (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
build/remora version
