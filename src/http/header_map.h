// HeaderMap: an ordered list of HTTP header fields that owns its bytes.
//
// Field names keep the case they were received or added with; every lookup
// compares names case-insensitively (RFC 9110 §5.1). Order and duplicates are
// preserved, because a proxy forwards what it received and because some
// fields (Set-Cookie) cannot be combined.
//
// Storage: one byte arena (std::string) plus one vector of offsets. clear()
// keeps the capacity of both, so a map reused for message after message
// stops allocating once it has seen its largest message (the proxy's hot
// path relies on this: the parser owns one map per direction and reuses it).
// swap() exchanges storage without allocating: a caller that wants to keep a
// parsed head beyond the callback swaps it with a spare map it owns.
//
// Views: every std::string_view returned by a HeaderMap (names, values,
// Entry) points into the arena and stays valid until the next non-const call
// on the same map (add, set, remove, clear, swap, assignment). Copy a value
// into a std::string if it must outlive that.
//
// Contents: the parser only stores fields that passed RFC 9110/9112
// validation (token names; values without CR, LF, NUL or other controls,
// without leading or trailing whitespace). Code that adds fields itself must
// respect the same rules: isValidFieldName()/isValidFieldValue() check them,
// and the serializer asserts them in debug builds. A map never contains an
// invalid field that came from the network.
//
// Known fields: the few names the proxy itself reads or writes (framing,
// hop-by-hop, routing, request id, metadata exchange) are classified once,
// when a field is added, and the map keeps a bit per known name that is
// present. Asking for a known field by its KnownField costs a bit test when
// it is absent (most lookups: few requests carry an x-request-id or a
// hop-by-hop field) and a byte compare per field when present, with no
// name comparison at all. Envoy's "inline headers" serve the same end with
// a slot per name; here the fields stay in one ordered list. Asking by
// name works for every field, known or not.
//
// Threading: none; a HeaderMap is a value, used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/assert.h"
#include "http/chars.h"

namespace remora::http {

// ASCII case-insensitive equality, for field names and tokens. Inline: a
// lookup compares the name asked for with every field's, and most differ
// in length (a request's lookups and hop-by-hop stripping made it the
// proxy's costliest function, bench/instructions_bench.py).
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

// The field names the proxy handles itself. Each has a bit in
// HeaderMap::known_ (so at most 31 of them).
enum class KnownField : std::uint8_t {
  None = 0,
  // Hop-by-hop by definition (RFC 9110 §7.6.1; Proxy-Connection and
  // Keep-Alive as Envoy treats them).
  Connection,
  KeepAlive,
  ProxyConnection,
  TransferEncoding,
  Upgrade,
  Te,
  Trailer,
  // Framing and routing.
  Host,
  ContentLength,
  Expect,
  // What the sidecar adds, reads or reports.
  XRequestId,
  XForwardedProto,
  XForwardedFor,
  UserAgent,
  XEnvoyPeerMetadata,
  XEnvoyPeerMetadataId,
};
inline constexpr std::size_t kKnownFieldCount = 17;  // None included

namespace detail {
inline constexpr std::array<std::string_view, kKnownFieldCount> kKnownFieldNames = {
    "",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
    "content-length",
    "expect",
    "x-request-id",
    "x-forwarded-proto",
    "x-forwarded-for",
    "user-agent",
    "x-envoy-peer-metadata",
    "x-envoy-peer-metadata-id",
};
}  // namespace detail

// Which known field `name` is, case-insensitively; None for any other name.
KnownField classifyFieldName(std::string_view name) noexcept;
// The lowercase name of a known field ("" for None): what add(KnownField)
// writes.
constexpr std::string_view knownFieldName(KnownField field) noexcept {
  return detail::kKnownFieldNames[static_cast<std::size_t>(field)];
}
// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE
// and Trailer.
constexpr bool isHopByHopByDefinition(KnownField field) noexcept {
  return field >= KnownField::Connection && field <= KnownField::Trailer;
}

// RFC 9110 §5.1: field-name = token (tchar: ALPHA DIGIT and !#$%&'*+-.^_`|~).
bool isValidFieldName(std::string_view name) noexcept;
// RFC 9110 §5.5: VCHAR, obs-text, SP and HTAB, with no leading or trailing
// SP/HTAB. Empty is valid.
bool isValidFieldValue(std::string_view value) noexcept;

class HeaderMap {
 public:
  struct Entry {
    std::string_view name;
    std::string_view value;
  };

