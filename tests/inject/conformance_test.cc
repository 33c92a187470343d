// The Istio conformance corpus (tests/conformance/istio-inject/, see its
// README): the built `remora inject` runs over every input, in the default
// layout and with native sidecars on, and each output is checked against the
// properties the README lists. Every output injected again must come back
// byte-identical, and the JSON Patch of every document must apply.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inject/json_patch.h"
#include "kube/objects.h"
#include "test_util.h"

namespace remora::inject {
namespace {

namespace fs = std::filesystem;
using testing::containerNamed;
using testing::envOf;
using testing::flagValue;
using testing::hasEnv;
using testing::namesOf;

const fs::path kInputs = "tests/conformance/istio-inject/inputs";

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct InjectRun {
  int exit_code = -1;
  std::string out;  // the -o file, "" when it was not written
  std::string err;
  bool out_written = false;
  std::string stdout_text;
};

// A scratch directory for one test, removed at the end.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "remora-conformance-XXXXXX").string();
    REMORA_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    dir_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path path(std::string_view name) const { return dir_ / name; }

 private:
  fs::path dir_;
};

InjectRun runInject(const Scratch& scratch, const fs::path& input, const std::string& extra_args) {
  fs::path out = scratch.path("out.yaml");
  fs::path err = scratch.path("err.txt");
  fs::path std_out = scratch.path("stdout.txt");
  fs::remove(out);
  std::string cmd =
      fmt::format("'{}' inject -f '{}' -o '{}' {} >'{}' 2>'{}'", REMORA_BIN, input.string(),
                  out.string(), extra_args, std_out.string(), err.string());
  int status = std::system(cmd.c_str());
  InjectRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out_written = fs::exists(out);
  if (run.out_written) run.out = readFile(out);
  run.err = readFile(err);
  run.stdout_text = readFile(std_out);
  return run;
}

std::vector<Json> documents(const std::string& text) {
  auto docs = kube::parseDocuments(text);
  EXPECT_TRUE(docs) << docs.error().message;
  std::vector<Json> out;
  if (docs) {
    for (auto& d : *docs) out.push_back(std::move(d.value));
  }
  return out;
}

Json* podTemplateOf(Json& object) {
  auto kind = kube::workloadKind(object);
  if (!kind) return nullptr;
  auto pod = kube::podTemplate(object, *kind);
  return pod ? *pod : nullptr;
}

std::vector<std::string> initArgsBase() {
  return {"init",
          "-p",
          "15001",
          "-z",
          "15006",
          "-u",
          "1337",
          "-m",
          "REDIRECT",
          "-i",
          "*",
          "-x",
          "",
          "-b",
          "*",
          "-d",
          "15090,15021,15020"};
}

double quantity(const Json& v) {
  auto q = kube::parseQuantity(v.is_string() ? v.get<std::string>() : v.dump());
  EXPECT_TRUE(q) << v.dump();
  return q ? *q : -1;
}

// The README's "Injected" properties, for one pod template.
void expectInjected(const Json& pod, bool native, const std::string& first_app) {
  const Json& spec = pod["spec"];
  auto inits = namesOf(spec.value("initContainers", Json::array()));
  auto containers = namesOf(spec["containers"]);
  EXPECT_EQ(std::count(inits.begin(), inits.end(), "istio-init"), 1);
  auto proxies = std::count(inits.begin(), inits.end(), "istio-proxy") +
                 std::count(containers.begin(), containers.end(), "istio-proxy");
  EXPECT_EQ(proxies, 1);
  if (native) {
    ASSERT_GE(inits.size(), 2u);
    EXPECT_EQ(inits[0], "istio-init");
    EXPECT_EQ(inits[1], "istio-proxy");
    EXPECT_EQ((*containerNamed(pod, "istio-proxy"))["restartPolicy"], "Always");
  } else {
    EXPECT_EQ(inits.back(), "istio-init");
    EXPECT_EQ(containers.back(), "istio-proxy");
  }
  // Volumes: ours, once each, and exactly the status annotation's list.
  auto volumes = namesOf(spec["volumes"]);
  std::set<std::string> unique(volumes.begin(), volumes.end());
  EXPECT_EQ(unique.size(), volumes.size()) << "duplicate volumes";
  for (const char* v :
       {"istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"}) {
    EXPECT_TRUE(unique.count(v)) << v;
  }
  const Json& annotations = pod["metadata"]["annotations"];
  auto status = parseJson(annotations.value("sidecar.istio.io/status", ""));
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["volumes"], Json::array({"istio-envoy", "istio-data", "istio-podinfo",
                                               "istio-token", "istiod-ca-cert"}));
  Json want_inits =
      native ? Json::array({"istio-init", "istio-proxy"}) : Json::array({"istio-init"});
  EXPECT_EQ((*status)["initContainers"], want_inits);
  EXPECT_EQ((*status)["containers"], native ? Json::array() : Json::array({"istio-proxy"}));
  EXPECT_EQ(pod["metadata"]["labels"]["security.istio.io/tlsMode"], "istio");
  EXPECT_EQ(annotations.value("kubectl.kubernetes.io/default-container", ""), first_app);
  EXPECT_EQ(annotations.value("istio.io/rev", ""), "default");
  // The proxy: Istio's names, as the proxy reads them.
  const Json& proxy = *containerNamed(pod, "istio-proxy");
  EXPECT_EQ(proxy["ports"][0]["name"], "http-envoy-prom");
  EXPECT_EQ(proxy["ports"][0]["containerPort"], 15090);
  for (const char* env :
       {"POD_NAME", "POD_NAMESPACE", "INSTANCE_IP", "SERVICE_ACCOUNT", "HOST_IP", "PROXY_CONFIG",
        "ISTIO_META_POD_PORTS", "ISTIO_META_APP_CONTAINERS", "ISTIO_META_CLUSTER_ID",
        "ISTIO_META_MESH_ID", "TRUST_DOMAIN", "CA_ADDR", "ISTIO_META_WORKLOAD_NAME"}) {
    EXPECT_TRUE(hasEnv(proxy, env)) << env;
  }
  EXPECT_EQ(proxy["args"][0], "proxy");
  EXPECT_EQ(proxy["args"][1], "sidecar");
}

