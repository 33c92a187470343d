#include "http/header_map.h"

#include <algorithm>
#include <array>
#include <utility>

#include "core/assert.h"
#include "http/chars.h"

namespace remora::http {

namespace {

// `lower` is lowercase and as long as `name`. Out of line on purpose: one
// loop serves every known name.
bool equalsLowercase(std::string_view name, std::string_view lower) noexcept {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (toLower(name[i]) != lower[i]) return false;
  }
  return true;
}

}  // namespace

KnownField classifyFieldName(std::string_view name) noexcept {
  // The length and, where names share one, the first letter leave one
  // candidate; one comparison confirms it.
  KnownField candidate = KnownField::None;
  switch (name.size()) {
    case 2: candidate = KnownField::Te; break;
    case 4: candidate = KnownField::Host; break;
    case 6: candidate = KnownField::Expect; break;
    case 7: candidate = toLower(name[0]) == 'u' ? KnownField::Upgrade : KnownField::Trailer; break;
    case 10:
      switch (toLower(name[0])) {
        case 'c': candidate = KnownField::Connection; break;
        case 'k': candidate = KnownField::KeepAlive; break;
        default: candidate = KnownField::UserAgent; break;
      }
      break;
    case 12: candidate = KnownField::XRequestId; break;
    case 14: candidate = KnownField::ContentLength; break;
    case 15: candidate = KnownField::XForwardedFor; break;
    case 16: candidate = KnownField::ProxyConnection; break;
    case 17:
      candidate =
          toLower(name[0]) == 't' ? KnownField::TransferEncoding : KnownField::XForwardedProto;
      break;
    case 21: candidate = KnownField::XEnvoyPeerMetadata; break;
    case 24: candidate = KnownField::XEnvoyPeerMetadataId; break;
    default: return KnownField::None;
  }
  return equalsLowercase(name, knownFieldName(candidate)) ? candidate : KnownField::None;
}

bool isValidFieldName(std::string_view name) noexcept {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return isTchar(c); });
}

bool isValidFieldValue(std::string_view value) noexcept {
  if (value.empty()) return true;
  if (isOws(value.front()) || isOws(value.back())) return false;
  return isFieldValue(value);
}

void HeaderMap::add(std::string_view name, std::string_view value, KnownField known) {
  REMORA_ASSERT(known == classifyFieldName(name));
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
  slot.value_size = static_cast<std::uint32_t>(value.size());
  slot.known = known;
  arena_.append(name);
  arena_.append(value);
  entries_.push_back(slot);
  byte_size_ += name.size() + value.size();
  known_ |= bit(known);
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
  known_ |= bit(added.known);
}

void HeaderMap::set(KnownField field, std::string_view value) {
  if (!contains(field)) {
    add(field, value);  // none to remove: no pass over the fields
    return;
  }
  set(knownFieldName(field), value);
}

std::size_t HeaderMap::remove(std::string_view name) {
  if (KnownField known = classifyFieldName(name); known != KnownField::None) return remove(known);
  // `name` may be a view into the arena; removal does not modify the arena.
  return removeSlotsIf([&](const Slot& slot) {
    return slot.known == KnownField::None && equalsIgnoreCase(entryOf(slot).name, name);
  });
}

std::size_t HeaderMap::remove(KnownField field) {
  if (!contains(field)) return 0;
  return removeSlotsIf([field](const Slot& slot) { return slot.known == field; });
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const {
  if (KnownField known = classifyFieldName(name); known != KnownField::None) return get(known);
  for (const Slot& slot : entries_) {
    if (slot.known != KnownField::None) continue;
    Entry e = entryOf(slot);
    if (equalsIgnoreCase(e.name, name)) return e.value;
  }
  return std::nullopt;
}

std::optional<std::string_view> HeaderMap::get(KnownField field) const {
  if (!contains(field)) return std::nullopt;
  for (const Slot& slot : entries_) {
    if (slot.known == field) return entryOf(slot).value;
  }
  return std::nullopt;
}

std::size_t HeaderMap::count(std::string_view name) const {
  std::size_t n = 0;
  forEachValue(name, [&n](std::string_view) { ++n; });
  return n;
}

void HeaderMap::clear() noexcept {
  arena_.clear();
  entries_.clear();
  byte_size_ = 0;
  known_ = 0;
}

void HeaderMap::reserve(std::size_t fields, std::size_t bytes) {
  entries_.reserve(fields);
  arena_.reserve(bytes);
}

void HeaderMap::swap(HeaderMap& other) noexcept {
  arena_.swap(other.arena_);
  entries_.swap(other.entries_);
  std::swap(byte_size_, other.byte_size_);
  std::swap(known_, other.known_);
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
// Whether a name that a Connection field lists goes as a listed name:
// hop-by-hop ones go anyway, Host and Content-Length never (the proxy frames
// and routes with them).
bool removedAsListed(KnownField known) {
  return !isHopByHopByDefinition(known) && known != KnownField::Host &&
         known != KnownField::ContentLength;
}
}  // namespace

std::size_t stripHopByHop(HeaderMap& headers, bool keep_upgrade) {
  // Most messages carry no hop-by-hop field at all: a bit test says so.
  if (headers.noHopByHopByDefinition()) return 0;
  // Most of the others carry `Connection: keep-alive` alone (nginx on every
  // response). It lists only a name that is hop-by-hop by definition, of
  // which no field is present: the Connection fields go by their kind,
  // without the general pass below.
  if (headers.onlyHopByHopByDefinition(KnownField::Connection)) {
    bool only_keep_alive = true;
    headers.forEachValue(KnownField::Connection, [&](std::string_view value) {
      only_keep_alive = only_keep_alive && equalsIgnoreCase(value, "keep-alive");
    });
    if (only_keep_alive) return headers.remove(KnownField::Connection);
  }
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
  headers.forEachValue(KnownField::Connection, [&](std::string_view value) {
    forEachListElement(value, [&](std::string_view token) {
      const KnownField known = classifyFieldName(token);
      if (known == KnownField::Upgrade) upgrade_listed = true;
      if (!removedAsListed(known)) return;
      if (listed_count < std::size(listed)) {
        listed[listed_count++] = {token.data(), token.size()};
      } else {
        overflow = true;
      }
    });
  });
  std::size_t removed = 0;
  if (overflow) {
    // More than 32 distinct tokens: rare enough to pay for a pass per name.
    std::string names;
    headers.forEachValue(KnownField::Connection, [&](std::string_view value) {
      names.append(value);
      names.push_back(',');
    });
    forEachListElement(names, [&](std::string_view token) {
      if (removedAsListed(classifyFieldName(token))) removed += headers.remove(token);
    });
  }
  const bool keep = keep_upgrade && upgrade_listed && headers.contains(KnownField::Upgrade);
  removed += headers.removeIf([&](KnownField known, std::string_view name) {
    if (isHopByHopByDefinition(known)) return !(keep && known == KnownField::Upgrade);
    for (std::size_t i = 0; i < listed_count; ++i) {
      if (equalsIgnoreCase(name, {listed[i].data, listed[i].size})) return true;
    }
    return false;
  });
  if (keep) headers.add("Connection", "upgrade", KnownField::Connection);
  return removed;
}

}  // namespace remora::http