  class const_iterator;  // NOLINT(readability-identifier-naming): std container idiom

  HeaderMap() = default;

  // Appends a field (copies both strings). Duplicates are kept.
  void add(std::string_view name, std::string_view value) {
    add(name, value, classifyFieldName(name));
  }
  // The same, for a caller that classified `name` already (the parser):
  // `known` must be classifyFieldName(name).
  void add(std::string_view name, std::string_view value, KnownField known);
  // Appends a known field under its lowercase name.
  void add(KnownField field, std::string_view value) { add(knownFieldName(field), value, field); }
  // Removes every field named `name`, then appends one with `value`.
  void set(std::string_view name, std::string_view value);
  void set(KnownField field, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);
  std::size_t remove(KnownField field);
  // Removes every field for which pred(KnownField known, std::string_view
  // name) is true (`known` is what classifyFieldName(name) says), in one
  // pass keeping the order of the rest; returns how many were removed.
  template <typename Pred>
  std::size_t removeIf(Pred&& pred) {
    return removeSlotsIf([&](const Slot& slot) { return pred(slot.known, entryOf(slot).name); });
  }

  // The value of the first field named `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  std::optional<std::string_view> get(KnownField field) const;
  // How many fields are named `name`.
  std::size_t count(std::string_view name) const;
  bool contains(std::string_view name) const { return count(name) > 0; }
  // A bit test.
  bool contains(KnownField field) const noexcept { return (known_ & bit(field)) != 0; }
  // True when no field is hop-by-hop by definition (isHopByHopByDefinition).
  bool noHopByHopByDefinition() const noexcept { return (known_ & kHopByHopBits) == 0; }
  // True when `field` is the one kind of hop-by-hop field present.
  bool onlyHopByHopByDefinition(KnownField field) const noexcept {
    return (known_ & kHopByHopBits) == bit(field);
  }

  // Calls fn(std::string_view value) for each field named `name`, in order.
  template <typename Fn>
  void forEachValue(std::string_view name, Fn&& fn) const;
  template <typename Fn>
  void forEachValue(KnownField field, Fn&& fn) const;

  // Number of fields.
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  // Decoded bytes: the sum of name and value lengths over every field (what
  // Envoy counts against max_request_headers_kb).
  std::size_t byteSize() const noexcept { return byte_size_; }

  Entry at(std::size_t index) const {
    REMORA_ASSERT(index < entries_.size());
    return entryOf(entries_[index]);
  }
  const_iterator begin() const;
  const_iterator end() const;

  // Forgets every field, keeping the allocated capacity.
  void clear() noexcept;
  // Reserves room for `fields` fields with `bytes` bytes of names and values.
  void reserve(std::size_t fields, std::size_t bytes);
  void swap(HeaderMap& other) noexcept;

 private:
  // A field's value follows its name in the arena (add() appends both).
  struct Slot {
    std::uint32_t name_offset;
    std::uint32_t name_size;
    std::uint32_t value_size;
    KnownField known;
  };
  Entry entryOf(const Slot& slot) const {
    return {std::string_view(arena_).substr(slot.name_offset, slot.name_size),
            std::string_view(arena_).substr(slot.name_offset + slot.name_size, slot.value_size)};
  }
  static constexpr std::uint32_t bit(KnownField field) noexcept {
    return std::uint32_t{1} << static_cast<unsigned>(field);
  }
  static constexpr std::uint32_t kHopByHopBits = ((std::uint32_t{1} << 8) - 1) & ~std::uint32_t{1};
  static_assert(static_cast<unsigned>(KnownField::Trailer) == 7 && kKnownFieldCount <= 32);
  // Removes the slots pred(const Slot&) selects; recomputes known_.
  template <typename Pred>
  std::size_t removeSlotsIf(Pred&& pred);

