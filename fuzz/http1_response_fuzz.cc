// Http1Parser in response mode (what upstreams send to the proxy and the
// client). Oracle: fuzz/http1_fuzz_common.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/http1_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return remora::http::fuzzing::fuzzHttp1(remora::http::Http1Parser::Mode::Response, data, size);
}
