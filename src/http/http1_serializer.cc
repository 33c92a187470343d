#include "http/http1_serializer.h"

#include <cstring>

#include "core/assert.h"

namespace remora::http {

namespace {

void appendStatusCode(int status, std::string& out) {
  REMORA_ASSERT(status >= 100 && status <= 999);
  char digits[3] = {static_cast<char>('0' + status / 100 % 10),
                    static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10)};
  out.append(digits, 3);
}

}  // namespace

void serializeFields(const HeaderMap& fields, std::string& out) {
  // The size is known up front (the map counts its names' and values'
  // bytes): one resize, then each line copied through a cursor, rather than
  // four appends a field that each check the capacity.
  const std::size_t begin = out.size();
  out.resize(begin + fields.byteSize() + 4 * fields.size());
  char* at = out.data() + begin;
  for (const auto& field : fields) {
    REMORA_ASSERT(isValidFieldName(field.name));
    REMORA_ASSERT(isValidFieldValue(field.value));
    std::memcpy(at, field.name.data(), field.name.size());
    at += field.name.size();
    *at++ = ':';
    *at++ = ' ';
    std::memcpy(at, field.value.data(), field.value.size());
    at += field.value.size();
    *at++ = '\r';
    *at++ = '\n';
  }
  REMORA_ASSERT(at == out.data() + out.size());
}

void serializeRequestHead(const RequestHead& head, std::string& out) {
  std::string_view method = head.method_name.empty() ? methodName(head.method) : head.method_name;
  REMORA_ASSERT(!method.empty());
  REMORA_ASSERT(!head.target.empty());
  REMORA_ASSERT(head.target.find_first_of(" \r\n") == std::string::npos);
  out.append(method);
  out.push_back(' ');
  out.append(head.target);
  out.push_back(' ');
  out.append(versionName(head.version));
  out.append("\r\n");
  serializeFields(head.headers, out);
  out.append("\r\n");
}

void serializeResponseHead(const ResponseHead& head, std::string& out) {
  out.append(versionName(head.version));
  out.push_back(' ');
  appendStatusCode(head.status, out);
  out.push_back(' ');
  REMORA_ASSERT(head.reason.find_first_of("\r\n") == std::string::npos);
  out.append(head.reason.empty() ? reasonPhrase(head.status) : std::string_view(head.reason));
  out.append("\r\n");
  serializeFields(head.headers, out);
  out.append("\r\n");
}

void appendChunkHeader(std::uint64_t size, std::string& out) {
  REMORA_ASSERT(size > 0);
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  int n = 0;
  do {
    buf[15 - n] = kHex[size & 0xf];
    size >>= 4;
    ++n;
  } while (size != 0);
  out.append(buf + 16 - n, static_cast<std::size_t>(n));
  out.append("\r\n");
}

void appendChunkEnd(std::string& out) { out.append("\r\n"); }

void appendChunk(std::string_view data, std::string& out) {
  if (data.empty()) return;
  appendChunkHeader(data.size(), out);
  out.append(data);
  appendChunkEnd(out);
}

void appendLastChunk(std::string& out, const HeaderMap* trailers) {
  out.append("0\r\n");
  if (trailers != nullptr) serializeFields(*trailers, out);
  out.append("\r\n");
}

void appendDecimal(std::uint64_t value, std::string& out) {
  char buf[20];
  int n = 0;
  do {
    buf[19 - n] = static_cast<char>('0' + value % 10);
    value /= 10;
    ++n;
  } while (value != 0);
  out.append(buf + 20 - n, static_cast<std::size_t>(n));
}

}  // namespace remora::http
