#include "http/message.h"

#include <utility>

namespace remora::http {

std::string_view versionName(Version version) noexcept {
  return version == Version::Http10 ? "HTTP/1.0" : "HTTP/1.1";
}

Method parseMethod(std::string_view name) noexcept {
  switch (name.size()) {
    case 3:
      if (name == "GET") return Method::Get;
      if (name == "PUT") return Method::Put;
      break;
    case 4:
      if (name == "POST") return Method::Post;
      if (name == "HEAD") return Method::Head;
      break;
    case 5:
      if (name == "PATCH") return Method::Patch;
      if (name == "TRACE") return Method::Trace;
      break;
    case 6:
      if (name == "DELETE") return Method::Delete;
      break;
    case 7:
      if (name == "OPTIONS") return Method::Options;
      if (name == "CONNECT") return Method::Connect;
      break;
    default: break;
  }
  return Method::Other;
}

std::string_view methodName(Method method) noexcept {
  switch (method) {
    case Method::Get: return "GET";
    case Method::Head: return "HEAD";
    case Method::Post: return "POST";
    case Method::Put: return "PUT";
    case Method::Delete: return "DELETE";
    case Method::Connect: return "CONNECT";
    case Method::Options: return "OPTIONS";
    case Method::Trace: return "TRACE";
    case Method::Patch: return "PATCH";
    case Method::Other: break;
  }
  return "";
}

std::string_view RequestHead::host() const { return headers.get(KnownField::Host).value_or(""); }

std::string_view RequestHead::path() const {
  std::string_view t = target;
  if (t.empty() || t.front() == '/') return t;
  if (t == "*") return "";
  std::size_t scheme_end = t.find("://");
  if (scheme_end == std::string_view::npos) return "";  // authority-form
  std::size_t path_start = t.find_first_of("/?", scheme_end + 3);
  if (path_start == std::string_view::npos) return "/";
  if (t[path_start] == '?') return t.substr(path_start);  // "http://a?q": the path is empty
  return t.substr(path_start);
}

void RequestHead::clear() noexcept {
  method = Method::Get;
  method_name.clear();
  target.clear();
  version = Version::Http11;
  headers.clear();
  framing = BodyFraming::None;
  content_length = 0;
  keep_alive = true;
  upgrade = false;
  expect_continue = false;
}

void RequestHead::swap(RequestHead& other) noexcept {
  std::swap(method, other.method);
  method_name.swap(other.method_name);
  target.swap(other.target);
  std::swap(version, other.version);
  headers.swap(other.headers);
  std::swap(framing, other.framing);
  std::swap(content_length, other.content_length);
  std::swap(keep_alive, other.keep_alive);
  std::swap(upgrade, other.upgrade);
  std::swap(expect_continue, other.expect_continue);
}

void ResponseHead::clear() noexcept {
  status = 200;
  reason.clear();
  version = Version::Http11;
  headers.clear();
  framing = BodyFraming::None;
  content_length = 0;
  keep_alive = true;
}

void ResponseHead::swap(ResponseHead& other) noexcept {
  std::swap(status, other.status);
  reason.swap(other.reason);
  std::swap(version, other.version);
  headers.swap(other.headers);
  std::swap(framing, other.framing);
  std::swap(content_length, other.content_length);
  std::swap(keep_alive, other.keep_alive);
}

std::string_view reasonPhrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

}  // namespace remora::http
