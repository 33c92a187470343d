#include "proxy/sniffer.h"

#include <array>

namespace remora::proxy {
namespace {
constexpr std::array<std::string_view, 9> kMethods = {
    "GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "};
}  // namespace

Detected detect(std::string_view b) noexcept {
  if (b.empty()) return Detected::NeedMore;
  if (static_cast<unsigned char>(b[0]) == 0x16) {
    if (b.size() < 3) return Detected::NeedMore;
    // Record version 3.x (SSL 3.0 to TLS 1.3 all say 0x03 0x0[0-4]).
    return b[1] == 0x03 && static_cast<unsigned char>(b[2]) <= 0x04 ? Detected::Tls
                                                                    : Detected::Opaque;
  }
  bool prefix_of_some = false;
  for (std::string_view m : kMethods) {
    if (b.size() >= m.size()) {
      if (b.substr(0, m.size()) == m) return Detected::Http1;
    } else if (m.substr(0, b.size()) == b) {
      prefix_of_some = true;
    }
  }
  return prefix_of_some ? Detected::NeedMore : Detected::Opaque;
}

}  // namespace remora::proxy
