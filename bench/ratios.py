"""Prints ours/baseline ratios from a Google Benchmark JSON file.

Benchmarks come in pairs named BM_<Ours>_<Case> and BM_<Baseline>_<Case>;
the pair is declared by the benchmark's label "vs:<baseline prefix>" on ours.
The ratio is of bytes per second (medians when repeated): above 1.0 means
ours is faster.
"""
import json
import sys


def main(path):
    with open(path) as f:
        runs = json.load(f)["benchmarks"]
    medians = {}
    labels = {}
    for r in runs:
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        name = r.get("run_name", r["name"])
        medians[name] = r.get("bytes_per_second", 0.0)
        if r.get("label", "").startswith("vs:"):
            labels[name] = r["label"][3:]
    for name, baseline_prefix in sorted(labels.items()):
        parts = name.split("_", 2)
        if len(parts) < 3:
            continue
        baseline = "BM_" + baseline_prefix + "_" + parts[2]
        if baseline not in medians or medians[baseline] == 0:
            continue
        ours = medians[name]
        print(f"{parts[2]:<28} ours {ours / 1e6:9.1f} MB/s   "
              f"{baseline_prefix} {medians[baseline] / 1e6:9.1f} MB/s   ratio {ours / medians[baseline]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
