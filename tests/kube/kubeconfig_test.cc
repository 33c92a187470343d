// kubeconfig discovery and parsing: inline data, files relative to the
// kubeconfig, contexts, $KUBECONFIG lists, in-cluster from a temp folder,
// and the hostile cases (missing fields, bad YAML, unsupported auth).
#include "kube/kubeconfig.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "core/base64.h"
#include "core/file.h"

namespace remora::kube {
namespace {

namespace fs = std::filesystem;

const std::string kCa = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const std::string kCert = "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n";
const std::string kKey = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

// A temporary folder, removed with its content.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "remora-kubeconfig-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& rel, const std::string& content) const {
    fs::path p = fs::path(path_) / rel;
    fs::create_directories(p.parent_path());
    auto w = writeFileAtomic(p.string(), content);
    EXPECT_TRUE(w.has_value());
    return p.string();
  }

 private:
  std::string path_;
};

// Options whose env is a map (nothing from the real environment leaks in).
KubeConfigOptions withEnv(std::map<std::string, std::string> vars) {
  KubeConfigOptions options;
  options.env = [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return options;
}

std::string inlineConfig() {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: kind-dev\n"
         "clusters:\n"
         "- name: kind-dev\n"
         "  cluster:\n"
         "    server: https://127.0.0.1:6443/\n"
         "    certificate-authority-data: " +
         encodeBase64(kCa) +
         "\n"
         "- name: other\n"
         "  cluster:\n"
         "    server: https://10.0.0.1\n"
         "contexts:\n"
         "- name: kind-dev\n"
         "  context: {cluster: kind-dev, user: admin}\n"
         "- name: viewer\n"
         "  context: {cluster: other, user: reader, namespace: apps}\n"
         "users:\n"
         "- name: admin\n"
         "  user:\n"
         "    client-certificate-data: " +
         encodeBase64(kCert) +
         "\n"
         "    client-key-data: " +
         encodeBase64(kKey) +
         "\n"
         "- name: reader\n"
         "  user:\n"
         "    token: \"abc.def\\n\"\n";
}

TEST(KubeConfigTest, InlineDataOfTheCurrentContext) {
  auto c = parseKubeConfig(inlineConfig(), "/home/u/.kube/config");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");  // trailing '/' dropped
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->cert_pem, kCert);
  EXPECT_EQ(c->key_pem, kKey);
  EXPECT_EQ(c->token, "");
  EXPECT_EQ(c->ns, "default");
  EXPECT_EQ(c->context, "kind-dev");
  EXPECT_EQ(c->source, "/home/u/.kube/config");
}

TEST(KubeConfigTest, ExplicitContextWithTokenAndNamespace) {
  KubeConfigOptions options;
  options.context = "viewer";
  auto c = parseKubeConfig(inlineConfig(), "cfg", options);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://10.0.0.1");
  EXPECT_EQ(c->ca_pem, "");
  EXPECT_EQ(c->token, "abc.def");  // trimmed
  EXPECT_EQ(c->ns, "apps");
  EXPECT_EQ(c->cert_pem, "");
}

TEST(KubeConfigTest, UnknownContextNamesTheKnownOnes) {
  KubeConfigOptions options;
  options.context = "prod";
  auto c = parseKubeConfig(inlineConfig(), "/k/config", options);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, Errc::NotFound);
  EXPECT_EQ(c.error().message,
            "/k/config: context \"prod\" not found (contexts: kind-dev, viewer)");
}

TEST(KubeConfigTest, FilePathsAreRelativeToTheKubeconfig) {
  TempDir dir;
  dir.write("certs/ca.crt", kCa);
  dir.write("certs/me.crt", kCert);
  dir.write("certs/me.key", kKey);
  dir.write("token", "  file-token\n");
  std::string path = dir.write("conf/../kubeconfig",
                               "current-context: c\n"
                               "clusters: [{name: k, cluster: {server: \"10.1.2.3:6443\", "
                               "certificate-authority: certs/ca.crt}}]\n"
                               "users: [{name: u, user: {client-certificate: certs/me.crt, "
                               "client-key: certs/me.key, tokenFile: token, token: inline}}]\n"
                               "contexts: [{name: c, context: {cluster: k, user: u}}]\n");
  // Run from elsewhere: the paths must not depend on the working folder.
  auto c = loadKubeConfig(withEnv({{"KUBECONFIG", path}}));
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://10.1.2.3:6443");  // no scheme: https
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->cert_pem, kCert);
  EXPECT_EQ(c->key_pem, kKey);
  EXPECT_EQ(c->token, "file-token");  // tokenFile wins over token, as in client-go
  EXPECT_EQ(c->token_file, dir.path() + "/conf/../token");
}

