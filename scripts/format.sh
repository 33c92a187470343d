#!/usr/bin/env bash
# clang-format over every C++ file git knows: `check` fails on any difference,
# `fix` rewrites in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' | while read -r f; do [[ -f $f ]] && echo "$f"; done)
((${#files[@]})) || exit 0
if [[ $mode == fix ]]; then
  clang-format-14 -i "${files[@]}"
else
  bad=()
  for f in "${files[@]}"; do
    clang-format-14 --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    printf 'format: not clang-formatted: %s\n' "${bad[@]}" >&2
    echo "format: run 'make format' to fix them" >&2
    exit 1
  fi
fi
