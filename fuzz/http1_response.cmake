remora_add_fuzzer(http1_response SOURCES http1_response_fuzz.cc DEPS remora_http)
target_include_directories(http1_response_fuzz PRIVATE "${CMAKE_SOURCE_DIR}")
