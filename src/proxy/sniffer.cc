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

namespace remora::proxy {
namespace {

// A bounds-checked reader over the hello's bytes.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u8(std::size_t& v) {
    if (b_.size() < 1) return false;
    v = static_cast<unsigned char>(b_[0]);
    b_.remove_prefix(1);
    return true;
  }
  bool u16(std::size_t& v) {
    if (b_.size() < 2) return false;
    v = (static_cast<std::size_t>(static_cast<unsigned char>(b_[0])) << 8) |
        static_cast<unsigned char>(b_[1]);
    b_.remove_prefix(2);
    return true;
  }
  bool u24(std::size_t& v) {
    std::size_t hi = 0;
    std::size_t lo = 0;
    if (!u8(hi) || !u16(lo)) return false;
    v = (hi << 16) | lo;
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (b_.size() < n) return false;
    out = b_.substr(0, n);
    b_.remove_prefix(n);
    return true;
  }
  bool skip(std::size_t n) {
    std::string_view ignored;
    return bytes(n, ignored);
  }
  // A vector with a `width`-byte length prefix.
  bool vec(int width, std::string_view& out) {
    std::size_t n = 0;
    if (!(width == 1 ? u8(n) : u16(n))) return false;
    return bytes(n, out);
  }
  bool empty() const { return b_.empty(); }

 private:
  std::string_view b_;
};

constexpr std::size_t kRecordHeader = 5;
constexpr unsigned kHandshakeClientHello = 1;
constexpr std::size_t kExtServerName = 0;
constexpr std::size_t kExtAlpn = 16;

bool parseAlpn(std::string_view ext, ClientHello& out) {
  Reader r(ext);
  std::string_view list;
  if (!r.vec(2, list) || !r.empty()) return false;
  Reader l(list);
  while (!l.empty()) {
    std::string_view name;
    if (!l.vec(1, name) || name.empty()) return false;
    if (out.alpn_count < ClientHello::kMaxAlpn) out.alpn[out.alpn_count++] = name;
  }
  return true;
}

bool parseServerName(std::string_view ext, ClientHello& out) {
  Reader r(ext);
  std::string_view list;
  if (!r.vec(2, list) || !r.empty()) return false;
  Reader l(list);
  while (!l.empty()) {
    std::size_t type = 0;
    std::string_view name;
    if (!l.u8(type) || !l.vec(2, name)) return false;
    if (type == 0 && out.server_name.empty()) out.server_name = name;
  }
  return true;
}

}  // namespace

bool ClientHello::offersIstio() const noexcept {
  for (std::size_t i = 0; i < alpn_count; ++i) {
    std::string_view p = alpn[i];
    if (p == "istio" || p == "istio-peer-exchange" || p == "istio-http/1.0" ||
        p == "istio-http/1.1" || p == "istio-h2") {
      return true;
    }
  }
  return false;
}

HelloParse parseClientHello(std::string_view bytes, ClientHello& out) noexcept {
  out = ClientHello{};
  if (bytes.size() < kRecordHeader) {
    return detect(bytes) == Detected::Opaque ? HelloParse::Invalid : HelloParse::NeedMore;
  }
  Reader record(bytes);
  std::size_t type = 0;
  std::size_t version = 0;
  std::size_t length = 0;
  record.u8(type);
  record.u16(version);
  record.u16(length);
  if (type != 0x16 || (version >> 8) != 0x03 || length == 0 || length > 16384) {
    return HelloParse::Invalid;
  }
  if (bytes.size() < kRecordHeader + length) return HelloParse::NeedMore;
  Reader hs(bytes.substr(kRecordHeader, length));
  std::size_t msg_type = 0;
  std::size_t msg_length = 0;
  std::string_view body;
  if (!hs.u8(msg_type) || msg_type != kHandshakeClientHello || !hs.u24(msg_length) ||
      !hs.bytes(msg_length, body)) {
    return HelloParse::Invalid;  // not a hello, or one spread over several records
  }
  Reader h(body);
  std::string_view ignored;
  if (!h.skip(2 + 32) || !h.vec(1, ignored) || !h.vec(2, ignored) || !h.vec(1, ignored)) {
    return HelloParse::Invalid;
  }
  if (h.empty()) return HelloParse::Ok;  // no extensions at all
  std::string_view extensions;
  if (!h.vec(2, extensions) || !h.empty()) return HelloParse::Invalid;
  Reader e(extensions);
  while (!e.empty()) {
    std::size_t ext_type = 0;
    std::string_view ext;
    if (!e.u16(ext_type) || !e.vec(2, ext)) return HelloParse::Invalid;
    if (ext_type == kExtAlpn && !parseAlpn(ext, out)) return HelloParse::Invalid;
    if (ext_type == kExtServerName && !parseServerName(ext, out)) return HelloParse::Invalid;
  }
  return HelloParse::Ok;
}

}  // namespace remora::proxy
