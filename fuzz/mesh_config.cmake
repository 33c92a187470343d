remora_add_fuzzer(mesh_config SOURCES mesh_config_fuzz.cc DEPS remora_mesh)
