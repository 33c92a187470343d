#include "kube/kubeconfig.h"

#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/base64.h"
#include "core/file.h"
#include "core/json.h"
#include "kube/yaml.h"

namespace remora::kube {

namespace {

constexpr std::size_t kMaxFileBytes = 4 * 1024 * 1024;

EnvLookup envOf(const KubeConfigOptions& options) {
  if (options.env) return options.env;
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

FileReader readerOf(const KubeConfigOptions& options) {
  if (options.read_file) return options.read_file;
  return [](const std::string& path) { return readFile(path, kMaxFileBytes); };
}

std::string dirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string resolvePath(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return dir == "/" ? "/" + path : dir + "/" + path;
}

std::string trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// "where: " prefixes for errors: `file: user "dev"`.
struct Where {
  std::string text;
  Error error(Errc code, std::string_view what) const {
    return Error{code, fmt::format("{}: {}", text, what)};
  }
};

// A scalar as the string kubectl reads into a string field: YAML types an
// unquoted `name: 2024` as an integer, go-yaml still reads it as "2024".
std::optional<std::string> scalarText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer() || value.is_number_unsigned() || value.is_boolean()) {
    return dumpJson(value);
  }
  return std::nullopt;
}

// An optional string field: "" when absent or null.
Result<std::string> optString(const Json& object, std::string_view key, const Where& where) {
  const Json* field = findField(object, key);
  if (field == nullptr || field->is_null()) return std::string();
  if (auto text = scalarText(*field)) return *text;
  {
    return where.error(Errc::InvalidArgument,
                       fmt::format("{} must be a string, not {}", key, field->type_name()));
  }
  return field->get<std::string>();
}

// A `<key>-data` (base64) field, else the `<key>` file; "" when neither.
Result<std::string> dataOrFile(const Json& object, const std::string& key, const Where& where,
                               const FileReader& read) {
  REMORA_ASSIGN_OR_RETURN(std::string data, optString(object, key + "-data", where));
  if (!data.empty()) {
    std::string compact;
    for (char c : data) {
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') compact.push_back(c);
    }
    auto decoded = decodeBase64(compact);
    if (!decoded) {
      return where.error(Errc::ParseError,
                         fmt::format("{}-data is not base64: {}", key, decoded.error().message));
    }
    return std::move(decoded).value();
  }
  REMORA_ASSIGN_OR_RETURN(std::string path, optString(object, key, where));
  if (path.empty()) return std::string();
  auto content = read(path);
  if (!content) return where.error(content.error().code, content.error().message).context(key);
  return std::move(content).value();
}

Status requirePem(const std::string& pem, std::string_view field, const Where& where) {
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return where.error(Errc::ParseError, fmt::format("{} does not hold PEM", field));
  }
  return ok();
}

// The `what` object (e.g. "cluster") of the entry called `name` in the list
// `list_key` (e.g. "clusters"), or nullptr when there is none.
Result<const Json*> findNamed(const Json& doc, std::string_view list_key, std::string_view what,
                              std::string_view name, const std::string& source) {
  const Json* list = findField(doc, list_key);
  if (list == nullptr || list->is_null()) return static_cast<const Json*>(nullptr);
  if (!list->is_array()) {
    return Error{Errc::InvalidArgument, fmt::format("{}: {} must be a list", source, list_key)};
  }
  for (const Json& entry : *list) {
    const Json* entry_name = findField(entry, "name");
    if (entry_name == nullptr || scalarText(*entry_name) != name) continue;
    const Json* body = findField(entry, what);
    if (body == nullptr || body->is_null()) {
      static const Json kEmpty = Json::object();
      return &kEmpty;
    }
    if (!body->is_object()) {
      return Error{Errc::InvalidArgument, fmt::format("{}: {} \"{}\": {} must be a mapping", source,
                                                      list_key, name, what)};
    }
    return body;
  }
  return static_cast<const Json*>(nullptr);
}

std::vector<std::string> namesIn(const Json& doc, std::string_view list_key) {
  std::vector<std::string> names;
  const Json* list = findField(doc, list_key);
  if (list == nullptr || !list->is_array()) return names;
  for (const Json& entry : *list) {
    const Json* name = findField(entry, "name");
    if (name == nullptr) continue;
    if (auto text = scalarText(*name)) names.push_back(*text);
  }
  return names;
}

