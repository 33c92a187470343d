#!/usr/bin/env bash
# House rules that clang-format and the compiler do not check (Envoy's
# check_format in miniature). Each rule has an allowlist of the places where
# the thing is legitimate; anything else fails with file and line.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=0

# rule <description> <regex> <pathspec...> -- <allowed path regex>
rule() {
  local what=$1 pattern=$2 allow=$3
  shift 3
  local hits
  # Comment-only lines may name what they forbid ("never `delete this`").
  hits=$(git grep -nE "$pattern" -- "$@" 2>/dev/null | grep -vE "$allow" |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)
  if [[ -n $hits ]]; then
    echo "lint: $what:" >&2
    echo "$hits" >&2
    failed=1
  fi
}

rule "no exceptions thrown on the data path (src/http, src/proxy)" '\bthrow\b' '^$' 'src/http/*' 'src/proxy/*'
rule "wall-clock time only through core/time" 'system_clock::now' '^src/core/time\.' 'src/*'
rule "no std::regex in the product (catastrophic backtracking, slow)" 'std::regex|<regex>' '^$' 'src/*'
rule "no 'using namespace' in headers" '^\s*using namespace' '^$' 'src/*.h' 'tests/*.h'
rule "no std::endl (use '\\n')" 'std::endl' '^$' 'src/*' 'tests/*' 'bench/*' 'fuzz/*'
rule "no 'delete this' (use EventLoop::deferDelete)" 'delete this' '^$' 'src/*'

if ((failed)); then exit 1; fi
