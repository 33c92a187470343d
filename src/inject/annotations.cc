#include "inject/annotations.h"

#include <charconv>
#include <functional>

#include <arpa/inet.h>
#include <fmt/format.h>

#include "kube/objects.h"
#include "kube/yaml.h"

namespace remora::inject {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename F>
void forEachEntry(std::string_view text, F&& f) {
  while (true) {
    std::size_t comma = text.find(',');
    std::string_view entry = trim(text.substr(0, comma));
    if (!entry.empty()) f(entry);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
}

Result<int> parseInt(std::string_view text, long long min, long long max, std::string_view what) {
  text = trim(text);
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < min ||
      value > max) {
    return Error{Errc::InvalidArgument,
                 fmt::format("\"{}\" is not {} ({}..{})", text, what, min, max)};
  }
  return static_cast<int>(value);
}

Status validateCidr(std::string_view cidr) {
  auto slash = cidr.find('/');
  auto invalid = [&] {
    return Error{Errc::InvalidArgument,
                 fmt::format("\"{}\" is not a CIDR (like 10.0.0.0/8 or fd00::/8)", cidr)};
  };
  if (slash == std::string_view::npos) return invalid();
  std::string address(cidr.substr(0, slash));
  unsigned char buf[16];
  int max_prefix = 0;
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buf) == 1) {
    max_prefix = 128;
  } else {
    return invalid();
  }
  if (!parseInt(cidr.substr(slash + 1), 0, max_prefix, "a prefix length")) return invalid();
  return ok();
}

Status validateInterfaces(std::string_view text) {
  Status status;
  forEachEntry(text, [&](std::string_view name) {
    if (!status) return;
    bool ok_name = name.size() <= 15;
    for (char c : name) {
      ok_name = ok_name && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == '@');
    }
    if (!ok_name) {
      status = Error{Errc::InvalidArgument, fmt::format("\"{}\" is not an interface name", name)};
    }
  });
  return status;
}

// Each validator checks one annotation's value; the caller adds the name.
using Validator = std::function<Status(std::string_view)>;

Status validatePorts(std::string_view v) {
  REMORA_TRY(parsePortList(v));
  return ok();
}

Status validateStarOrPorts(std::string_view v) {
  if (trim(v) == "*") return ok();
  return validatePorts(v);
}

Status validateExcludePorts(std::string_view v) {
  if (v.find('*') != std::string_view::npos) {
    return Error{Errc::InvalidArgument, "\"*\" is not allowed in an exclude list"};
  }
  return validatePorts(v);
}

Status validateIncludeRanges(std::string_view v) {
  if (trim(v) == "*") return ok();
  Status s = validateCidrList(v);
  if (!s) return s.error().context("invalid includeIPRanges");
  return ok();
}

Status validateExcludeRanges(std::string_view v) {
  if (v.find('*') != std::string_view::npos) {
    return Error{Errc::InvalidArgument, "invalid excludeIPRanges: \"*\" is not allowed"};
  }
  Status s = validateCidrList(v);
  if (!s) return s.error().context("invalid excludeIPRanges");
  return ok();
}

Status validateBool(std::string_view v) {
  if (!parseBool(v)) {
    return Error{Errc::InvalidArgument, fmt::format("\"{}\" is not true or false", v)};
  }
  return ok();
}

Status validateQuantity(std::string_view v) {
  REMORA_ASSIGN_OR_RETURN(double q, kube::parseQuantity(trim(v)));
  if (q < 0) return Error{Errc::InvalidArgument, fmt::format("\"{}\" is negative", v)};
  return ok();
}

Status validateStatusPort(std::string_view v) {
  REMORA_TRY(parseInt(v, 0, 65535, "a port number"));
  return ok();
}

Status validateSeconds(std::string_view v) {
  REMORA_TRY(parseInt(v, 0, 2147483647, "a non-negative number"));
  return ok();
}

Status validateInterceptionMode(std::string_view v) {
  if (v == "REDIRECT" || v == "TPROXY" || v == "NONE") return ok();
  return Error{Errc::InvalidArgument,
               fmt::format("\"{}\" is not an interception mode (REDIRECT, TPROXY or NONE)", v)};
}

Status validateLogLevel(std::string_view v) {
  for (std::string_view level : {"trace", "debug", "info", "warning", "error", "critical", "off"}) {
    if (v == level) return ok();
  }
  return Error{Errc::InvalidArgument,
               fmt::format("\"{}\" is not a log level (trace, debug, info, warning, error, "
                           "critical, off)",
                           v)};
}