// Parses one kubeconfig file and makes its file paths absolute.
Result<Json> readDocument(std::string_view text, const std::string& source) {
  auto parsed = parseYaml(text, {.max_bytes = kMaxFileBytes, .max_depth = 32, .max_nodes = 100000});
  if (!parsed) return std::move(parsed).error().context(source);
  Json doc = std::move(parsed).value();
  if (doc.is_null()) doc = Json::object();
  if (!doc.is_object()) {
    return Error{Errc::ParseError, source + ": a kubeconfig must be a mapping"};
  }
  const std::string dir = dirOf(source);
  struct PathFields {
    const char* list;
    const char* what;
    std::vector<const char*> keys;
  };
  const PathFields fields[] = {
      {"clusters", "cluster", {"certificate-authority"}},
      {"users", "user", {"client-certificate", "client-key", "tokenFile"}},
  };
  for (const auto& f : fields) {
    Json* list = doc.contains(f.list) ? &doc[f.list] : nullptr;
    if (list == nullptr || list->is_null()) continue;
    if (!list->is_array()) {
      return Error{Errc::InvalidArgument, fmt::format("{}: {} must be a list", source, f.list)};
    }
    for (Json& entry : *list) {
      if (!entry.is_object() || !entry.contains(f.what)) continue;
      Json& body = entry[f.what];
      if (!body.is_object()) continue;
      for (const char* key : f.keys) {
        auto it = body.find(key);
        if (it != body.end() && it->is_string()) {
          *it = resolvePath(dir, it->get<std::string>());
        }
      }
    }
  }
  return doc;
}

// client-go's merge: the first file naming an entry wins; current-context
// comes from the first file that sets it.
Json mergeDocuments(const std::vector<Json>& docs) {
  Json merged = Json::object();
  for (const char* list : {"clusters", "users", "contexts"}) {
    Json out = Json::array();
    std::set<std::string> seen;
    for (const Json& doc : docs) {
      const Json* entries = findField(doc, list);
      if (entries == nullptr || !entries->is_array()) continue;
      for (const Json& entry : *entries) {
        const Json* name = findField(entry, "name");
        auto text = name == nullptr ? std::nullopt : scalarText(*name);
        if (!text) continue;
        if (seen.insert(*text).second) out.push_back(entry);
      }
    }
    merged[list] = std::move(out);
  }
  for (const Json& doc : docs) {
    const Json* current = findField(doc, "current-context");
    auto text = current == nullptr ? std::nullopt : scalarText(*current);
    if (text && !text->empty()) {
      merged["current-context"] = *text;
      break;
    }
  }
  return merged;
}

