#include "proxy/admin/app_probers.h"

#include <algorithm>
#include <cctype>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <fmt/format.h>

#include "core/json.h"
#include "http/chars.h"
#include "http/client.h"

namespace remora::proxy::admin {
namespace {

Error invalid(std::string_view key, std::string_view what) {
  return Error{Errc::InvalidArgument, fmt::format("ISTIO_KUBE_APP_PROBERS: {}: {}", key, what)};
}

// /app-health/<container>/livez|readyz|startupz or
// /app-lifecycle/<container>/prestopz|poststartz, container a DNS label.
bool validProbePath(std::string_view path) {
  std::string_view rest;
  bool health = false;
  if (path.starts_with("/app-health/")) {
    rest = path.substr(12);
    health = true;
  } else if (path.starts_with("/app-lifecycle/")) {
    rest = path.substr(15);
  } else {
    return false;
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 63) return false;
  for (char c : rest.substr(0, slash)) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  const auto suffix = rest.substr(slash + 1);
  if (health) return suffix == "livez" || suffix == "readyz" || suffix == "startupz";
  return suffix == "prestopz" || suffix == "poststartz";
}

Result<std::uint16_t> portOf(std::string_view key, const Json& handler, std::string_view kind) {
  const Json* port = findField(handler, "port");
  if (port == nullptr) return invalid(key, fmt::format("{}.port: missing", kind));
  if (!port->is_number_integer() && !port->is_number_unsigned()) {
    // Inject resolves named ports; one left here is a hand edit we cannot resolve.
    return invalid(key, fmt::format("{}.port: must be a number 1-65535", kind));
  }
  const auto value = port->get<std::int64_t>();
  if (value < 1 || value > 65535) {
    return invalid(key, fmt::format("{}.port: {} is not 1-65535", kind, value));
  }
  return static_cast<std::uint16_t>(value);
}

// A host as the kubelet takes it: a DNS name or an IP address, nothing that
// could change the URL (no '/', '@', ':' outside an IPv6 literal, space).
Result<std::string> hostOf(std::string_view key, const Json& handler, std::string_view kind) {
  const Json* host = findField(handler, "host");
  if (host == nullptr) return std::string();
  if (!host->is_string()) return invalid(key, fmt::format("{}.host: must be a string", kind));
  const auto& text = host->get_ref<const std::string&>();
  if (text.empty() || text.size() > 253) {
    return invalid(key, fmt::format("{}.host: must be 1-253 characters", kind));
  }
  const bool v6 = text.find(':') != std::string::npos;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || (v6 && c == ':');
    if (!ok) return invalid(key, fmt::format("{}.host: invalid character", kind));
  }
  return text;
}

Result<HttpGetProbe> parseHttpGet(std::string_view key, const Json& h) {
  if (!h.is_object()) return invalid(key, "httpGet: must be an object");
  HttpGetProbe probe;
  REMORA_ASSIGN_OR_RETURN(probe.port, portOf(key, h, "httpGet"));
  REMORA_ASSIGN_OR_RETURN(probe.host, hostOf(key, h, "httpGet"));
  if (const Json* path = findField(h, "path"); path != nullptr) {
    if (!path->is_string()) return invalid(key, "httpGet.path: must be a string");
    const auto& p = path->get_ref<const std::string&>();
    if (p.empty()) {
      probe.path = "/";
    } else {
      if (p.size() > 2048) return invalid(key, "httpGet.path: longer than 2048 bytes");
      // The kubelet adds a leading '/' to a relative path; so do we.
      probe.path = p.front() == '/' ? p : "/" + p;
      for (char c : probe.path) {
        if (!http::isTargetChar(c)) {
          return invalid(key,
                         "httpGet.path: not a valid request target (space, control or non-ASCII)");
        }
      }
    }
  }
  if (const Json* scheme = findField(h, "scheme"); scheme != nullptr) {
    if (!scheme->is_string()) return invalid(key, "httpGet.scheme: must be a string");
    std::string s = scheme->get<std::string>();
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s == "HTTPS") {
      probe.https = true;
    } else if (s != "HTTP") {
      return invalid(key, "httpGet.scheme: must be HTTP or HTTPS");
    }
  }
  if (const Json* headers = findField(h, "httpHeaders"); headers != nullptr) {
    if (!headers->is_array()) return invalid(key, "httpGet.httpHeaders: must be an array");
    if (headers->size() > 64) return invalid(key, "httpGet.httpHeaders: more than 64");
    for (const Json& field : *headers) {
      const Json* name = field.is_object() ? findField(field, "name") : nullptr;
      const Json* value = field.is_object() ? findField(field, "value") : nullptr;
      if (name == nullptr || !name->is_string() || value == nullptr || !value->is_string()) {
        return invalid(key, "httpGet.httpHeaders: each needs string name and value");
      }
      const auto& n = name->get_ref<const std::string&>();
      const auto& v = value->get_ref<const std::string&>();
      if (n.empty() || !std::all_of(n.begin(), n.end(), http::isTchar)) {
        return invalid(key, "httpGet.httpHeaders: name is not a token");
      }
      if (!std::all_of(v.begin(), v.end(), http::isFieldValueChar)) {
        return invalid(key, "httpGet.httpHeaders: value has a control character");
      }
      probe.headers.emplace_back(n, v);
    }
  }
  return probe;
}