  std::string arena_;
  std::vector<Slot> entries_;
  std::size_t byte_size_ = 0;
  // Bit k set exactly when some field is KnownField k (add() sets it, a
  // removal recomputes it). Bit 0 (None) means nothing.
  std::uint32_t known_ = 0;
};

class HeaderMap::const_iterator {
 public:
  using value_type = Entry;                // NOLINT(readability-identifier-naming)
  using difference_type = std::ptrdiff_t;  // NOLINT(readability-identifier-naming)

  const_iterator() = default;
  const_iterator(const HeaderMap* map, std::size_t index) : map_(map), index_(index) {}
  Entry operator*() const { return map_->at(index_); }
  const_iterator& operator++() {
    ++index_;
    return *this;
  }
  const_iterator operator++(int) {
    auto copy = *this;
    ++index_;
    return copy;
  }
  bool operator==(const const_iterator& other) const { return index_ == other.index_; }

 private:
  const HeaderMap* map_ = nullptr;  // the map iterated; null only when default-constructed
  std::size_t index_ = 0;
};

inline HeaderMap::const_iterator HeaderMap::begin() const { return {this, 0}; }
inline HeaderMap::const_iterator HeaderMap::end() const { return {this, entries_.size()}; }

template <typename Pred>
std::size_t HeaderMap::removeSlotsIf(Pred&& pred) {
  // The arena keeps the removed bytes until clear(): removal is rare (hop-by-hop
  // stripping) and compacting would invalidate views for nothing.
  std::size_t removed = 0;
  std::uint32_t known = 0;
  auto out = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (pred(*it)) {
      byte_size_ -= it->name_size + it->value_size;
      ++removed;
    } else {
      known |= bit(it->known);
      *out++ = *it;
    }
  }
  entries_.erase(out, entries_.end());
  known_ = known;
  return removed;
}

template <typename Fn>
void HeaderMap::forEachValue(std::string_view name, Fn&& fn) const {
  if (KnownField known = classifyFieldName(name); known != KnownField::None) {
    forEachValue(known, fn);
    return;
  }
  for (const Slot& slot : entries_) {
    Entry e = entryOf(slot);
    if (slot.known == KnownField::None && equalsIgnoreCase(e.name, name)) fn(e.value);
  }
}

template <typename Fn>
void HeaderMap::forEachValue(KnownField field, Fn&& fn) const {
  if (!contains(field)) return;
  for (const Slot& slot : entries_) {
    if (slot.known == field) fn(entryOf(slot).value);
  }
}

// Calls fn(std::string_view element) for each non-empty element of a
// comma-separated list value (RFC 9110 §5.6.1: `#element`), with OWS trimmed.
// Quoted strings are not special-cased: the lists this is used for
// (Connection, Transfer-Encoding, Upgrade, Expect, TE) hold tokens.
template <typename Fn>
void forEachListElement(std::string_view value, Fn&& fn) {
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view element = value.substr(start, comma - start);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
      element.remove_prefix(1);
    }
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
      element.remove_suffix(1);
    }
    if (!element.empty()) fn(element);
    start = comma + 1;
  }
}

// True when some field named `name` lists `token` (case-insensitive), e.g.
// listContains(headers, "connection", "close").
bool listContains(const HeaderMap& headers, std::string_view name, std::string_view token);

// Hop-by-hop fields (RFC 9110 §7.6.1, R14): removes every field that a
// Connection field lists, then Connection itself and the fields that are
// hop-by-hop by definition (Keep-Alive, Proxy-Connection, Transfer-Encoding,
// Upgrade, TE, Trailer), as Envoy does for a sidecar. With `keep_upgrade`,
// the Upgrade field and the `upgrade` Connection token survive, for a request
// the proxy forwards as an upgrade attempt. Returns how many fields were
// removed. Connection-listed names that would name framing or routing fields
// (Content-Length, Host) are not removed: a client cannot make the proxy
// drop those.
std::size_t stripHopByHop(HeaderMap& headers, bool keep_upgrade = false);

}  // namespace remora::http
