// JSON at Remora's boundaries: nlohmann::json without exceptions.
//
// `Json` keeps object keys in insertion order (ordered_json), so a manifest
// or AdmissionReview read and written back keeps the author's key order.
// parseJson() is the one adapter between nlohmann's exceptions and Result:
// it bounds size and nesting before nlohmann sees the text, so hostile input
// (a 10,000-deep array, a 100 MB body) is an Error, never a crash or a stall.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace remora {

using Json = nlohmann::ordered_json;

struct JsonLimits {
  std::size_t max_bytes = 16 * 1024 * 1024;
  std::size_t max_depth = 128;
};

// Parses one JSON document. Errors name the byte offset where parsing failed.
Result<Json> parseJson(std::string_view text, const JsonLimits& limits = {});

// Deepest nesting of arrays and objects in `text` (strings are skipped), or
// `limit + 1` as soon as it is exceeded. Linear, no allocation.
std::size_t jsonDepth(std::string_view text, std::size_t limit);

// Serialises without throwing: invalid UTF-8 in strings is replaced with
// U+FFFD instead of raising (nlohmann's default is to throw).
std::string dumpJson(const Json& value, int indent = -1);

// Typed lookups that never throw and say which field was wrong.
//   REMORA_ASSIGN_OR_RETURN(std::string name, getString(metadata, "name"));
const Json* findField(const Json& object, std::string_view key);  // nullptr when absent
Result<std::string> getString(const Json& object, std::string_view key);

}  // namespace remora
