#!/usr/bin/env bash
# `make demo`: the main job. Until the local mesh demo exists (issue 9) it
# injects examples/ and shows, for every pod template, the verification the
# seed story asks for:
#   kubectl get pod my-app -o jsonpath='{.spec.containers[*].name}'      -> my-app istio-proxy
#   kubectl get pod my-app -o jsonpath='{.spec.initContainers[*].name}'  -> istio-init
# Colours only on a terminal; exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

remora=build/remora
out_dir=build/demo
mkdir -p "$out_dir"

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' reset=$'\e[0m'
else
  bold='' green='' red='' dim='' reset=''
fi

"$remora" version | head -n 1
echo
for input in examples/*.yaml; do
  name=$(basename "$input" .yaml)
  output="$out_dir/$name-injected.yaml"
  echo "${bold}\$ remora inject -f $input -o $output --explain${reset}"
  "$remora" inject -f "$input" -o "$output" --explain 2>&1 | sed "s/^/  ${dim}/; s/\$/${reset}/"
  echo
  echo "${bold}The seed's verification, per pod template of $output:${reset}"
  BOLD=$bold GREEN=$green RED=$red RESET=$reset /usr/bin/python3 - "$input" "$output" <<'PY'
import os, sys, yaml

bold, green, red, reset = (os.environ[k] for k in ("BOLD", "GREEN", "RED", "RESET"))
source, injected = sys.argv[1], sys.argv[2]

def pod_template(obj):
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    if kind in ("Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet",
                "Job", "DeploymentConfig"):
        return obj["spec"]["template"]
    return None

def names(items):
    return " ".join(c["name"] for c in items or []) or "(none)"

before = [d for d in yaml.safe_load_all(open(source)) if d]
after = [d for d in yaml.safe_load_all(open(injected)) if d]
failed = 0
rows = []
for original, obj in zip(before, after):
    pod = pod_template(obj)
    if pod is None:
        continue
    spec = pod["spec"]
    apps = [c["name"] for c in pod_template(original)["spec"]["containers"]]
    containers, inits = names(spec.get("containers")), names(spec.get("initContainers"))
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    opted_out = annotations.get("sidecar.istio.io/inject") == "false"
    native = any(c["name"] == "istio-proxy" and c.get("restartPolicy") == "Always"
                 for c in spec.get("initContainers") or [])
    if opted_out:
        ok = "istio-proxy" not in containers and "istio-init" not in inits
        verdict = "not meshed, as asked (sidecar.istio.io/inject: \"false\")"
    elif native:
        ok = containers == " ".join(apps) and inits.split()[:2] == ["istio-init", "istio-proxy"]
        verdict = "native sidecar: istio-proxy is an init container that keeps running, so the Job completes"
    else:
        ok = containers == " ".join(apps + ["istio-proxy"]) and inits.split()[-1] == "istio-init"
        verdict = "meshed"
    failed += not ok
    mark = f"{green}ok{reset}" if ok else f"{red}FAILED{reset}"
    rows.append((f"{obj['kind']}/{obj['metadata']['name']}", containers, inits, mark, verdict))

w0 = max(len(r[0]) for r in rows)
w1 = max(len(r[1]) for r in rows + [("", "containers", "", "", "")])
w2 = max(len(r[2]) for r in rows + [("", "", "initContainers", "", "")])
print(f"  {'workload':<{w0}}  {'containers':<{w1}}  {'initContainers'}")
for r in rows:
    print(f"  {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}  {r[4]}")
sys.exit(1 if failed else 0)
PY
  echo
done
echo "${green}${bold}demo: every pod template passes the seed's verification.${reset}"
echo "Apply one with: kubectl apply -f $out_dir/shop-injected.yaml"
