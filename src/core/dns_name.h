// RFC 1123 names, as Kubernetes validates object names: the one check the
// SPIFFE identities, the proxy config and the security policies share.
//
// Threading: pure functions.
#pragma once

#include <string_view>

namespace remora {

// A label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1 to 63 bytes (namespaces,
// Service names).
bool isDnsLabel(std::string_view s) noexcept;

// A subdomain: labels joined by '.', 1 to 253 bytes (most object names,
// service accounts, hostnames).
bool isDnsSubdomain(std::string_view s) noexcept;

}  // namespace remora