Result<KubeConfig> buildConfig(const Json& doc, const std::string& source,
                               const KubeConfigOptions& options) {
  const FileReader read = readerOf(options);
  KubeConfig config;
  config.source = source;

  std::string context_name = options.context;
  if (context_name.empty()) {
    REMORA_ASSIGN_OR_RETURN(context_name, optString(doc, "current-context", Where{source}));
    if (context_name.empty()) {
      return Error{Errc::InvalidArgument,
                   source + ": current-context is not set (choose a context with --context)"};
    }
  }
  config.context = context_name;
  REMORA_ASSIGN_OR_RETURN(const Json* context,
                          findNamed(doc, "contexts", "context", context_name, source));
  if (context == nullptr) {
    auto names = namesIn(doc, "contexts");
    return Error{Errc::NotFound,
                 fmt::format("{}: context \"{}\" not found (contexts: {})", source, context_name,
                             names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))};
  }
  const Where in_context{fmt::format("{}: context \"{}\"", source, context_name)};
  REMORA_ASSIGN_OR_RETURN(std::string cluster_name, optString(*context, "cluster", in_context));
  REMORA_ASSIGN_OR_RETURN(std::string user_name, optString(*context, "user", in_context));
  REMORA_ASSIGN_OR_RETURN(std::string ns, optString(*context, "namespace", in_context));
  if (!ns.empty()) config.ns = ns;
  if (cluster_name.empty()) return in_context.error(Errc::InvalidArgument, "cluster is missing");

  // The cluster.
  REMORA_ASSIGN_OR_RETURN(const Json* cluster,
                          findNamed(doc, "clusters", "cluster", cluster_name, source));
  if (cluster == nullptr) {
    return in_context.error(Errc::NotFound,
                            fmt::format("cluster \"{}\" is not in clusters", cluster_name));
  }
  const Where in_cluster{fmt::format("{}: cluster \"{}\"", source, cluster_name)};
  REMORA_ASSIGN_OR_RETURN(std::string server, optString(*cluster, "server", in_cluster));
  server = trim(server);
  if (server.empty()) return in_cluster.error(Errc::InvalidArgument, "server is missing");
  if (server.find("://") == std::string::npos) server = "https://" + server;
  if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0) {
    return in_cluster.error(Errc::InvalidArgument,
                            fmt::format("server \"{}\" is not an http(s) URL", server));
  }
  while (server.size() > 8 && server.back() == '/') server.pop_back();
  config.server = server;
  if (const Json* insecure = findField(*cluster, "insecure-skip-tls-verify");
      insecure != nullptr && ((insecure->is_boolean() && insecure->get<bool>()) ||
                              (insecure->is_string() && insecure->get<std::string>() == "true"))) {
    return in_cluster.error(Errc::Unsupported,
                            "insecure-skip-tls-verify is not supported: Remora always verifies "
                            "the API server; set certificate-authority or "
                            "certificate-authority-data");
  }
  if (const Json* proxy = findField(*cluster, "proxy-url"); proxy != nullptr && !proxy->is_null()) {
    return in_cluster.error(Errc::Unsupported, "proxy-url is not supported");
  }
  REMORA_ASSIGN_OR_RETURN(config.ca_pem,
                          dataOrFile(*cluster, "certificate-authority", in_cluster, read));
  if (!config.ca_pem.empty()) {
    REMORA_TRY(requirePem(config.ca_pem, "certificate-authority", in_cluster));
  }
  REMORA_ASSIGN_OR_RETURN(config.tls_server_name,
                          optString(*cluster, "tls-server-name", in_cluster));

  // The user (none: anonymous).
  if (user_name.empty()) return config;
  REMORA_ASSIGN_OR_RETURN(const Json* user, findNamed(doc, "users", "user", user_name, source));
  if (user == nullptr) {
    return in_context.error(Errc::NotFound, fmt::format("user \"{}\" is not in users", user_name));
  }
  const Where in_user{fmt::format("{}: user \"{}\"", source, user_name)};
  for (const char* plugin : {"exec", "auth-provider"}) {
    if (const Json* p = findField(*user, plugin); p != nullptr && !p->is_null()) {
      return in_user.error(Errc::Unsupported,
                           fmt::format("{} credential plugins are not supported; use a token or "
                                       "a client certificate",
                                       plugin));
    }
  }
  for (const char* basic : {"username", "password"}) {
    if (const Json* p = findField(*user, basic); p != nullptr && !p->is_null()) {
      return in_user.error(Errc::Unsupported,
                           "basic authentication (username/password) is not "
                           "supported; use a token or a client certificate");
    }
  }
  REMORA_ASSIGN_OR_RETURN(config.cert_pem, dataOrFile(*user, "client-certificate", in_user, read));
  REMORA_ASSIGN_OR_RETURN(config.key_pem, dataOrFile(*user, "client-key", in_user, read));
  if (!config.cert_pem.empty() && config.key_pem.empty()) {
    return in_user.error(Errc::InvalidArgument,
                         "client-key is missing (client-certificate is set)");
  }
  if (config.cert_pem.empty() && !config.key_pem.empty()) {
    return in_user.error(Errc::InvalidArgument,
                         "client-certificate is missing (client-key is set)");
  }
  if (!config.cert_pem.empty()) {
    REMORA_TRY(requirePem(config.cert_pem, "client-certificate", in_user));
    REMORA_TRY(requirePem(config.key_pem, "client-key", in_user));
  }
  REMORA_ASSIGN_OR_RETURN(std::string token, optString(*user, "token", in_user));
  config.token = trim(token);
  REMORA_ASSIGN_OR_RETURN(std::string token_file, optString(*user, "tokenFile", in_user));
  if (!token_file.empty()) {
    // As client-go: a token file wins over an inline token.
    auto content = read(token_file);
    if (!content) return in_user.error(content.error().code, content.error().message);
    config.token = trim(*content);
    config.token_file = token_file;
  }
  return config;
}

}  // namespace