struct Layout {
  const char* name;
  const char* values;  // file contents, "" for the defaults
  bool native_everywhere;
};

// Per-file checks beyond the common ones; `native` is the layout in use.
void checkFile(const std::string& file, std::vector<Json>& out, const std::vector<Json>& in,
               bool native, const InjectRun& run) {
  auto pod = [&](std::size_t i) -> Json& { return *podTemplateOf(out.at(i)); };
  auto init = [&](std::size_t i) -> const Json& { return *containerNamed(pod(i), "istio-init"); };
  auto proxy = [&](std::size_t i) -> const Json& { return *containerNamed(pod(i), "istio-proxy"); };
  auto app = [&](std::size_t i, std::string_view name) -> const Json& {
    return *containerNamed(pod(i), name);
  };

  if (file == "hello.yaml") {
    expectInjected(pod(0), native, "hello");
    EXPECT_EQ(envOf(proxy(0), "ISTIO_META_POD_PORTS"), R"([{"name":"http","containerPort":80}])");
    EXPECT_EQ(pod(0)["metadata"]["labels"]["service.istio.io/canonical-name"], "hello");
    EXPECT_EQ(pod(0)["metadata"]["labels"]["service.istio.io/canonical-revision"], "latest");
    std::vector<std::string> args;
    for (const Json& a : init(0)["args"]) args.push_back(a.get<std::string>());
    EXPECT_EQ(args, initArgsBase());
  } else if (file == "pod.yaml") {
    expectInjected(out[0], native, "hello");
    EXPECT_EQ(envOf(proxy(0), "ISTIO_META_WORKLOAD_NAME"), "hellopod");
  } else if (file == "daemonset.yaml" || file == "replicaset.yaml") {
    expectInjected(out[0]["spec"]["template"], native, "hello");
  } else if (file == "replicationcontroller.yaml") {
    expectInjected(out[0]["spec"]["template"], native, "nginx");
  } else if (file == "statefulset.yaml") {
    expectInjected(pod(0), native, "hello");
    auto volumes = namesOf(pod(0)["spec"]["volumes"]);
    EXPECT_EQ(volumes.front(), "data");
    EXPECT_EQ(app(0, "hello")["volumeMounts"],
              in[0]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]);
  } else if (file == "job.yaml") {
    EXPECT_TRUE(true);
    expectInjected(pod(0), /*native=*/true, "pi");  // Jobs are native by default, to complete
    EXPECT_EQ(pod(0)["spec"]["restartPolicy"], "Never");
  } else if (file == "cronjob.yaml") {
    expectInjected(pod(0), /*native=*/true, "hello");
    EXPECT_FALSE(out[0]["spec"]["jobTemplate"].contains("metadata"));
    EXPECT_EQ(pod(0)["spec"]["restartPolicy"], "OnFailure");
  } else if (file == "list.yaml") {
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]["kind"], "List");
    ASSERT_EQ(out[0]["items"].size(), 2u);
    for (auto& item : out[0]["items"]) expectInjected(item["spec"]["template"], native, "hello");
  } else if (file == "hello-multi.yaml") {
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["metadata"]["name"], "hello-v1");
    EXPECT_EQ(out[1]["metadata"]["name"], "hello-v2");
    expectInjected(pod(0), native, "hello");
    expectInjected(pod(1), native, "hello");
    EXPECT_NE(run.out.find("\n---\n"), std::string::npos);
  } else if (file == "frontend.yaml") {
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], in[0]);  // the Service, unchanged and in place
    expectInjected(pod(1), native, "nginx");
    EXPECT_EQ(app(1, "nginx")["lifecycle"],
              in[1]["spec"]["template"]["spec"]["containers"][0]["lifecycle"]);
  } else if (file == "hello-host-network.yaml" || file == "hello-ignore.yaml") {
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], in[0]);
    if (file == "hello-host-network.yaml") {
      EXPECT_NE(
          run.err.find("Skipping injection because Deployment \"hello-host-network\" has host "
                       "networking enabled"),
          std::string::npos)
          << run.err;
    } else {
      EXPECT_NE(run.err.find("sidecar injection is disabled"), std::string::npos) << run.err;
    }
  } else if (file == "merge-probers.yaml") {
    expectInjected(pod(0), native, "hello");
    auto probers = parseJson(envOf(proxy(0), "ISTIO_KUBE_APP_PROBERS"));
    ASSERT_TRUE(probers);
    EXPECT_EQ(probers->size(), 4u) << probers->dump();
    EXPECT_TRUE(probers->contains("/app-health/new/livez"));
    EXPECT_EQ((*probers)["/app-health/new/livez"]["httpGet"]["port"], 8008);
    EXPECT_EQ(app(0, "new")["livenessProbe"]["httpGet"]["path"], "/app-health/new/livez");
    EXPECT_EQ(proxy(0)["image"], "ghcr.io/remora-mesh/remora:0.1.0");
  } else if (file == "proxy-override.yaml") {
    expectInjected(pod(0), native, "hello");
    const Json& p = proxy(0);
    EXPECT_EQ(p["image"], "ghcr.io/remora-mesh/remora:0.1.0");
    EXPECT_EQ(p["resources"]["requests"]["cpu"], "123m");
    EXPECT_EQ(p["resources"]["limits"]["cpu"], "3000m");
    EXPECT_EQ(p["securityContext"]["runAsUser"], 1234);
    EXPECT_EQ(p["securityContext"]["runAsGroup"], 1234);
    EXPECT_EQ(p["tty"], true);
    EXPECT_EQ(p["terminationMessagePath"], "/foo/bar");
    EXPECT_EQ(p["livenessProbe"]["httpGet"]["port"], 15021);
    EXPECT_EQ(p["lifecycle"]["preStop"]["exec"]["command"], Json::array({"sleep", "10"}));
    EXPECT_EQ(init(0)["args"], Json::array({"my", "custom", "args"}));
    EXPECT_EQ(init(0)["image"], "fake/custom-image");
    EXPECT_TRUE(pod(0)["metadata"]["annotations"].contains("proxy.istio.io/overrides"));
  } else if (file == "hello-probes.yaml") {
    expectInjected(pod(0), native, "hello");
    const Json& hello = app(0, "hello");
    EXPECT_EQ(hello["livenessProbe"]["httpGet"],
              Json::parse(R"({"path":"/app-health/hello/livez","port":15020})"));
    EXPECT_EQ(hello["readinessProbe"]["httpGet"]["path"], "/app-health/hello/readyz");
    EXPECT_EQ(hello["lifecycle"]["preStop"]["httpGet"]["path"], "/app-lifecycle/hello/prestopz");
    EXPECT_EQ(hello["lifecycle"]["postStart"]["httpGet"]["path"],
              "/app-lifecycle/hello/poststartz");
    EXPECT_EQ(hello["lifecycle"]["postStart"]["httpGet"]["port"], 15020);
    EXPECT_EQ(app(0, "world")["readinessProbe"],
              in[0]["spec"]["template"]["spec"]["containers"][1]["readinessProbe"]);
    auto probers = parseJson(envOf(proxy(0), "ISTIO_KUBE_APP_PROBERS"));
    ASSERT_TRUE(probers);
    EXPECT_EQ((*probers)["/app-health/hello/livez"]["httpGet"]["port"], 80);
    EXPECT_EQ((*probers)["/app-health/world/livez"]["httpGet"]["port"], 90);
    EXPECT_EQ((*probers)["/app-lifecycle/hello/poststartz"]["tcpSocket"]["port"], 93);
  } else if (file == "tcp-probes.yaml") {
    expectInjected(pod(0), native, "hello");
    const Json& hello = app(0, "hello");
    EXPECT_EQ(hello["livenessProbe"],
              Json::parse(R"({"httpGet":{"path":"/app-health/hello/livez","port":15020}})"));
    EXPECT_EQ(hello["readinessProbe"],
              Json::parse(R"({"httpGet":{"path":"/app-health/hello/readyz","port":15020}})"));
    auto probers = parseJson(envOf(proxy(0), "ISTIO_KUBE_APP_PROBERS"));
    ASSERT_TRUE(probers);
    EXPECT_EQ((*probers)["/app-health/hello/livez"], Json::parse(R"({"tcpSocket":{"port":80}})"));
    EXPECT_EQ((*probers)["/app-health/hello/readyz"],
              Json::parse(R"({"tcpSocket":{"port":3333}})"));
  } else if (file == "https-probes.yaml") {
    expectInjected(pod(0), native, "hello");
    EXPECT_EQ(app(0, "hello")["readinessProbe"]["httpGet"]["scheme"], "HTTP");
    EXPECT_EQ(app(0, "hello")["readinessProbe"]["httpGet"]["port"], 15020);
    EXPECT_NE(envOf(proxy(0), "ISTIO_KUBE_APP_PROBERS").find(R"("scheme":"HTTPS")"),
              std::string::npos);
  } else if (file == "hello-probes-with-flag-unset-in-annotation.yaml") {
    expectInjected(pod(0), native, "hello");
    const Json& in_spec = in[0]["spec"]["template"]["spec"];
    EXPECT_EQ(app(0, "hello")["livenessProbe"], in_spec["containers"][0]["livenessProbe"]);
    EXPECT_EQ(app(0, "hello")["readinessProbe"], in_spec["containers"][0]["readinessProbe"]);
    EXPECT_EQ(app(0, "world")["livenessProbe"], in_spec["containers"][1]["livenessProbe"]);
    EXPECT_FALSE(hasEnv(proxy(0), "ISTIO_KUBE_APP_PROBERS"));
  } else if (file == "traffic-annotations.yaml") {
    expectInjected(pod(0), native, "traffic");
    EXPECT_EQ(flagValue(init(0), "-i"), "127.0.0.1/24,10.96.0.1/24");
    EXPECT_EQ(flagValue(init(0), "-x"), "10.96.0.2/24,10.96.0.3/24");
    EXPECT_EQ(flagValue(init(0), "-b"), "1,2,3");
    EXPECT_EQ(flagValue(init(0), "-d"), "15090,15021,4,5,6,15020");
    EXPECT_EQ(flagValue(init(0), "-o"), "7,8,9");
    EXPECT_EQ(flagValue(proxy(0), "--concurrency"), "4");
    for (const Json* c : {&proxy(0), &init(0)}) {
      EXPECT_EQ(envOf(*c, "FOO"), "bar");
      EXPECT_EQ(envOf(*c, "ISTIO_META_TLS_CLIENT_KEY"),
                "/etc/identity2/client/keys/client-key.pem");
    }
  } else if (file == "resource_annotations.yaml") {
    expectInjected(pod(0), native, "resource");
    for (const Json* c : {&proxy(0), &init(0)}) {
      const Json& r = (*c)["resources"];
      EXPECT_DOUBLE_EQ(quantity(r["requests"]["cpu"]), 0.1);
      EXPECT_DOUBLE_EQ(quantity(r["requests"]["memory"]), 1073741824.0);
      EXPECT_DOUBLE_EQ(quantity(r["limits"]["cpu"]), 1.0);
      EXPECT_DOUBLE_EQ(quantity(r["limits"]["memory"]), 2147483648.0);
      EXPECT_EQ(r.size(), 2u);
      EXPECT_EQ(r["requests"].size(), 2u);
    }
  } else if (file == "status_annotations.yaml") {
    expectInjected(pod(0), native, "status");
    const Json& probe = proxy(0)["readinessProbe"];
    EXPECT_EQ(probe["httpGet"]["path"], "/healthz/ready");
    EXPECT_EQ(probe["httpGet"]["port"], 15021);
    EXPECT_EQ(probe["initialDelaySeconds"], 100);
    EXPECT_EQ(probe["periodSeconds"], 200);
    EXPECT_EQ(probe["failureThreshold"], 300);
    EXPECT_EQ(flagValue(init(0), "-d"), "15090,15021,123");
    if (native) {
      EXPECT_EQ(proxy(0)["lifecycle"]["preStop"]["exec"]["command"].back(), "--debug-port=123");
    }
  } else if (file == "multi-init.yaml") {
    expectInjected(pod(0), native, "hello");
    auto inits = namesOf(pod(0)["spec"]["initContainers"]);
    if (native) {
      EXPECT_EQ(inits,
                (std::vector<std::string>{"istio-init", "istio-proxy", "init-one", "init-two"}));
    } else {
      EXPECT_EQ(inits, (std::vector<std::string>{"init-one", "init-two", "istio-init"}));
    }
  } else if (file == "native-sidecar.yaml") {
    // A pod with a native sidecar gets the native layout in every mode.
    expectInjected(out[0], /*native=*/true, "hello");
    EXPECT_EQ(namesOf(out[0]["spec"]["initContainers"]),
              (std::vector<std::string>{"istio-init", "istio-proxy", "other-sidecar"}));
    EXPECT_EQ(out[0]["spec"]["initContainers"][2]["readinessProbe"]["httpGet"],
              Json::parse(R"({"path":"/app-health/other-sidecar/readyz","port":15020})"));
  } else {
    ADD_FAILURE() << "no checks for " << file << ": add them with the README's properties";
  }
}

