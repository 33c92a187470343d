"""Prints ours/baseline ratios from a Google Benchmark JSON file.

Benchmarks come in pairs named BM_<Ours>_<Case> and BM_<Baseline>_<Case>;
the pair is declared by the benchmark's label "vs:<baseline prefix>" on ours.
The ratio is of bytes per second, or of items per second for benchmarks that
count items (handshakes, certificates), medians when repeated: above 1.0
means ours is faster. Items also show the CPU time per item.
"""
import json
import sys


def main(path):
    with open(path) as f:
        runs = json.load(f)["benchmarks"]
    rates = {}
    units = {}
    cpu = {}
    labels = {}
    for r in runs:
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        name = r.get("run_name", r["name"])
        if r.get("bytes_per_second"):
            rates[name], units[name] = r["bytes_per_second"] / 1e6, "MB/s"
        else:
            rates[name], units[name] = r.get("items_per_second", 0.0), "/s"
        cpu[name] = r.get("cpu_time", 0.0), r.get("time_unit", "ns")
        if r.get("label", "").startswith("vs:"):
            labels[name] = r["label"][3:]
    for name, baseline_prefix in sorted(labels.items()):
        parts = name.split("_", 2)
        if len(parts) < 3:
            continue
        baseline = "BM_" + baseline_prefix + "_" + parts[2]
        if baseline not in rates or rates[baseline] == 0:
            continue
        ours, base, unit = rates[name], rates[baseline], units[name]
        line = (f"{parts[2]:<28} ours {ours:11.1f} {unit:<5} "
                f"{baseline_prefix} {base:11.1f} {unit:<5} ratio {ours / base:.2f}")
        if unit == "/s":
            (t_ours, u), (t_base, _) = cpu[name], cpu[baseline]
            line += f"   cpu/item {t_ours:.1f} vs {t_base:.1f} {u} ({t_ours / t_base:.2f}x)"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
