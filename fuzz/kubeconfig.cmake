remora_add_fuzzer(kubeconfig SOURCES kubeconfig_fuzz.cc DEPS remora_kube)