class ConformanceTest : public ::testing::TestWithParam<Layout> {};

TEST_P(ConformanceTest, EveryInputHasTheReadmesProperties) {
  const Layout& layout = GetParam();
  Scratch scratch;
  std::string extra;
  if (*layout.values != '\0') {
    std::ofstream(scratch.path("values.yaml")) << layout.values;
    extra = "--values '" + scratch.path("values.yaml").string() + "'";
  }
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kInputs)) {
    std::string file = entry.path().filename().string();
    SCOPED_TRACE(file);
    ++files;
    InjectRun run = runInject(scratch, entry.path(), extra);
    if (file == "traffic-annotations-bad-includeipranges.yaml") {
      EXPECT_NE(run.exit_code, 0);
      EXPECT_FALSE(run.out_written) << "nothing may be written on error";
      EXPECT_TRUE(run.stdout_text.empty());
      EXPECT_NE(lower(run.err).find("includeipranges"), std::string::npos) << run.err;
      EXPECT_NE(run.err.find("document 1"), std::string::npos) << run.err;
      continue;
    }
    ASSERT_EQ(run.exit_code, 0) << run.err;
    ASSERT_TRUE(run.out_written);
    EXPECT_TRUE(run.stdout_text.empty());
    std::vector<Json> in = documents(readFile(entry.path()));
    std::vector<Json> out = documents(run.out);
    ASSERT_EQ(out.size(), in.size());
    checkFile(file, out, in, layout.native_everywhere, run);

    // Idempotence: the output injected again is the same bytes.
    fs::path first = scratch.path("first.yaml");
    std::ofstream(first) << run.out;
    InjectRun again = runInject(scratch, first, extra);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, run.out) << "injecting twice must equal injecting once";
  }
  EXPECT_EQ(files, 25);
}