TEST(KubeConfigTest, MissingReferencedFileNamesIt) {
  TempDir dir;
  std::string path = dir.write("kubeconfig",
                               "current-context: c\n"
                               "clusters: [{name: k, cluster: {server: https://h, "
                               "certificate-authority: nope.crt}}]\n"
                               "contexts: [{name: c, context: {cluster: k}}]\n");
  KubeConfigOptions options = withEnv({});
  options.path = path;
  auto c = loadKubeConfig(options);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, Errc::NotFound);
  EXPECT_NE(c.error().message.find(path + ": cluster \"k\""), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find(dir.path() + "/nope.crt"), std::string::npos)
      << c.error().message;
}

struct BadCase {
  const char* name;
  std::string yaml;
  Errc code;
  const char* message_part;
};

TEST(KubeConfigTest, HostileAndIncompleteConfigsAreClearErrors) {
  const std::string ctx = "contexts: [{name: c, context: {cluster: k, user: u}}]\n";
  const std::string cluster = "clusters: [{name: k, cluster: {server: https://h}}]\n";
  const BadCase cases[] = {
      {"bad-yaml", "clusters: [\n", Errc::ParseError, "/cfg"},
      {"not-a-mapping", "- a\n- b\n", Errc::ParseError, "must be a mapping"},
      {"no-current-context", cluster + ctx, Errc::InvalidArgument, "current-context is not set"},
      {"no-server",
       "current-context: c\nclusters: [{name: k, cluster: {}}]\n" + ctx +
           "users: [{name: u, user: {}}]\n",
       Errc::InvalidArgument, "cluster \"k\": server is missing"},
      {"cluster-absent", "current-context: c\n" + ctx, Errc::NotFound,
       "cluster \"k\" is not in clusters"},
      {"user-absent", "current-context: c\n" + cluster + ctx, Errc::NotFound,
       "user \"u\" is not in users"},
      {"context-without-cluster", "current-context: c\ncontexts: [{name: c, context: {user: u}}]\n",
       Errc::InvalidArgument, "context \"c\": cluster is missing"},
      {"cert-without-key",
       "current-context: c\n" + cluster + ctx +
           "users: [{name: u, user: {client-certificate-data: " + encodeBase64(kCert) + "}}]\n",
       Errc::InvalidArgument, "user \"u\": client-key is missing"},
      {"bad-base64",
       "current-context: c\nclusters: [{name: k, cluster: {server: https://h, "
       "certificate-authority-data: \"!!\"}}]\n" +
           ctx,
       Errc::ParseError, "certificate-authority-data is not base64"},
      {"not-pem",
       "current-context: c\nclusters: [{name: k, cluster: {server: https://h, "
       "certificate-authority-data: " +
           encodeBase64("hello") + "}}]\n" + ctx,
       Errc::ParseError, "certificate-authority does not hold PEM"},
      {"insecure",
       "current-context: c\nclusters: [{name: k, cluster: {server: https://h, "
       "insecure-skip-tls-verify: true}}]\n" +
           ctx,
       Errc::Unsupported, "insecure-skip-tls-verify is not supported"},
      {"exec-plugin",
       "current-context: c\n" + cluster + ctx +
           "users: [{name: u, user: {exec: {command: aws}}}]\n",
       Errc::Unsupported, "exec credential plugins are not supported"},
      {"basic-auth",
       "current-context: c\n" + cluster + ctx +
           "users: [{name: u, user: {username: a, password: b}}]\n",
       Errc::Unsupported, "basic authentication"},
      {"server-not-string",
       "current-context: c\nclusters: [{name: k, cluster: {server: [1]}}]\n" + ctx,
       Errc::InvalidArgument, "server must be a string"},
      {"clusters-not-list", "current-context: c\nclusters: {a: 1}\n" + ctx, Errc::InvalidArgument,
       "clusters must be a list"},
      {"ftp-server",
       "current-context: c\nclusters: [{name: k, cluster: {server: \"ftp://h\"}}]\n" + ctx,
       Errc::InvalidArgument, "is not an http(s) URL"},
  };
  for (const auto& c : cases) {
    auto r = parseKubeConfig(c.yaml, "/cfg");
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
        << c.name << ": " << r.error().message;
    EXPECT_EQ(r.error().message.rfind("/cfg", 0), 0u) << c.name << ": " << r.error().message;
  }
}

