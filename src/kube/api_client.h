// ApiClient: a small, blocking Kubernetes API client for `remora check` and
// the control plane, over http::Client (HTTPS, CA verification, client
// certificates, bearer tokens).
//
//   REMORA_ASSIGN_OR_RETURN(KubeConfig config, loadKubeConfig({.context = ctx}));
//   ApiClient api(std::move(config));
//   REMORA_ASSIGN_OR_RETURN(auto pods, api.list("/api/v1/pods", {.label_selector = "app=web"}));
//
// Paths are the API's ("/api/v1/namespaces/default/pods/web-0",
// "/apis/apps/v1/deployments") and are appended to KubeConfig::server (which
// may carry a path prefix). A path may carry a query; the client adds its own
// parameters with '&' then.
//
// Errors (Error::code) — an HTTP error's message reads
// "GET /api/v1/secrets: 403 Forbidden: secrets is forbidden: User \"x\" cannot list ..."
// (the API's Status.message when the body is a Status, else the start of the body):
//   400, 422 InvalidArgument   401 Unauthenticated   403 PermissionDenied
//   404 NotFound   409 AlreadyExists   410 Gone   429, 502-504 Unavailable
//   500 and anything else unexpected: Internal.
// Transport errors come from http::Client unchanged: Timeout (connect or
// read), Unavailable (refused, reset, TLS failure), Unauthenticated (the
// server's certificate did not verify), BadGateway (broken HTTP, a response
// above max_response_bytes). A body that is not the JSON expected: ParseError.
//
// Errc::Gone is the signal to relist: a watch whose resourceVersion is too
// old (HTTP 410, or an ERROR event carrying a Status with code 410), a
// continue token that expired twice (list() restarts the list from the start
// once on the first 410).
//
// Tokens: KubeConfig::token, or KubeConfig::token_file re-read at most once a
// minute (projected service-account tokens rotate; client-go does the same).
// A failed re-read keeps the last token.
//
// Threading: an ApiClient is used by one thread at a time (it owns two
// http::Clients, each with its own io_context). Calls block.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "http/client.h"
#include "kube/kubeconfig.h"

namespace remora::kube {

struct ApiClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};   // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{30'000};  // longest silence in get/list/patch
  // A watch asks the server to end after this (timeoutSeconds) and gives up
  // when nothing at all arrives for this plus 30 s.
  std::chrono::seconds watch_timeout{300};
  std::size_t max_response_bytes = 64 * 1024 * 1024;  // one response or list page
  std::size_t max_list_items = 1'000'000;             // all pages of one list()
  std::size_t max_event_bytes = 16 * 1024 * 1024;     // one watch event (one line)
  std::string user_agent = "remora";
};

struct ListOptions {
  std::string label_selector;  // "app=web,tier!=db"; percent-encoded by the client
  std::string field_selector;  // "spec.nodeName=n1"
  int limit = 500;             // items per page (the API's `limit`); 0: no paging
};

enum class PatchType {
  Merge,           // application/merge-patch+json (RFC 7386)
  StrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only)
  Json,            // application/json-patch+json (RFC 6902): body is an array
};

// One page of a list response, decoded. Items get `kind` (the list's kind
// without "List") and `apiVersion` (the list's) when they lack them, as
// kubectl shows them; the API server omits both in list items.
struct ListPage {
  std::vector<Json> items;
  std::string kind;              // the list's kind, e.g. "PodList"
  std::string api_version;       // e.g. "v1"
  std::string resource_version;  // metadata.resourceVersion: where a watch starts
  std::string continue_token;    // metadata.continue: "" on the last page
};

// Decodes a list body (pure; fuzzed). ParseError when it is not a JSON object
// whose `items` is an array (null counts as empty) of objects, or when
// metadata.continue / resourceVersion are not strings.
Result<ListPage> decodeList(std::string_view body, const JsonLimits& limits = {});

// The Error for an HTTP error response (see the table above). `what` starts
// the message, e.g. "GET /api/v1/pods".
Error statusError(int http_status, std::string_view body, std::string_view what);

