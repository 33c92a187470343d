remora_add_fuzzer(kube_api SOURCES kube_api_fuzz.cc DEPS remora_kube)