TEST(KubeConfigTest, AnonymousUserAndJsonKubeconfig) {
  auto c = parseKubeConfig(
      R"({"current-context":"c","clusters":[{"name":"k","cluster":{"server":"http://127.0.0.1:8080",)"
      R"("tls-server-name":"kubernetes"}}],"contexts":[{"name":"c","context":{"cluster":"k"}}]})",
      "/j");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "http://127.0.0.1:8080");
  EXPECT_EQ(c->tls_server_name, "kubernetes");
  EXPECT_TRUE(c->token.empty());
  EXPECT_TRUE(c->cert_pem.empty());
}

TEST(KubeConfigTest, UnquotedNumericNamesReadAsStrings) {
  // YAML types `2024` as an integer; kubectl (go-yaml into string fields)
  // reads it as "2024".
  auto c = parseKubeConfig(
      "current-context: 2024\n"
      "clusters: [{name: 7, cluster: {server: https://h}}]\n"
      "contexts: [{name: 2024, context: {cluster: 7, namespace: 42}}]\n",
      "/n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->context, "2024");
  EXPECT_EQ(c->ns, "42");
}

TEST(KubeConfigTest, KubeconfigListIsMergedFirstWins) {
  TempDir dir;
  std::string a = dir.write("a",
                            "current-context: from-a\n"
                            "clusters: [{name: k, cluster: {server: https://a}}]\n"
                            "contexts: [{name: from-a, context: {cluster: k, user: u}}]\n");
  std::string b = dir.write("b/config",
                            "current-context: from-b\n"
                            "clusters: [{name: k, cluster: {server: https://b}},\n"
                            "           {name: kb, cluster: {server: https://bb}}]\n"
                            "users: [{name: u, user: {tokenFile: t}}]\n"
                            "contexts: [{name: from-b, context: {cluster: kb}}]\n");
  dir.write("b/t", "tok-b\n");
  auto c = loadKubeConfig(
      withEnv({{"KUBECONFIG", dir.path() + "/missing:" + a + "::" + b}, {"HOME", dir.path()}}));
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->context, "from-a");
  EXPECT_EQ(c->server, "https://a");  // cluster k: a's wins
  EXPECT_EQ(c->token, "tok-b");       // user u from b, its tokenFile relative to b/
  EXPECT_EQ(c->source, a + ":" + b);
}

TEST(KubeConfigTest, HomeKubeConfigAndExplicitPathPrecedence) {
  TempDir home;
  home.write(".kube/config",
             "current-context: c\n"
             "clusters: [{name: k, cluster: {server: https://home}}]\n"
             "contexts: [{name: c, context: {cluster: k}}]\n");
  auto c = loadKubeConfig(withEnv({{"HOME", home.path()}}));
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://home");
  EXPECT_EQ(c->source, home.path() + "/.kube/config");

  // --kubeconfig wins; a missing one is an error, not a fallback.
  KubeConfigOptions options = withEnv({{"HOME", home.path()}});
  options.path = home.path() + "/absent";
  auto missing = loadKubeConfig(options);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::NotFound);
  EXPECT_NE(missing.error().message.find("--kubeconfig"), std::string::npos);
}

TEST(KubeConfigTest, InClusterFromAServiceAccountFolder) {
  TempDir sa;
  sa.write("token", "sa-token\n");
  sa.write("ca.crt", kCa);
  sa.write("namespace", "istio-system");
  TempDir home;  // no .kube/config in it
  KubeConfigOptions options = withEnv({{"HOME", home.path()},
                                       {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                       {"KUBERNETES_SERVICE_PORT", "443"}});
  options.service_account_dir = sa.path();
  auto c = loadKubeConfig(options);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token, "sa-token");
  EXPECT_EQ(c->token_file, sa.path() + "/token");
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->ns, "istio-system");
  EXPECT_EQ(c->source, "in-cluster");

  KubeConfigOptions v6 =
      withEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}});
  v6.service_account_dir = sa.path();
  auto c6 = loadInClusterConfig(v6);
  ASSERT_TRUE(c6.has_value()) << c6.error().message;
  EXPECT_EQ(c6->server, "https://[fd00::1]:6443");
}

TEST(KubeConfigTest, InClusterWithoutTokenIsAnError) {
  TempDir sa;
  sa.write("ca.crt", kCa);
  KubeConfigOptions options =
      withEnv({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  options.service_account_dir = sa.path();
  auto c = loadKubeConfig(options);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("in-cluster service account token"), std::string::npos)
      << c.error().message;
}

TEST(KubeConfigTest, NothingFoundSaysWhereItLooked) {
  TempDir home;
  auto c = loadKubeConfig(withEnv({{"HOME", home.path()}}));
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, Errc::NotFound);
  EXPECT_NE(c.error().message.find(home.path() + "/.kube/config (absent)"), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("KUBERNETES_SERVICE_HOST unset"), std::string::npos);
}

}  // namespace
}  // namespace remora::kube