Result<AppProbe> parseProbe(std::string_view key, const Json& v) {
  if (!v.is_object()) return invalid(key, "must be an object");
  AppProbe probe;
  int kinds = 0;
  if (const Json* h = findField(v, "httpGet"); h != nullptr) {
    ++kinds;
    REMORA_ASSIGN_OR_RETURN(HttpGetProbe http, parseHttpGet(key, *h));
    probe.handler = std::move(http);
  }
  if (const Json* t = findField(v, "tcpSocket"); t != nullptr) {
    ++kinds;
    if (!t->is_object()) return invalid(key, "tcpSocket: must be an object");
    TcpSocketProbe tcp;
    REMORA_ASSIGN_OR_RETURN(tcp.port, portOf(key, *t, "tcpSocket"));
    REMORA_ASSIGN_OR_RETURN(tcp.host, hostOf(key, *t, "tcpSocket"));
    probe.handler = std::move(tcp);
  }
  if (const Json* g = findField(v, "grpc"); g != nullptr) {
    ++kinds;
    if (!g->is_object()) return invalid(key, "grpc: must be an object");
    GrpcProbe grpc;
    REMORA_ASSIGN_OR_RETURN(grpc.port, portOf(key, *g, "grpc"));
    if (const Json* s = findField(*g, "service"); s != nullptr) {
      if (!s->is_string()) return invalid(key, "grpc.service: must be a string");
      grpc.service = s->get<std::string>();
    }
    probe.handler = std::move(grpc);
  }
  if (kinds != 1) return invalid(key, "needs exactly one of httpGet, tcpSocket, grpc");
  if (const Json* t = findField(v, "timeoutSeconds"); t != nullptr) {
    if (!t->is_number_integer() && !t->is_number_unsigned()) {
      return invalid(key, "timeoutSeconds: must be an integer");
    }
    const auto secs = t->get<std::int64_t>();
    if (secs < 1 || secs > 3600) return invalid(key, "timeoutSeconds: must be 1-3600");
    probe.timeout = std::chrono::seconds(secs);
  }
  return probe;
}

}  // namespace

Result<AppProbers> parseAppProbers(std::string_view json) {
  AppProbers out;
  if (json.empty()) return out;
  if (json.size() > kMaxProbersBytes) {
    return Error{Errc::InvalidArgument, "ISTIO_KUBE_APP_PROBERS: larger than 1 MiB"};
  }
  auto parsed = parseJson(json, JsonLimits{.max_bytes = kMaxProbersBytes, .max_depth = 8});
  if (!parsed) return parsed.error().context("ISTIO_KUBE_APP_PROBERS");
  if (!parsed->is_object()) {
    return Error{Errc::InvalidArgument, "ISTIO_KUBE_APP_PROBERS: must be a JSON object"};
  }
  if (parsed->size() > kMaxProbers) {
    return Error{Errc::InvalidArgument, "ISTIO_KUBE_APP_PROBERS: more than 1024 probes"};
  }
  for (const auto& [key, value] : parsed->items()) {
    if (!validProbePath(key)) {
      return invalid(key,
                     "not /app-health/<container>/livez|readyz|startupz or "
                     "/app-lifecycle/<container>/prestopz|poststartz");
    }
    REMORA_ASSIGN_OR_RETURN(AppProbe probe, parseProbe(key, value));
    out.emplace(key, std::move(probe));
  }
  return out;
}

