#include "kube/api_client.h"

#include <utility>

#include <fmt/format.h>

#include "core/file.h"

namespace remora::kube {

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::size_t kMaxTokenBytes = 64 * 1024;
constexpr auto kTokenRefresh = std::chrono::minutes(1);

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

Errc errcForStatus(int status) {
  switch (status) {
    case 400:
    case 422: return Errc::InvalidArgument;
    case 401: return Errc::Unauthenticated;
    case 403: return Errc::PermissionDenied;
    case 404: return Errc::NotFound;
    case 409: return Errc::AlreadyExists;
    case 410: return Errc::Gone;
    case 429:
    case 502:
    case 503:
    case 504: return Errc::Unavailable;
    default: return Errc::Internal;
  }
}

// A printable excerpt of a non-Status body.
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) {
    out.push_back(c == '\n' || c == '\r' || static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  if (body.size() > 200) out += "...";
  return out;
}

// Query values percent-encoded (RFC 3986 unreserved kept).
std::string encodeQueryValue(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

void addParam(std::string& query, std::string_view name, std::string_view value) {
  if (!query.empty()) query.push_back('&');
  query.append(name);
  query.push_back('=');
  query += encodeQueryValue(value);
}

std::string selectorQuery(const ListOptions& options) {
  std::string query;
  if (!options.label_selector.empty()) addParam(query, "labelSelector", options.label_selector);
  if (!options.field_selector.empty()) addParam(query, "fieldSelector", options.field_selector);
  return query;
}

http::ClientOptions transportOptions(const KubeConfig& config, const ApiClientOptions& options,
                                     std::chrono::milliseconds read_timeout) {
  http::ClientOptions out;
  out.connect_timeout = options.connect_timeout;
  out.read_timeout = read_timeout;
  out.max_response_bytes = options.max_response_bytes;
  out.user_agent = options.user_agent;
  out.tls.ca_pem = config.ca_pem;
  out.tls.cert_pem = config.cert_pem;
  out.tls.key_pem = config.key_pem;
  out.tls.server_name = config.tls_server_name;
  return out;
}

std::string_view contentType(PatchType type) {
  switch (type) {
    case PatchType::Merge: return "application/merge-patch+json";
    case PatchType::StrategicMerge: return "application/strategic-merge-patch+json";
    case PatchType::Json: return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

Result<std::string> optionalMetadataString(const Json& metadata, std::string_view key) {
  const Json* field = findField(metadata, key);
  if (field == nullptr || field->is_null()) return std::string();
  if (!field->is_string()) {
    return Error{Errc::ParseError, fmt::format("list metadata.{} is not a string", key)};
  }
  return field->get<std::string>();
}

}  // namespace

Result<ListPage> decodeList(std::string_view body, const JsonLimits& limits) {
  REMORA_ASSIGN_OR_RETURN(Json doc, parseJson(body, limits));
  if (!doc.is_object()) return Error{Errc::ParseError, "a list must be a JSON object"};
  ListPage page;
  if (const Json* kind = findField(doc, "kind"); kind != nullptr && kind->is_string()) {
    page.kind = kind->get<std::string>();
  }
  if (const Json* v = findField(doc, "apiVersion"); v != nullptr && v->is_string()) {
    page.api_version = v->get<std::string>();
  }
  if (const Json* metadata = findField(doc, "metadata"); metadata != nullptr) {
    if (!metadata->is_object() && !metadata->is_null()) {
      return Error{Errc::ParseError, "list metadata is not an object"};
    }
    REMORA_ASSIGN_OR_RETURN(page.resource_version,
                            optionalMetadataString(*metadata, "resourceVersion"));
    REMORA_ASSIGN_OR_RETURN(page.continue_token, optionalMetadataString(*metadata, "continue"));
  }
  Json* items = doc.contains("items") ? &doc["items"] : nullptr;
  if (items == nullptr) return Error{Errc::ParseError, "a list has no items"};
  if (items->is_null()) return page;
  if (!items->is_array()) return Error{Errc::ParseError, "list items is not an array"};
  std::string item_kind = page.kind;
  if (item_kind.size() > 4 && item_kind.ends_with("List")) item_kind.resize(item_kind.size() - 4);
  page.items.reserve(items->size());
  for (Json& item : *items) {
    if (!item.is_object()) return Error{Errc::ParseError, "a list item is not an object"};
    // Insert at the front, where kubectl shows them, when absent.
    if (!item.contains("kind") && !item_kind.empty() && item_kind != page.kind) {
      Json filled = Json::object();
      if (item.contains("apiVersion")) {
        filled["apiVersion"] = std::move(item["apiVersion"]);
      } else if (!page.api_version.empty()) {
        filled["apiVersion"] = page.api_version;
      }
      filled["kind"] = item_kind;
      for (auto it = item.begin(); it != item.end(); ++it) {
        if (it.key() != "apiVersion") filled[it.key()] = std::move(*it);
      }
      item = std::move(filled);
    } else if (!item.contains("apiVersion") && !page.api_version.empty()) {
      item["apiVersion"] = page.api_version;
    }
    page.items.push_back(std::move(item));
  }
  return page;
}

Error statusError(int http_status, std::string_view body, std::string_view what) {
  std::string detail;
  auto parsed = parseJson(body.substr(0, kMaxErrorBody), {.max_bytes = kMaxErrorBody});
  if (parsed && parsed->is_object()) {
    if (const Json* message = findField(*parsed, "message");
        message != nullptr && message->is_string()) {
      detail = message->get<std::string>();
    }
  }
  if (detail.empty()) detail = excerpt(body);
  std::string_view phrase = reasonPhrase(http_status);
  std::string head = phrase.empty() ? fmt::format("{}: HTTP {}", what, http_status)
                                    : fmt::format("{}: {} {}", what, http_status, phrase);
  return Error{errcForStatus(http_status), detail.empty() ? head : head + ": " + detail};
}

Error watchErrorEvent(const Json& status, std::string_view what) {
  int code = 500;
  if (const Json* c = findField(status, "code"); c != nullptr && c->is_number_integer()) {
    code = c->get<int>();
  }
  std::string message = "watch ended with an ERROR event";
  if (const Json* m = findField(status, "message"); m != nullptr && m->is_string()) {
    message = m->get<std::string>();
  }
  Json as_status = {{"message", message}};
  Error error = statusError(code, dumpJson(as_status), what);
  if (code == 410) error.code = Errc::Gone;
  return error;
}

WatchDecoder::WatchDecoder(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

Status WatchDecoder::feed(std::string_view bytes, const std::function<bool(WatchEvent&&)>& sink) {
  if (failed_) return Error{Errc::ParseError, "watch stream already failed"};
  while (!bytes.empty() && !stopped_) {
    auto newline = bytes.find('\n');
    std::string_view piece = bytes.substr(0, newline);
    if (line_.size() + piece.size() > max_event_bytes_) {
      failed_ = true;
      return Error{Errc::PayloadTooLarge,
                   fmt::format("a watch event is larger than {} bytes", max_event_bytes_)};
    }
    if (newline == std::string_view::npos) {
      line_.append(piece);
      return ok();
    }
    bytes.remove_prefix(newline + 1);
    std::string_view line = piece;
    if (!line_.empty()) {
      line_.append(piece);
      line = line_;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) {
      line_.clear();
      continue;
    }
    auto doc = parseJson(line, {.max_bytes = max_event_bytes_});
    line_.clear();
    if (!doc) {
      failed_ = true;
      return std::move(doc).error().context("watch event");
    }
    const Json* type = findField(*doc, "type");
    Json* object = doc->is_object() && doc->contains("object") ? &(*doc)["object"] : nullptr;
    if (type == nullptr || !type->is_string() || object == nullptr || !object->is_object()) {
      failed_ = true;
      return Error{Errc::ParseError, "a watch event must be {\"type\": string, \"object\": {...}}"};
    }
    WatchEvent event{type->get<std::string>(), std::move(*object)};
    if (!sink(std::move(event))) stopped_ = true;
  }
  return ok();
}

ApiClient::ApiClient(KubeConfig config, ApiClientOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      requests_(transportOptions(config_, options_, options_.request_timeout)),
      watches_(transportOptions(config_, options_,
                                std::chrono::duration_cast<std::chrono::milliseconds>(
                                    options_.watch_timeout + std::chrono::seconds(30)))),
      token_read_at_(std::chrono::steady_clock::now()) {}

ApiClient::~ApiClient() = default;

std::string ApiClient::url(std::string_view path, std::string_view query) const {
  std::string out = config_.server;
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (path.empty() || path.front() != '/') out.push_back('/');
  out.append(path);
  if (!query.empty()) {
    out.push_back(path.find('?') == std::string_view::npos ? '?' : '&');
    out.append(query);
  }
  return out;
}

const std::string& ApiClient::token() {
  if (!config_.token_file.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now - token_read_at_ >= kTokenRefresh) {
      token_read_at_ = now;
      auto content = readFile(config_.token_file, kMaxTokenBytes);
      if (content) {
        std::string_view t = *content;
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
          t.remove_suffix(1);
        }
        if (!t.empty()) config_.token = std::string(t);
      }
    }
  }
  return config_.token;
}

Result<std::string> ApiClient::callRaw(std::string_view method, std::string_view path,
                                       std::string_view query, std::string body,
                                       std::string_view content_type) {
  http::ClientRequest request;
  request.method = std::string(method);
  request.url = url(path, query);
  request.bearer_token = token();
  request.headers.set("accept", "application/json");
  if (!content_type.empty()) request.headers.set("content-type", content_type);
  request.body = std::move(body);
  const std::string what = fmt::format("{} {}", method, path);
  auto response = requests_.send(request);
  if (!response) return std::move(response).error().context(what);
  if (response->status < 200 || response->status > 299) {
    return statusError(response->status, response->body, what);
  }
  return std::move(response->body);
}

Result<Json> ApiClient::call(std::string_view method, std::string_view path, std::string_view query,
                             std::string body, std::string_view content_type) {
  REMORA_ASSIGN_OR_RETURN(std::string text,
                          callRaw(method, path, query, std::move(body), content_type));
  auto doc = parseJson(text, {.max_bytes = options_.max_response_bytes});
  if (!doc) return std::move(doc).error().context(fmt::format("{} {}", method, path));
  return std::move(doc).value();
}

Result<Json> ApiClient::get(std::string_view path) { return call("GET", path, "", {}, {}); }

Result<Json> ApiClient::create(std::string_view path, const Json& body) {
  return call("POST", path, "", dumpJson(body), "application/json");
}

Result<Json> ApiClient::patch(std::string_view path, const Json& body, PatchType type) {
  if (type == PatchType::Json && !body.is_array()) {
    return Error{Errc::InvalidArgument, "a JSON patch (RFC 6902) must be an array"};
  }
  return call("PATCH", path, "", dumpJson(body), contentType(type));
}

Result<ListPage> ApiClient::listPages(std::string_view path, const ListOptions& options) {
  ListPage all;
  std::string continue_token;
  do {
    std::string query = selectorQuery(options);
    if (options.limit > 0) addParam(query, "limit", std::to_string(options.limit));
    if (!continue_token.empty()) addParam(query, "continue", continue_token);
    REMORA_ASSIGN_OR_RETURN(std::string body, callRaw("GET", path, query, {}, {}));
    auto page = decodeList(body, {.max_bytes = options_.max_response_bytes});
    if (!page) return std::move(page).error().context(fmt::format("GET {}", path));
    if (all.items.size() + page->items.size() > options_.max_list_items) {
      return Error{Errc::PayloadTooLarge,
                   fmt::format("GET {}: more than {} items", path, options_.max_list_items)};
    }
    if (all.items.empty()) {
      all.items = std::move(page->items);
    } else {
      all.items.insert(all.items.end(), std::make_move_iterator(page->items.begin()),
                       std::make_move_iterator(page->items.end()));
    }
    all.kind = page->kind;
    all.api_version = page->api_version;
    all.resource_version = page->resource_version;
    if (!page->continue_token.empty() && page->continue_token == continue_token) {
      return Error{Errc::Internal,
                   fmt::format("GET {}: the server repeated a continue token", path)};
    }
    continue_token = page->continue_token;
  } while (!continue_token.empty());
  return all;
}

Result<ListPage> ApiClient::listAll(std::string_view path, const ListOptions& options) {
  auto first = listPages(path, options);
  if (first || first.error().code != Errc::Gone) return first;
  // The continue token expired between pages (the server compacted past the
  // list's snapshot): start over once, as kubectl users would by hand.
  auto again = listPages(path, options);
  if (!again && again.error().code == Errc::Gone) {
    return std::move(again).error().context("the list expired twice while paging (relist later)");
  }
  return again;
}

Result<std::vector<Json>> ApiClient::list(std::string_view path, const ListOptions& options) {
  REMORA_ASSIGN_OR_RETURN(ListPage page, listAll(path, options));
  return std::move(page.items);
}

Status ApiClient::watch(std::string_view path, std::string_view resource_version,
                        const WatchCallback& on_event, const ListOptions& options) {
  std::string query = selectorQuery(options);
  addParam(query, "watch", "true");
  addParam(query, "allowWatchBookmarks", "true");
  if (!resource_version.empty()) addParam(query, "resourceVersion", resource_version);
  addParam(query, "timeoutSeconds", std::to_string(options_.watch_timeout.count()));

  http::ClientRequest request;
  request.url = url(path, query);
  request.bearer_token = token();
  request.headers.set("accept", "application/json");
  const std::string what = fmt::format("WATCH {}", path);

  int status = 0;
  std::string error_body;
  WatchDecoder decoder(options_.max_event_bytes);
  Status failure = ok();
  auto sink = [&](WatchEvent&& event) {
    if (event.type == "ERROR") {
      failure = watchErrorEvent(event.object, what);
      return false;
    }
    return on_event(event.type, event.object);
  };
  auto streamed = watches_.stream(
      request,
      [&](const http::ResponseHead& head) {
        status = head.status;
        return true;
      },
      [&](std::string_view data) {
        if (status != 200) {
          error_body.append(
              data.substr(0, kMaxErrorBody - std::min(kMaxErrorBody, error_body.size())));
          return true;
        }
        auto fed = decoder.feed(data, sink);
        if (!fed) {
          failure = std::move(fed).error().context(what);
          return false;
        }
        return !decoder.stopped();
      });
  if (!failure) return failure;
  if (decoder.stopped()) {
    watches_.closeIdle();  // the rest of the stream is not wanted
    return ok();
  }
  if (!streamed) return std::move(streamed).error().context(what);
  if (status != 200) return statusError(status, error_body, what);
  if (decoder.pending()) {
    return Error{Errc::BadGateway, what + ": the stream ended in the middle of an event"};
  }
  return ok();
}

}  // namespace remora::kube