INSTANTIATE_TEST_SUITE_P(Layouts, ConformanceTest,
                         ::testing::Values(Layout{"classic", "", false},
                                           Layout{"native", "global:\n  nativeSidecars: true\n",
                                                  true}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// The webhook's patch: for every document of every input, the JSON Patch
// between the input and its injection applies to give the injection, and
// the patch of an injected document is empty.
TEST(ConformancePatchTest, PatchOfEveryInputAppliesAndIsIdempotent) {
  Injector injector = testing::makeInjector();
  int documents_checked = 0;
  for (const auto& entry : fs::directory_iterator(kInputs)) {
    SCOPED_TRACE(entry.path().filename().string());
    auto docs = kube::parseDocuments(readFile(entry.path()));
    ASSERT_TRUE(docs) << docs.error().message;
    for (auto& doc : *docs) {
      Json injected = doc.value;
      std::vector<ObjectReport> reports;
      if (!injectObject(injector, injected, reports)) continue;  // the bad-annotation input
      Json patch = createPatch(doc.value, injected);
      auto applied = applyPatch(doc.value, patch);
      ASSERT_TRUE(applied) << applied.error().message;
      EXPECT_TRUE(jsonEquivalent(*applied, injected));
      for (const Json& op : patch) {
        EXPECT_NE(op["op"], "move");
        if (op["op"] == "replace") {
          EXPECT_FALSE(op["value"].is_array()) << op.dump();
        }
      }
      Json again = injected;
      reports.clear();
      ASSERT_TRUE(injectObject(injector, again, reports));
      EXPECT_TRUE(createPatch(injected, again).empty()) << createPatch(injected, again).dump();
      ++documents_checked;
    }
  }
  EXPECT_GE(documents_checked, 26);
}

}  // namespace
}  // namespace remora::inject
