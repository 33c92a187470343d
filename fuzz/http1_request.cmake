remora_add_fuzzer(http1_request SOURCES http1_request_fuzz.cc DEPS remora_http)
target_include_directories(http1_request_fuzz PRIVATE "${CMAKE_SOURCE_DIR}")
