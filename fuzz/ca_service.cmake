remora_add_fuzzer(ca_service SOURCES ca_service_fuzz.cc DEPS remora_control)
