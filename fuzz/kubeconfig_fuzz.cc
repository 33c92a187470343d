// parseKubeConfig must turn any byte string into a KubeConfig or an Error:
// never a crash, an exception or a sanitizer report. Referenced files are
// served from memory (a PEM for paths ending in .pem, NotFound otherwise),
// so the fuzzer reaches the file branches without touching the disk.
// Oracle: a config that loads is usable: an http(s) server without a
// trailing '/', and a client certificate exactly when a key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "kube/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  remora::kube::KubeConfigOptions options;
  options.env = [](std::string_view) { return std::optional<std::string>(); };
  options.read_file = [](const std::string& path) -> remora::Result<std::string> {
    if (path.ends_with(".pem")) return std::string("-----BEGIN X-----\nAA==\n-----END X-----\n");
    return remora::Error{remora::Errc::NotFound, "no file " + path};
  };
  for (const char* context : {"", "dev"}) {
    options.context = context;
    auto config = remora::kube::parseKubeConfig(text, "/fuzz/config", options);
    if (!config) continue;
    REMORA_CHECK(config->server.starts_with("https://") || config->server.starts_with("http://"),
                 "server without a scheme: {}", config->server);
    REMORA_CHECK(!config->server.ends_with("/"), "server with a trailing slash: {}",
                 config->server);
    REMORA_CHECK(config->cert_pem.empty() == config->key_pem.empty(),
                 "a client certificate without its key (or the reverse)");
    REMORA_CHECK(!config->ns.empty(), "empty namespace");
  }
  return 0;
}
