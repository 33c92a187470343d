// Path normalisation as Istio's default `meshConfig.pathNormalization: BASE`,
// which is Envoy's `normalize_path: true` with `merge_slashes: false` and
// escaped slashes kept unchanged. The proxy applies it to every request's
// path before authorisation and forwards the normalised path, so the policy
// and the application see the same path (`/%61dmin` cannot slip past a
// policy on `/admin`).
//
// What changes, on the path only (a `?query` is kept byte for byte):
//   - `\` becomes `/` (Envoy follows Chromium's URL canonicaliser here);
//   - a percent-escape of an unreserved character (ALPHA DIGIT - . _ ~) is
//     decoded: `/%61dmin` -> `/admin`, `/%2e%2E/x` -> `/x`; other escapes
//     (`%2F`, `%20`, ...) are kept as written, so `/a%2Fb` stays one segment;
//   - bytes that may not appear raw in a path (controls, space, DEL, bytes
//     >= 0x80, `"` `<` `>` `` ` `` `{` `}`) are percent-encoded (`%XX`);
//   - dot segments are removed as RFC 3986 §5.2.4 says: `/./a` -> `/a`,
//     `/a/../b` -> `/b`, `/..` -> `/`, `/a/.` -> `/a/`.
// What does not change: letter case (`/ADMIN` is not `/admin`), and
// repeated slashes (`//admin` stays `//admin`: BASE does not merge them, so
// a policy on `/admin` does not match it; MERGE_SLASHES would).
//
// Errors (Errc::BadRequest, the proxy answers 400): a path that does not
// start with `/` (except the asterisk-form `*`), a truncated or non-hex
// percent-escape (`/%2`, `/%zz`), a `#`, or a path longer than 64 KiB.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace remora::security {

// The normalised form of `path` (a request-target in origin form, possibly
// with a query). Returns `path` itself when it is already normal (no
// allocation, the common case), else a view into `scratch`, which it
// overwrites. The view is valid while both `path` and `scratch` are.
Result<std::string_view> normalizePath(std::string_view path, std::string& scratch);

// The same, as an owned string.
Result<std::string> normalizePath(std::string_view path);

// The path without its `?query`, as authorisation matches it.
inline std::string_view pathWithoutQuery(std::string_view path) {
  return path.substr(0, path.find('?'));
}

}  // namespace remora::security
