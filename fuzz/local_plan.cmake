remora_add_fuzzer(local_plan SOURCES local_plan_fuzz.cc DEPS remora_local remora_kube)
