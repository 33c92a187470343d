// Finding and reading the cluster's credentials, as kubectl does.
//
// loadKubeConfig() picks the source in kubectl's order:
//   1. KubeConfigOptions::path (the `--kubeconfig` flag): that file, which
//      must exist;
//   2. $KUBECONFIG: a colon-separated list of files. The files that exist are
//      merged as client-go merges them: for clusters, users and contexts the
//      first file naming an entry wins; current-context comes from the first
//      file that sets it. Files that do not exist are skipped; when none
//      exists, 4 is tried (as kubectl: 3 is not read while $KUBECONFIG is set);
//   3. $HOME/.kube/config, when it exists;
//   4. in-cluster: $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT with
//      the pod's service account (`token`, `ca.crt` and `namespace` in
//      KubeConfigOptions::service_account_dir);
//   otherwise Errc::NotFound saying what was looked at.
//
// From a kubeconfig the context is KubeConfigOptions::context (`--context`)
// or current-context. Supported fields:
//   clusters[].cluster: server, certificate-authority(-data), tls-server-name;
//   users[].user: client-certificate(-data), client-key(-data), token,
//                 tokenFile;
//   contexts[].context: cluster, user, namespace.
// File paths are resolved against the folder of the kubeconfig that names
// them. `-data` fields are base64 (PEM inside); a `-data` field wins over the
// file field beside it, as in client-go. A user with no credentials at all is
// anonymous (allowed: the server decides).
//
// Refused with Errc::Unsupported and a message naming the file and the entry,
// rather than connecting with weaker security than the user asked for:
// insecure-skip-tls-verify: true (Remora always verifies the API server),
// proxy-url, exec and auth-provider credential plugins, username/password.
//
// Errors name the file and the field ("~/.kube/config: user \"dev\": client-key
// is missing (client-certificate is set)"). Nothing here throws or crashes:
// the YAML goes through kube/yaml.h and every lookup is checked.
//
// Threading: pure functions apart from the injected file and env readers.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace remora::kube {

// What ApiClient needs to reach and authenticate to one API server.
struct KubeConfig {
  std::string server;           // "https://host:port[/prefix]", no trailing '/'
  std::string ca_pem;           // trust bundle; empty: the system's roots
  std::string tls_server_name;  // name to verify instead of the URL's host, optional
  std::string cert_pem;         // client certificate (mTLS), optional
  std::string key_pem;          // its key, set exactly when cert_pem is
  std::string token;            // bearer token, optional
  // When set, the token is read from this file (and re-read by ApiClient
  // every minute, as client-go does for rotating service-account tokens).
  std::string token_file;
  std::string ns = "default";  // the context's namespace
  std::string context;         // the context used; "" in-cluster
  // For messages: "/root/.kube/config" (or "a:b" merged) or "in-cluster".
  std::string source;
};

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
// Reads a whole file (bounded). Errc::NotFound when it does not exist.
using FileReader = std::function<Result<std::string>(const std::string& path)>;

struct KubeConfigOptions {
  std::string path;      // --kubeconfig; empty: look it up
  std::string context;   // --context; empty: current-context
  EnvLookup env;         // default: ::getenv
  FileReader read_file;  // default: core/file.h readFile, 4 MiB per file
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// Finds the configuration as described above.
Result<KubeConfig> loadKubeConfig(const KubeConfigOptions& options = {});

// One kubeconfig document (YAML or JSON) read from `source_path`; relative
// file paths are resolved against its folder and read with
// options.read_file. `options.path` and the env are not used.
Result<KubeConfig> parseKubeConfig(std::string_view text, const std::string& source_path,
                                   const KubeConfigOptions& options = {});

// The in-cluster configuration from the env and options.service_account_dir.
// Errc::NotFound when KUBERNETES_SERVICE_HOST or _PORT is unset.
Result<KubeConfig> loadInClusterConfig(const KubeConfigOptions& options = {});

}  // namespace remora::kube
