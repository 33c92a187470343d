#include "http/header_map.h"

#include <algorithm>
#include <utility>

#include "core/assert.h"
#include "http/chars.h"

namespace remora::http {

bool isValidFieldName(std::string_view name) noexcept {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return isTchar(c); });
}

bool isValidFieldValue(std::string_view value) noexcept {
  if (value.empty()) return true;
  if (isOws(value.front()) || isOws(value.back())) return false;
  return isFieldValue(value);
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  // Offsets are 32-bit: a map is bounded by the parser's limits (kilobytes),
  // and code adding fields itself adds small ones.
  REMORA_CHECK(arena_.size() + name.size() + value.size() <= UINT32_MAX, "HeaderMap overflow");
  // `name` or `value` may view our own arena (set("a", *get("b"))); growing the
  // arena would leave them dangling, so re-derive them from offsets.
  const char* base = arena_.data();
  auto inArena = [&](std::string_view s) {
    return !s.empty() && s.data() >= base && s.data() < base + arena_.size();
  };
  std::size_t name_at = inArena(name) ? static_cast<std::size_t>(name.data() - base) : SIZE_MAX;
  std::size_t value_at = inArena(value) ? static_cast<std::size_t>(value.data() - base) : SIZE_MAX;
  std::size_t needed = arena_.size() + name.size() + value.size();
  if (needed > arena_.capacity()) arena_.reserve(std::max(needed, 2 * arena_.capacity()));
  if (name_at != SIZE_MAX) name = std::string_view(arena_).substr(name_at, name.size());
  if (value_at != SIZE_MAX) value = std::string_view(arena_).substr(value_at, value.size());

  Slot slot{};
  slot.name_offset = static_cast<std::uint32_t>(arena_.size());
  slot.name_size = static_cast<std::uint32_t>(name.size());
  arena_.append(name);
  slot.value_offset = static_cast<std::uint32_t>(arena_.size());
  slot.value_size = static_cast<std::uint32_t>(value.size());
  arena_.append(value);
  entries_.push_back(slot);
  byte_size_ += name.size() + value.size();
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  // Append first (add() copes with views into the arena), then drop the old
  // fields by the copied name, then put the new one back at the end.
  add(name, value);
  Slot added = entries_.back();
  entries_.pop_back();
  byte_size_ -= added.name_size + added.value_size;
  remove(entryOf(added).name);
  entries_.push_back(added);
  byte_size_ += added.name_size + added.value_size;
}

std::size_t HeaderMap::remove(std::string_view name) {
  // `name` may be a view into the arena; removal does not modify the arena.
  return removeIf([name](std::string_view field) { return equalsIgnoreCase(field, name); });
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const {
  for (const Slot& slot : entries_) {
    Entry e = entryOf(slot);
    if (equalsIgnoreCase(e.name, name)) return e.value;
  }
  return std::nullopt;
}

std::size_t HeaderMap::count(std::string_view name) const {
  std::size_t n = 0;
  for (const Slot& slot : entries_) {
    if (equalsIgnoreCase(entryOf(slot).name, name)) ++n;
  }
  return n;
}

HeaderMap::Entry HeaderMap::at(std::size_t index) const {
  REMORA_ASSERT(index < entries_.size());
  return entryOf(entries_[index]);
}

void HeaderMap::clear() noexcept {
  arena_.clear();
  entries_.clear();
  byte_size_ = 0;
}

void HeaderMap::reserve(std::size_t fields, std::size_t bytes) {
  entries_.reserve(fields);
  arena_.reserve(bytes);
}

void HeaderMap::swap(HeaderMap& other) noexcept {
  arena_.swap(other.arena_);
  entries_.swap(other.entries_);
  std::swap(byte_size_, other.byte_size_);
}

bool listContains(const HeaderMap& headers, std::string_view name, std::string_view token) {
  bool found = false;
  headers.forEachValue(name, [&](std::string_view value) {
    forEachListElement(value, [&](std::string_view element) {
      if (equalsIgnoreCase(element, token)) found = true;
    });
  });
  return found;
}

namespace {

// Asked of every field of every message twice (request and response): the
// length picks the one or two names to compare.
[[gnu::always_inline]] inline bool isHopByHopByDefinition(std::string_view name) {
  switch (name.size()) {
    case 2: return equalsIgnoreCase(name, "te");
    case 7: return equalsIgnoreCase(name, "upgrade") || equalsIgnoreCase(name, "trailer");
    case 10: return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
    case 16: return equalsIgnoreCase(name, "proxy-connection");
    case 17: return equalsIgnoreCase(name, "transfer-encoding");
    default: return false;
  }
}

// Fields a Connection token must never make us drop: the proxy frames and
// routes with them.
bool isProtected(std::string_view name) {
  return equalsIgnoreCase(name, "content-length") || equalsIgnoreCase(name, "host");
}

}  // namespace

std::size_t stripHopByHop(HeaderMap& headers, bool keep_upgrade) {
  bool upgrade_listed = false;
  // The names Connection lists (views into the arena stay valid: removal
  // does not touch the arena), then one pass over the fields.
  // Left uninitialised: a std::string_view array would zero 512 bytes on
  // every call, for the one or two names a Connection field lists.
  struct Listed {
    const char* data;
    std::size_t size;
  };
  Listed listed[32];  // NOLINT(cppcoreguidelines-pro-type-member-init): written before read
  std::size_t listed_count = 0;
  bool overflow = false;
  // One pass finds the Connection fields and whether any field is
  // hop-by-hop by definition (Connection is one): a message with neither,
  // most requests, is left as it is without the removal pass.
  bool any_hop_by_hop = false;
  for (const auto& field : headers) {
    if (!isHopByHopByDefinition(field.name)) continue;
    any_hop_by_hop = true;
    if (!equalsIgnoreCase(field.name, "connection")) continue;
    forEachListElement(field.value, [&](std::string_view token) {
      if (equalsIgnoreCase(token, "upgrade")) upgrade_listed = true;
      if (isProtected(token) || isHopByHopByDefinition(token)) return;
      if (listed_count < std::size(listed)) {
        listed[listed_count++] = {token.data(), token.size()};
      } else {
        overflow = true;
      }
    });
  }
  if (!any_hop_by_hop) return 0;
  std::size_t removed = 0;
  if (overflow) {
    // More than 32 distinct tokens: rare enough to pay for a pass per name.
    std::string names;
    headers.forEachValue("connection", [&](std::string_view value) {
      names.append(value);
      names.push_back(',');
    });
    forEachListElement(names, [&](std::string_view token) {
      if (!isProtected(token) && !isHopByHopByDefinition(token)) removed += headers.remove(token);
    });
  }
  const bool keep = keep_upgrade && upgrade_listed && headers.contains("upgrade");
  removed += headers.removeIf([&](std::string_view name) {
    if (isHopByHopByDefinition(name)) return !(keep && equalsIgnoreCase(name, "upgrade"));
    for (std::size_t i = 0; i < listed_count; ++i) {
      if (equalsIgnoreCase(name, {listed[i].data, listed[i].size})) return true;
    }
    return false;
  });
  if (keep) headers.add("Connection", "upgrade");
  return removed;
}

}  // namespace remora::http
