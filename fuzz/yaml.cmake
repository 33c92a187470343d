remora_add_fuzzer(yaml SOURCES yaml_fuzz.cc DEPS remora_kube)
