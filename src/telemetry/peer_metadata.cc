#include "telemetry/peer_metadata.h"

#include <cstdint>

#include "core/base64.h"

namespace remora::telemetry {
namespace {

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
enum WireType : std::uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// ------------------------------------------------------------- encoding

void putVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void putTag(std::string& out, std::uint32_t field, WireType type) {
  putVarint(out, (static_cast<std::uint64_t>(field) << 3) | type);
}

void putBytes(std::string& out, std::uint32_t field, std::string_view bytes) {
  putTag(out, field, kLengthDelimited);
  putVarint(out, bytes.size());
  out += bytes;
}

// One Struct entry: fields = 1 { key = 1, value = 2 { <kind> } }, where the
// Value holds string_value (3) or struct_value (5). Empty values are left
// out (absent is "unknown" to the reader, as an empty string would be).
void putEntry(std::string& out, std::string_view key, std::uint32_t kind,
              std::string_view value_bytes) {
  std::string value;
  putBytes(value, kind, value_bytes);
  std::string entry;
  putBytes(entry, 1, key);
  putBytes(entry, 2, value);
  putBytes(out, 1, entry);
}

void putString(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) putEntry(out, key, 3, value);
}

// ------------------------------------------------------------- decoding

Error malformed(std::string_view what) {
  return Error{Errc::ParseError, std::string("peer metadata: ") + std::string(what)};
}

// A bounded reader over one message's bytes.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool done() const { return pos_ == bytes_.size(); }

  Result<std::uint64_t> varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == bytes_.size()) return malformed("truncated varint");
      auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && byte > 1) return malformed("varint overflows 64 bits");
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return malformed("varint longer than 10 bytes");
  }

  Result<std::string_view> lengthDelimited() {
    auto len = varint();
    if (!len) return len.error();
    if (*len > bytes_.size() - pos_) return malformed("length past the end");
    std::string_view out = bytes_.substr(pos_, static_cast<std::size_t>(*len));
    pos_ += out.size();
    return out;
  }

  Status skipFixed(std::size_t n) {
    if (n > bytes_.size() - pos_) return malformed("truncated fixed-width field");
    pos_ += n;
    return {};
  }

  // Skips a field of a number we do not read (forward compatibility);
  // groups and undefined wire types are refused.
  Status skip(std::uint32_t type) {
    switch (type) {
      case kVarint: {
        auto v = varint();
        if (!v) return v.error();
        return {};
      }
      case kFixed64: return skipFixed(8);
      case kLengthDelimited: {
        auto b = lengthDelimited();
        if (!b) return b.error();
        return {};
      }
      case kFixed32: return skipFixed(4);
      default: return malformed("unsupported wire type");
    }
  }

  struct Tag {
    std::uint32_t field;
    std::uint32_t type;
  };
  Result<Tag> tag() {
    auto v = varint();
    if (!v) return v.error();
    std::uint64_t field = *v >> 3;
    if (field == 0 || field > 0x1fffffff) return malformed("invalid field number");
    return Tag{static_cast<std::uint32_t>(field), static_cast<std::uint32_t>(*v & 7)};
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

// What a Value holds, as far as we care.
struct Value {
  enum class Kind : std::uint8_t { Other, String, Struct };
  Kind kind = Kind::Other;
  std::string_view bytes;  // the string, or the nested Struct's bytes
};

// Kubernetes names and label values (DNS-1123 names, label values, the
// cluster id) are [A-Za-z0-9._-], at most 253 bytes. What goes into metric
// labels from the network is held to that: anything else is not kept.
bool isPlainName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void keep(std::string& field, const Value& v) {
  if (v.kind == Value::Kind::String && isPlainName(v.bytes)) field.assign(v.bytes);
}

Status parseStruct(std::string_view bytes, int depth, PeerMetadata* top, PeerMetadata* labels);

// A Value message. A struct_value is always parsed (to hold the depth
// limit whatever its key); `labels` receives its label keys when the
// caller wants them.
Result<Value> parseValue(std::string_view bytes, int depth, PeerMetadata* labels) {
  Reader r(bytes);
  Value out;
  while (!r.done()) {
    auto tag = r.tag();
    if (!tag) return tag.error();
    bool delimited = tag->type == kLengthDelimited;
    switch (tag->field) {
      case 3:    // string_value
      case 5:    // struct_value
      case 6: {  // list_value: skipped whole
        if (!delimited) return malformed("Value field with the wrong wire type");
        auto b = r.lengthDelimited();
        if (!b) return b.error();
        if (tag->field == 3) {
          out = {Value::Kind::String, *b};
        } else if (tag->field == 5) {
          if (depth + 1 > kMaxPeerMetadataDepth) return malformed("structs nested too deep");
          if (auto s = parseStruct(*b, depth + 1, nullptr, labels); !s) return s.error();
          out = {Value::Kind::Struct, *b};
        } else {
          out = {};
        }
        break;
      }
      case 1:    // null_value
      case 4: {  // bool_value
        if (tag->type != kVarint) return malformed("Value field with the wrong wire type");
        if (auto s = r.skip(tag->type); !s) return s.error();
        out = {};
        break;
      }
      case 2: {  // number_value
        if (tag->type != kFixed64) return malformed("Value field with the wrong wire type");
        if (auto s = r.skip(tag->type); !s) return s.error();
        out = {};
        break;
      }
      default:
        if (auto s = r.skip(tag->type); !s) return s.error();
    }
  }
  return out;
}

// One Struct. At the top (`top` set) the node keys are kept, and LABELS'
// entries go to `top` too; inside LABELS (`labels` set) the label keys are
// kept. Other structs are parsed for their validity only.
Status parseStruct(std::string_view bytes, int depth, PeerMetadata* top, PeerMetadata* labels) {
  Reader r(bytes);
  while (!r.done()) {
    auto tag = r.tag();
    if (!tag) return tag.error();
    if (tag->field != 1) {
      if (auto s = r.skip(tag->type); !s) return s.error();
      continue;
    }
    if (tag->type != kLengthDelimited) return malformed("Struct field with the wrong wire type");
    auto entry = r.lengthDelimited();
    if (!entry) return entry.error();
    // The map entry: key = 1, value = 2.
    Reader e(*entry);
    std::string_view key;
    std::string_view value_bytes;
    while (!e.done()) {
      auto t = e.tag();
      if (!t) return t.error();
      if (t->field == 1 || t->field == 2) {
        if (t->type != kLengthDelimited) return malformed("map entry with the wrong wire type");
        auto b = e.lengthDelimited();
        if (!b) return b.error();
        (t->field == 1 ? key : value_bytes) = *b;
      } else if (auto s = e.skip(t->type); !s) {
        return s.error();
      }
    }
    bool is_labels = top != nullptr && key == "LABELS";
    auto value = parseValue(value_bytes, depth, is_labels ? top : nullptr);
    if (!value) return value.error();
    if (labels != nullptr) {
      if (key == "app") keep(labels->app, *value);
      if (key == "version") keep(labels->version, *value);
      if (key == "service.istio.io/canonical-name") keep(labels->canonical_name, *value);
      if (key == "service.istio.io/canonical-revision") keep(labels->canonical_revision, *value);
    }
    if (top != nullptr) {
      if (key == "NAME") keep(top->name, *value);
      if (key == "NAMESPACE") keep(top->namespace_, *value);
      if (key == "WORKLOAD_NAME") keep(top->workload_name, *value);
      if (key == "CLUSTER_ID") keep(top->cluster_id, *value);
      if (key == "SERVICE_ACCOUNT") keep(top->service_account, *value);
    }
  }
  return {};
}

}  // namespace

