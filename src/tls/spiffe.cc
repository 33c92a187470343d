#include "tls/spiffe.h"

#include <fmt/format.h>

#include "core/dns_name.h"

namespace remora::tls {

namespace {

constexpr std::string_view kScheme = "spiffe://";

Error invalid(std::string_view what, std::string_view value) {
  // Echo at most a bounded, printable prefix of hostile input.
  std::string shown;
  for (char c : value.substr(0, 80)) {
    shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (value.size() > 80) shown += "...";
  return Error{Errc::InvalidArgument, fmt::format("invalid SPIFFE ID \"{}\": {}", shown, what)};
}

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isTrustDomainChar(char c) { return isLowerAlnum(c) || c == '.' || c == '-' || c == '_'; }
bool isPathChar(char c) {
  return isLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_';
}

Status checkTrustDomain(std::string_view td, std::string_view whole) {
  if (td.empty()) return invalid("the trust domain is empty", whole);
  if (td.size() > kMaxTrustDomainBytes) {
    return invalid(fmt::format("the trust domain is longer than {} bytes", kMaxTrustDomainBytes),
                   whole);
  }
  for (char c : td) {
    if (c == ':') return invalid("the trust domain has a port", whole);
    if (c == '@') return invalid("the trust domain has user info", whole);
    if (c >= 'A' && c <= 'Z') return invalid("the trust domain has upper-case letters", whole);
    if (!isTrustDomainChar(c)) {
      return invalid("the trust domain has a character outside [a-z0-9._-]", whole);
    }
  }
  return ok();
}

Status checkPath(std::string_view path, std::string_view whole) {
  // path is "" or starts with '/'.
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t next = path.find('/', pos + 1);
    std::string_view segment = path.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    if (segment.empty()) {
      return invalid(next == std::string_view::npos ? "the path ends with '/'"
                                                    : "the path has an empty segment",
                     whole);
    }
    if (segment == "." || segment == "..") {
      return invalid("the path has a '.' or '..' segment", whole);
    }
    for (char c : segment) {
      if (c == '%') return invalid("the path is percent-encoded", whole);
      if (!isPathChar(c)) {
        return invalid("the path has a character outside [A-Za-z0-9._-]", whole);
      }
    }
    if (next == std::string_view::npos) break;
    pos = next;
  }
  return ok();
}

}  // namespace

Status validateTrustDomain(std::string_view trust_domain) {
  if (trust_domain.find('\0') != std::string_view::npos) {
    return invalid("the trust domain contains a NUL byte", trust_domain);
  }
  return checkTrustDomain(trust_domain, trust_domain);
}

Status validateNamespaceName(std::string_view ns) {
  if (!isDnsLabel(ns)) {
    return Error{Errc::InvalidArgument,
                 fmt::format("invalid namespace name \"{}\": must be a DNS label "
                             "([a-z0-9-], at most 63 bytes)",
                             ns.substr(0, 80))};
  }
  return ok();
}

Status validateServiceAccountName(std::string_view sa) {
  if (!isDnsSubdomain(sa)) {
    return Error{Errc::InvalidArgument,
                 fmt::format("invalid service account name \"{}\": must be a DNS subdomain "
                             "([a-z0-9.-], at most 253 bytes)",
                             sa.substr(0, 80))};
  }
  return ok();
}

Result<SpiffeId> SpiffeId::parse(std::string_view uri) {
  if (uri.size() > kMaxSpiffeIdBytes) {
    return invalid(fmt::format("longer than {} bytes", kMaxSpiffeIdBytes), uri);
  }
  if (uri.find('\0') != std::string_view::npos) return invalid("contains a NUL byte", uri);
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return invalid("the scheme is not \"spiffe://\"", uri);
  }
  std::string_view rest = uri.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid("has a query or fragment", uri);
  }
  std::size_t slash = rest.find('/');
  std::string_view td = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  REMORA_TRY(checkTrustDomain(td, uri));
  REMORA_TRY(checkPath(path, uri));
  return SpiffeId(std::string(td), std::string(path));
}

Result<SpiffeId> SpiffeId::forWorkload(std::string_view trust_domain, std::string_view ns,
                                       std::string_view service_account) {
  REMORA_TRY(validateTrustDomain(trust_domain));
  REMORA_TRY(validateNamespaceName(ns));
  REMORA_TRY(validateServiceAccountName(service_account));
  return SpiffeId(std::string(trust_domain), fmt::format("/ns/{}/sa/{}", ns, service_account));
}

std::string SpiffeId::uri() const { return fmt::format("spiffe://{}{}", trust_domain_, path_); }

std::string SpiffeId::principal() const { return trust_domain_ + path_; }

std::optional<WorkloadIdentity> SpiffeId::workload() const {
  std::string_view p = path_;
  if (p.substr(0, 4) != "/ns/") return std::nullopt;
  p.remove_prefix(4);
  std::size_t sa_pos = p.find("/sa/");
  if (sa_pos == std::string_view::npos) return std::nullopt;
  std::string_view ns = p.substr(0, sa_pos);
  std::string_view sa = p.substr(sa_pos + 4);
  if (!isDnsLabel(ns) || !isDnsSubdomain(sa)) return std::nullopt;
  return WorkloadIdentity{std::string(ns), std::string(sa)};
}

}  // namespace remora::tls
