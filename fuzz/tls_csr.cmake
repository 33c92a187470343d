remora_add_fuzzer(tls_csr SOURCES tls_csr_fuzz.cc DEPS remora_tls)