Result<KubeConfig> parseKubeConfig(std::string_view text, const std::string& source_path,
                                   const KubeConfigOptions& options) {
  REMORA_ASSIGN_OR_RETURN(Json doc, readDocument(text, source_path));
  return buildConfig(doc, source_path, options);
}

Result<KubeConfig> loadInClusterConfig(const KubeConfigOptions& options) {
  const EnvLookup env = envOf(options);
  const FileReader read = readerOf(options);
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return Error{Errc::NotFound,
                 "not in a cluster: KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is unset"};
  }
  KubeConfig config;
  config.source = "in-cluster";
  const bool ipv6 = host->find(':') != std::string::npos;
  config.server = fmt::format("https://{}{}{}:{}", ipv6 ? "[" : "", *host, ipv6 ? "]" : "", *port);
  const std::string& dir = options.service_account_dir;
  config.token_file = dir + "/token";
  auto token = read(config.token_file);
  if (!token) return std::move(token).error().context("in-cluster service account token");
  config.token = trim(*token);
  if (config.token.empty()) {
    return Error{Errc::Unauthenticated, "in-cluster: " + config.token_file + " is empty"};
  }
  auto ca = read(dir + "/ca.crt");
  if (!ca) return std::move(ca).error().context("in-cluster CA");
  config.ca_pem = std::move(ca).value();
  REMORA_TRY(requirePem(config.ca_pem, "ca.crt", Where{"in-cluster " + dir}));
  auto ns = read(dir + "/namespace");
  if (ns && !trim(*ns).empty()) config.ns = trim(*ns);
  return config;
}

Result<KubeConfig> loadKubeConfig(const KubeConfigOptions& options) {
  const EnvLookup env = envOf(options);
  const FileReader read = readerOf(options);

  if (!options.path.empty()) {
    auto text = read(options.path);
    if (!text) return std::move(text).error().context("--kubeconfig");
    return parseKubeConfig(*text, options.path, options);
  }

  std::vector<std::string> looked_at;
  auto kubeconfig_env = env("KUBECONFIG");
  if (kubeconfig_env && !kubeconfig_env->empty()) {
    std::vector<Json> docs;
    std::vector<std::string> used;
    std::string_view list = *kubeconfig_env;
    while (!list.empty()) {
      auto colon = list.find(':');
      std::string path(list.substr(0, colon));
      list = colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
      if (path.empty()) continue;
      auto text = read(path);
      if (!text) {
        if (text.error().code == Errc::NotFound) continue;  // as kubectl: skipped
        return std::move(text).error().context("$KUBECONFIG");
      }
      REMORA_ASSIGN_OR_RETURN(Json doc, readDocument(*text, path));
      docs.push_back(std::move(doc));
      used.push_back(std::move(path));
    }
    if (docs.size() == 1) return buildConfig(docs.front(), used.front(), options);
    if (!docs.empty()) {
      return buildConfig(mergeDocuments(docs), fmt::format("{}", fmt::join(used, ":")), options);
    }
    looked_at.push_back("$KUBECONFIG=" + *kubeconfig_env + " (no file exists)");
  } else {
    auto home = env("HOME");
    if (home && !home->empty()) {
      std::string path = *home + "/.kube/config";
      auto text = read(path);
      if (text) return parseKubeConfig(*text, path, options);
      if (text.error().code != Errc::NotFound) return std::move(text).error();
      looked_at.push_back(path + " (absent)");
    } else {
      looked_at.push_back("$HOME unset");
    }
  }

  auto in_cluster = loadInClusterConfig(options);
  if (in_cluster || in_cluster.error().code != Errc::NotFound ||
      env("KUBERNETES_SERVICE_HOST").has_value()) {
    return in_cluster;
  }
  looked_at.push_back("not in a cluster (KUBERNETES_SERVICE_HOST unset)");
  return Error{Errc::NotFound,
               fmt::format("no Kubernetes configuration found: {}; use --kubeconfig",
                           fmt::join(looked_at, ", "))};
}

}  // namespace remora::kube
