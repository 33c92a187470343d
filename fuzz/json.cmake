remora_add_fuzzer(json SOURCES json_fuzz.cc DEPS remora_core)
