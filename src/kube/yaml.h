// Kubernetes manifests in YAML (or JSON), read into and written from Json.
//
// Reading: a stream of YAML documents separated by `---` (or one JSON value)
// becomes a sequence of Json values, in document order. Empty documents (a
// leading or trailing `---`, a document holding only comments) are dropped.
// Scalars are typed as kubectl types them (go-yaml v2, YAML 1.1 flavour):
// plain `true`/`yes`/`on` are booleans, `80` and `0755` are integers, `1e3` is a
// float, `~`/`null`/empty is null; quoted and block scalars are strings.
// Anchors and aliases are expanded, `<<` merge keys are applied, duplicate keys
// are an error. Key order is kept (Json is an ordered map).
//
// This file's .cc is the one place where yaml-cpp's exceptions are caught:
// every function here returns an Error instead. Hostile input (alias bombs,
// deep nesting, huge streams) is bounded by YamlLimits and reported as an
// Error naming the document number and the line.
//
// Writing: toYaml() emits block-style YAML in kubectl's layout (sequences at
// their parent key's indentation), keeping key order. A string is written
// plain only when it reads back as the same string; otherwise it is quoted
// (or written as a literal block when it spans lines), so that
// parse(toYaml(v)) == v for every Json value v without NaN or infinities.
//
// Threading: all functions are reentrant; nothing is shared.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace remora::kube {

struct YamlLimits {
  std::size_t max_bytes = 512 * 1024 * 1024;  // the whole stream
  std::size_t max_depth = 100;                // nesting of mappings and sequences
  std::size_t max_nodes = 4 * 1024 * 1024;    // per document, after alias expansion
};

// One document of a manifest stream.
struct Document {
  Json value;
  int index = 0;  // 1-based among the non-empty documents of the stream
  int line = 0;   // 1-based line where the document starts
};

// Calls `sink` for each non-empty document, in order, as soon as it is read,
// so a long stream is never held whole in memory as Json. Stops at the first
// error (from parsing or returned by the sink) and returns it. Errors from
// parsing read "document N (line L, column C): what".
using DocumentSink = std::function<Status(Document&&)>;
Status forEachDocument(std::string_view text, const DocumentSink& sink,
                       const YamlLimits& limits = {});

// The same, with the parsing done on a helper thread while `sink` runs on
// the calling thread, one document behind: for long streams the parse
// (yaml-cpp) and the work on each document overlap on two cores. At most
// `queue_depth` parsed documents wait for the sink. Order, errors and the
// stop-at-first-error contract are those of forEachDocument(); the helper
// thread is joined before this returns. `text` must stay valid until then.
Status forEachDocumentPipelined(std::string_view text, const DocumentSink& sink,
                                const YamlLimits& limits = {}, std::size_t queue_depth = 64);

// Convenience: all documents at once.
Result<std::vector<Document>> parseDocuments(std::string_view text, const YamlLimits& limits = {});

// Parses exactly one YAML or JSON document (a values file, a mesh config, an
// annotation's value). An empty text gives an empty object; more than one
// document is an error.
Result<Json> parseYaml(std::string_view text, const YamlLimits& limits = {});

// Block-style YAML for one document, ending in a newline, without `---`.
std::string toYaml(const Json& value);
void appendYaml(std::string& out, const Json& value);

// The type a plain (unquoted) scalar has when kubectl reads it: null, bool,
// integer, float, or the string itself. Exposed for tests.
Json resolvePlainScalar(std::string_view text);

// True when `text` can be written as a plain scalar and read back as the same
// string. Exposed for tests.
bool isPlainSafe(std::string_view text);

}  // namespace remora::kube