std::string encodePeerMetadataStruct(const PeerMetadata& meta) {
  std::string labels;
  putString(labels, "app", meta.app);
  putString(labels, "version", meta.version);
  putString(labels, "service.istio.io/canonical-name", meta.canonical_name);
  putString(labels, "service.istio.io/canonical-revision", meta.canonical_revision);
  std::string out;
  putString(out, "NAME", meta.name.empty() ? meta.workload_name : meta.name);
  putString(out, "NAMESPACE", meta.namespace_);
  putString(out, "WORKLOAD_NAME", meta.workload_name);
  putString(out, "CLUSTER_ID", meta.cluster_id);
  putString(out, "SERVICE_ACCOUNT", meta.service_account);
  putString(out, "INSTANCE_IPS", meta.instance_ip);
  if (!labels.empty()) putEntry(out, "LABELS", 5, labels);
  return out;
}

std::string encodePeerMetadata(const PeerMetadata& meta) {
  return encodeBase64(encodePeerMetadataStruct(meta));
}

std::string peerMetadataId(const PeerMetadata& meta) {
  std::string out = "sidecar~";
  out += meta.instance_ip;
  out += '~';
  out += meta.name.empty() ? meta.workload_name : meta.name;
  out += '.';
  out += meta.namespace_;
  out += '~';
  out += meta.namespace_;
  out += ".svc.cluster.local";
  return out;
}

Result<PeerMetadata> decodePeerMetadataStruct(std::string_view bytes) {
  PeerMetadata out;
  if (auto s = parseStruct(bytes, 1, &out, nullptr); !s) return s.error();
  return out;
}

Result<PeerMetadata> decodePeerMetadata(std::string_view header_value) {
  if (header_value.size() > kMaxPeerMetadataBase64) return malformed("header too large");
  auto bytes = decodeBase64(header_value);
  if (!bytes) return bytes.error();
  return decodePeerMetadataStruct(*bytes);
}

}  // namespace remora::telemetry
