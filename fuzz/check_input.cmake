remora_add_fuzzer(check_input SOURCES check_input_fuzz.cc DEPS remora_check)
