// telemetry::appendAccessLogJson writes header bytes from any client into a
// JSON line, through a cursor into room it reserves from
// accessLogJsonBound (no check per byte). Any bytes in any field must give
// a line within that bound, one line (no raw newline: no log injection),
// that parses as JSON with every key once; a field of ASCII comes back
// exactly as it went in, whatever controls, quotes or backslashes it holds.
// Input: for each string field in turn, a length byte then that many bytes;
// what is left feeds the numbers.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/assert.h"
#include "core/json.h"
#include "telemetry/records.h"

namespace {

using remora::telemetry::RequestRecord;

std::string_view take(std::string_view& in) {
  if (in.empty()) return {};
  const auto n = std::min<std::size_t>(static_cast<unsigned char>(in.front()), in.size() - 1);
  std::string_view field = in.substr(1, n);
  in.remove_prefix(1 + n);
  return field;
}

std::uint64_t number(std::string_view& in) {
  std::uint64_t v = 0;
  const std::size_t n = std::min<std::size_t>(sizeof v, in.size());
  if (n != 0) std::memcpy(&v, in.data(), n);  // an empty input's data() may be null
  in.remove_prefix(n);
  return v;
}

bool ascii(std::string_view v) {
  for (char c : v) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  RequestRecord r;
  const std::vector<std::pair<const char*, std::string_view RequestRecord::*>> fields = {
      {"method", &RequestRecord::method},
      {"path", &RequestRecord::path},
      {"authority", &RequestRecord::authority},
      {"request_id", &RequestRecord::request_id},
      {"user_agent", &RequestRecord::user_agent},
      {"x_forwarded_for", &RequestRecord::x_forwarded_for},
      {"protocol", &RequestRecord::protocol},
      {"requested_server_name", &RequestRecord::requested_server_name},
      {"route_name", &RequestRecord::route_name},
      {"upstream_cluster", &RequestRecord::upstream_cluster},
      {"downstream_peer_uri_san", &RequestRecord::downstream_peer_uri_san},
      {"upstream_peer_uri_san", &RequestRecord::upstream_peer_uri_san},
      {"response_code_details", &RequestRecord::response_code_details},
      {"connection_termination_details", &RequestRecord::connection_termination_details},
      {"upstream_transport_failure_reason", &RequestRecord::upstream_transport_failure_reason},
  };
  for (const auto& [key, field] : fields) r.*field = take(in);
  r.request_body_bytes = number(in);
  r.response_body_bytes = number(in);
  r.response_code = static_cast<std::uint32_t>(number(in));
  r.response_flags = static_cast<std::uint32_t>(number(in));

  std::string line = "previous\n";
  remora::telemetry::appendAccessLogJson(line, r);
  std::string_view written = std::string_view(line).substr(9);
  REMORA_CHECK(written.size() <= remora::telemetry::accessLogJsonBound(r),
               "a line of {} bytes past its bound of {}", written.size(),
               remora::telemetry::accessLogJsonBound(r));
  REMORA_CHECK(written.find('\n') == std::string_view::npos, "a raw newline in a line");
  auto parsed = remora::parseJson(written);
  REMORA_CHECK(parsed.has_value(), "the line is not JSON: {}", written);
  REMORA_CHECK(parsed->is_object() && parsed->size() == 27, "not the 27 keys: {}", written);
  for (const auto& [key, field] : fields) {
    const std::string_view sent = r.*field;
    const auto& value = (*parsed)[key];
    if (sent.empty()) {
      REMORA_CHECK(value.is_null(), "{}: empty is not null", key);
    } else {
      REMORA_CHECK(value.is_string(), "{}: not a string", key);
      if (ascii(sent)) {
        REMORA_CHECK(value.get<std::string>() == sent, "{}: ASCII does not come back", key);
      }
    }
  }
  return 0;
}