Status validateProxyConfig(std::string_view v) {
  REMORA_ASSIGN_OR_RETURN(Json config, kube::parseYaml(v, {.max_bytes = 1 << 20, .max_depth = 32}));
  if (!config.is_object()) return Error{Errc::InvalidArgument, "a ProxyConfig must be a mapping"};
  if (const Json* c = findField(config, "concurrency");
      c != nullptr && !c->is_null() && !(c->is_number_integer() && c->get<std::int64_t>() >= 0)) {
    return Error{Errc::InvalidArgument, "concurrency must be a non-negative integer"};
  }
  if (const Json* m = findField(config, "proxyMetadata"); m != nullptr && !m->is_null()) {
    if (!m->is_object()) return Error{Errc::InvalidArgument, "proxyMetadata must be a mapping"};
    for (const auto& [key, value] : m->items()) {
      if (value.is_object() || value.is_array()) {
        return Error{Errc::InvalidArgument, fmt::format("proxyMetadata.{} must be a string", key)};
      }
    }
  }
  if (const Json* h = findField(config, "holdApplicationUntilProxyStarts");
      h != nullptr && !h->is_null() && !h->is_boolean()) {
    return Error{Errc::InvalidArgument, "holdApplicationUntilProxyStarts must be true or false"};
  }
  return ok();
}

struct Rule {
  std::string_view name;
  Status (*validate)(std::string_view);
};

const Rule kRules[] = {
    {names::kNativeSidecar, validateBool},
    {names::kRewriteProbes, validateBool},
    {names::kProxyCPU, validateQuantity},
    {names::kProxyMemory, validateQuantity},
    {names::kProxyCPULimit, validateQuantity},
    {names::kProxyMemoryLimit, validateQuantity},
    {names::kInterceptionMode, validateInterceptionMode},
    {names::kLogLevel, validateLogLevel},
    {names::kProxyConfig, validateProxyConfig},
    {names::kStatusPort, validateStatusPort},
    {names::kReadinessInitialDelay, validateSeconds},
    {names::kReadinessPeriod, validateSeconds},
    {names::kReadinessFailureThreshold, validateSeconds},
    {names::kReadinessApplicationPorts, validatePorts},
    {names::kIncludeOutboundIPRanges, validateIncludeRanges},
    {names::kExcludeOutboundIPRanges, validateExcludeRanges},
    {names::kIncludeInboundPorts, validateStarOrPorts},
    {names::kExcludeInboundPorts, validateExcludePorts},
    {names::kIncludeOutboundPorts, validatePorts},
    {names::kExcludeOutboundPorts, validateExcludePorts},
    {names::kExcludeInterfaces, validateInterfaces},
    {names::kKubevirtInterfaces, validateInterfaces},
};

}  // namespace

Result<std::optional<std::string>> annotationValue(const Json& annotations, std::string_view name) {
  const Json* value = annotations.is_object() ? findField(annotations, name) : nullptr;
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) {
    return Error{Errc::InvalidArgument,
                 fmt::format("annotation {} must be a string, not {} (quote the value: \"{}\")",
                             name, value->type_name(), value->dump())};
  }
  return std::optional<std::string>(value->get<std::string>());
}

Status validateAnnotations(const Json& annotations) {
  if (annotations.is_null()) return ok();
  if (!annotations.is_object()) {
    return Error{Errc::InvalidArgument, "metadata.annotations must be a mapping"};
  }
  for (const auto& rule : kRules) {
    REMORA_ASSIGN_OR_RETURN(auto value, annotationValue(annotations, rule.name));
    if (!value) continue;
    Status s = rule.validate(*value);
    if (!s) {
      return Error{Errc::InvalidArgument,
                   fmt::format("annotation {}=\"{}\": {}", rule.name, *value, s.error().message)};
    }
  }
  // Requests above limits would be refused by the API server; say it here.
  for (auto [request, limit] : {std::pair{names::kProxyCPU, names::kProxyCPULimit},
                                std::pair{names::kProxyMemory, names::kProxyMemoryLimit}}) {
    auto r = annotationValue(annotations, request);
    auto l = annotationValue(annotations, limit);
    if (!r || !l || !*r || !*l) continue;
    auto rq = kube::parseQuantity(trim(**r));
    auto lq = kube::parseQuantity(trim(**l));
    if (rq && lq && *rq > *lq) {
      return Error{Errc::InvalidArgument, fmt::format("annotation {}=\"{}\" is more than {}=\"{}\"",
                                                      request, **r, limit, **l)};
    }
  }
  return ok();
}

std::optional<bool> parseBool(std::string_view text) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (text == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (text == f) return false;
  }
  return std::nullopt;
}

Result<std::vector<int>> parsePortList(std::string_view text) {
  std::vector<int> ports;
  Status status;
  forEachEntry(text, [&](std::string_view entry) {
    if (!status) return;
    auto port = parseInt(entry, 1, 65535, "a port number");
    if (!port) {
      status = std::move(port).error();
      return;
    }
    ports.push_back(*port);
  });
  if (!status) return std::move(status).error();
  return ports;
}

Status validateCidrList(std::string_view text) {
  Status status;
  forEachEntry(text, [&](std::string_view cidr) {
    if (status) status = validateCidr(cidr);
  });
  return status;
}

std::string normalizeList(std::string_view text) {
  std::string out;
  forEachEntry(text, [&](std::string_view entry) {
    if (!out.empty()) out.push_back(',');
    out.append(entry);
  });
  return out;
}

}  // namespace remora::inject
