// proxy::parseClientHello reads the first bytes any peer sends to the
// inbound listener: never a crash or a read past the input, and views that
// point inside it. Oracle: a prefix of an accepted hello is never Invalid
// (a slow client must not be misjudged), and every view lies in the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/assert.h"
#include "proxy/sniffer.h"

namespace {
bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using remora::proxy::HelloParse;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  remora::proxy::ClientHello hello;
  HelloParse r = remora::proxy::parseClientHello(bytes, hello);
  REMORA_CHECK(hello.alpn_count <= remora::proxy::ClientHello::kMaxAlpn, "alpn overflow");
  for (std::size_t i = 0; i < hello.alpn_count; ++i) {
    REMORA_CHECK(inside(hello.alpn[i], bytes), "alpn view outside the input");
  }
  REMORA_CHECK(inside(hello.server_name, bytes), "sni view outside the input");
  if (r == HelloParse::Ok && size > 0) {
    remora::proxy::ClientHello prefix;
    for (std::size_t n : {std::size_t{1}, size / 2, size - 1}) {
      if (n == 0 || n >= size) continue;
      REMORA_CHECK(
          remora::proxy::parseClientHello(bytes.substr(0, n), prefix) != HelloParse::Invalid,
          "a prefix of a valid hello ({} of {} bytes) was judged invalid", n, size);
    }
  }
  return 0;
}
