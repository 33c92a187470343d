remora_add_fuzzer(inject SOURCES inject_fuzz.cc DEPS remora_inject)