// The Error a watch ERROR event's object (a Status) stands for: Gone for
// code 410, otherwise as statusError() with the Status's code (500 when absent).
Error watchErrorEvent(const Json& status, std::string_view what);

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK or ERROR
  Json object;
};

// Splits a watch stream (newline-delimited JSON events, arriving in pieces of
// any size) into events. Pure; fuzzed.
//
//   WatchDecoder decoder;
//   REMORA_TRY(decoder.feed(bytes, [&](WatchEvent&& e) { ...; return true; }));
//
// feed() calls `sink` for every complete line, in order; blank lines are
// skipped. An event that is not `{"type": string, "object": object}`, or a
// line longer than max_event_bytes, is ParseError, and the decoder stays
// failed. When the sink returns false, feed() stops at once and returns ok;
// stopped() is then true and later feeds do nothing.
class WatchDecoder {
 public:
  explicit WatchDecoder(std::size_t max_event_bytes = 16 * 1024 * 1024);

  [[nodiscard]] Status feed(std::string_view bytes, const std::function<bool(WatchEvent&&)>& sink);
  // True when bytes of an unfinished line are buffered (the stream ended
  // mid-event).
  bool pending() const { return !line_.empty(); }
  bool stopped() const { return stopped_; }

 private:
  std::size_t max_event_bytes_;
  std::string line_;
  bool stopped_ = false;
  bool failed_ = false;
};

class ApiClient {
 public:
  // Return false to end the watch.
  using WatchCallback = std::function<bool(std::string_view type, const Json& object)>;

  explicit ApiClient(KubeConfig config, ApiClientOptions options = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const KubeConfig& config() const { return config_; }

  // GET one object (or any JSON endpoint, e.g. "/version").
  [[nodiscard]] Result<Json> get(std::string_view path);

  // GET a collection, following `continue` tokens page by page (limit per
  // page), and returns every item, each with kind and apiVersion filled.
  // More than max_list_items in all is PayloadTooLarge.
  [[nodiscard]] Result<std::vector<Json>> list(std::string_view path,
                                               const ListOptions& options = {});
  // The same, also returning the list's kind and the resourceVersion a
  // following watch() starts from (continue_token is "").
  [[nodiscard]] Result<ListPage> listAll(std::string_view path, const ListOptions& options = {});

  // POST `body` to a collection (create); returns the server's answer, e.g.
  // a TokenReview with its status filled in.
  [[nodiscard]] Result<Json> create(std::string_view path, const Json& body);

  // PATCH with the given patch type; returns the object as patched.
  [[nodiscard]] Result<Json> patch(std::string_view path, const Json& body, PatchType type);

  // WATCH a collection from `resource_version` ("" : from now, with the
  // server's initial ADDED events first). Calls `on_event` for each
  // ADDED/MODIFIED/DELETED/BOOKMARK event as it arrives. Returns ok when
  // the callback returned false or the server ended the watch (after
  // watch_timeout): the caller watches again from the last resourceVersion
  // it saw. Errc::Gone when that version is too old: list again. An ERROR
  // event ends the watch with its Status as the error. `options`'
  // selectors apply; its limit does not.
  [[nodiscard]] Status watch(std::string_view path, std::string_view resource_version,
                             const WatchCallback& on_event, const ListOptions& options = {});

 private:
  std::string url(std::string_view path, std::string_view query) const;
  const std::string& token();
  Result<std::string> callRaw(std::string_view method, std::string_view path,
                              std::string_view query, std::string body,
                              std::string_view content_type);
  Result<Json> call(std::string_view method, std::string_view path, std::string_view query,
                    std::string body, std::string_view content_type);
  Result<ListPage> listPages(std::string_view path, const ListOptions& options);

  KubeConfig config_;
  ApiClientOptions options_;
  http::Client requests_;
  http::Client watches_;
  std::chrono::steady_clock::time_point token_read_at_{};
};

}  // namespace remora::kube
