remora_add_fuzzer(pod_labels SOURCES pod_labels_fuzz.cc DEPS remora_mesh)
