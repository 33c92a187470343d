// What shapes an injection besides the pod: the injection values, the mesh
// config, the sidecar template and the revision.
//
// Built-in defaults (src/inject/values.yaml, meshconfig.yaml and
// sidecar-template.yaml) are compiled into the binary. A values or mesh
// config file given by the user is merged over its default key by key, the
// way Helm merges values: mappings merge recursively, anything else (lists,
// scalars) replaces. The result is checked once here, so injection never
// meets a malformed setting.
//
// An InjectConfig is immutable after loadConfig(); share it freely between
// threads (the webhook's workers read one snapshot each).
#pragma once

#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace remora::inject {

struct InjectConfig {
  Json values;            // Istio-shaped injection values
  Json mesh;              // Istio-shaped MeshConfig
  Json sidecar_template;  // the template document (see sidecar-template.yaml)
  std::string revision;   // "default" unless --revision says otherwise
  // Hash of the template, values and mesh config: the `version` in the
  // status annotation, so `remora check` can tell an outdated sidecar.
  std::string version;
  // Label selectors from values (sidecarInjectorWebhook) and mesh config.
  Json never_inject_selectors = Json::array();
  Json always_inject_selectors = Json::array();
  bool policy_enabled = true;
};

// Loads the defaults and merges the given texts (YAML or JSON; empty means
// "defaults only") over them. Errors name the file's role and the field:
// "values: global.proxy.statusPort must be a port number (0..65535)".
Result<InjectConfig> loadConfig(std::string_view values_text = {}, std::string_view mesh_text = {},
                                std::string_view revision = {});

// The built-in files, as compiled in.
std::string_view defaultValuesYaml();
std::string_view defaultMeshConfigYaml();
std::string_view sidecarTemplateYaml();

// Helm-style merge: `overlay` over `base`.
Json mergeValues(Json base, const Json& overlay);

}  // namespace remora::inject