Result<std::optional<AppScrape>> parsePrometheusAnnotations(std::string_view json) {
  if (json.empty()) return std::optional<AppScrape>();
  auto parsed = parseJson(json, JsonLimits{.max_bytes = 64 * 1024, .max_depth = 4});
  if (!parsed) return parsed.error().context("ISTIO_PROMETHEUS_ANNOTATIONS");
  auto fail = [](std::string_view what) {
    return Error{Errc::InvalidArgument, fmt::format("ISTIO_PROMETHEUS_ANNOTATIONS: {}", what)};
  };
  if (!parsed->is_object()) return fail("must be a JSON object");
  auto text = [&](std::string_view key) -> Result<std::string> {
    const Json* v = findField(*parsed, key);
    if (v == nullptr) return std::string();
    if (!v->is_string()) return fail(fmt::format("{}: must be a string", key));
    return v->get<std::string>();
  };
  REMORA_ASSIGN_OR_RETURN(std::string scrape, text("scrape"));
  REMORA_ASSIGN_OR_RETURN(std::string port, text("port"));
  REMORA_ASSIGN_OR_RETURN(std::string path, text("path"));
  if (scrape == "false" || port.empty()) return std::optional<AppScrape>();
  AppScrape out;
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), http::isDigit) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return fail("port: must be a number 1-65535");
  }
  out.port = static_cast<std::uint16_t>(std::stoi(port));
  if (!path.empty()) {
    if (path.front() != '/' || path.size() > 2048 ||
        !std::all_of(path.begin(), path.end(), http::isTargetChar)) {
      return fail("path: must be an absolute request path");
    }
    out.path = path;
  }
  return std::optional<AppScrape>(std::move(out));
}

namespace {

std::string hostForUrl(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]", host);
  return std::string(host);
}

// Connects with a deadline; true when the port accepted.
Result<bool> tcpConnect(std::string_view host, std::uint16_t port, std::chrono::seconds timeout) {
  asio::io_context io{1};
  std::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(std::string(host), std::to_string(port),
                                  asio::ip::resolver_base::numeric_service, ec);
  if (ec) return Error{Errc::Unavailable, fmt::format("resolving {}: {}", host, ec.message())};
  asio::ip::tcp::socket socket(io);
  bool done = false;
  asio::async_connect(socket, results, [&](std::error_code e, const asio::ip::tcp::endpoint&) {
    ec = e;
    done = true;
  });
  io.run_for(timeout);
  if (!done) {
    return Error{Errc::Timeout,
                 fmt::format("connect to {}:{}: no answer in {}s", host, port, timeout.count())};
  }
  if (ec)
    return Error{Errc::Unavailable, fmt::format("connect to {}:{}: {}", host, port, ec.message())};
  return true;
}

std::shared_ptr<asio::ssl::context> insecureTls() {
  // The kubelet does not verify an HTTPS probe's certificate; neither does
  // Istio's agent, and neither do we (the app is on the same pod).
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  std::error_code ec;
  ctx->set_verify_mode(asio::ssl::verify_none, ec);
  return ctx;
}

}  // namespace

ProbeOutcome runAppProbe(const AppProbe& probe, std::string_view default_host) {
  if (const auto* http_probe = std::get_if<HttpGetProbe>(&probe.handler)) {
    const std::string host =
        http_probe->host.empty() ? std::string(default_host) : http_probe->host;
    http::ClientOptions options;
    options.connect_timeout = probe.timeout;
    options.read_timeout = probe.timeout;
    options.max_response_bytes = 64 * 1024;
    options.user_agent = "kube-probe/remora";
    if (http_probe->https) options.tls.context = insecureTls();
    http::Client client(options);
    http::ClientRequest request;
    request.url = fmt::format("{}://{}:{}{}", http_probe->https ? "https" : "http",
                              hostForUrl(host), http_probe->port, http_probe->path);
    for (const auto& [name, value] : http_probe->headers) request.headers.add(name, value);
    auto response = client.send(request);
    if (!response) return {503, response.error().message};
    // The app's own status: the kubelet judges it (200-399 is success).
    return {response->status, fmt::format("app answered {}", response->status)};
  }
  std::string host(default_host);
  std::uint16_t port = 0;
  if (const auto* tcp = std::get_if<TcpSocketProbe>(&probe.handler)) {
    if (!tcp->host.empty()) host = tcp->host;
    port = tcp->port;
  } else {
    port = std::get<GrpcProbe>(probe.handler).port;
  }
  auto connected = tcpConnect(host, port, probe.timeout);
  if (!connected) return {503, connected.error().message};
  return {200, fmt::format("{}:{} accepts connections", host, port)};
}

}  // namespace remora::proxy::admin
