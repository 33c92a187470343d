#!/usr/bin/env bash
# `remora inject` end to end on a 10,000-document stream: wall time and peak
# RSS (/usr/bin/time), beside the same binary on the same input with the
# injection policy disabled (every workload skipped: read + write only),
# measured in the same run. Figures, never assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/remora-inject-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$work/stream.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open("examples/shop.yaml")) if d]
out = []
for i in range(10000):
    d = yaml.safe_load(yaml.safe_dump(docs[i % len(docs)]))
    d["metadata"]["name"] = f"{d['metadata']['name']}-{i}"
    out.append(d)
with open(sys.argv[1], "w") as f:
    yaml.safe_dump_all(out, f, sort_keys=False)
PY
printf 'sidecarInjectorWebhook:\n  policy: disabled\n' >"$work/skip-all.yaml"

measure() {  # label, args...: best of 5 wall times, peak RSS of that run
  local label=$1 best="" rss=""
  shift
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f '%e %M' -o "$work/time" build/remora inject -f "$work/stream.yaml" \
      -o "$work/out.yaml" "$@" 2>/dev/null
    read -r t m <"$work/time"
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t rss=$m; fi
  done
  printf '%-34s %6.2f s   peak RSS %6.1f MiB   output %6.1f MB\n' "$label" "$best" \
    "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$(awk -v b="$(stat -c %s "$work/out.yaml")" 'BEGIN{print b/1e6}')"
  echo "$best" >"$work/$label.t"
}

size=$(stat -c %s "$work/stream.yaml")
echo "input: 10000 documents (examples/shop.yaml repeated), $((size / 1024)) KiB"
measure "remora inject" 
measure "baseline: read+write, no injection" --values "$work/skip-all.yaml"
awk -v a="$(cat "$work/remora inject.t")" -v b="$(cat "$work/baseline: read+write, no injection.t")" \
  'BEGIN{printf "ratio inject / read+write: %.2f\n", a/b}'
