#include "inject/probes.h"

#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "inject/annotations.h"

namespace remora::inject {
namespace {

struct Slot {
  const char* parent;  // "" for a probe on the container, "lifecycle" for a hook
  const char* field;
  const char* prefix;  // app-health or app-lifecycle
  const char* suffix;
  bool grpc_allowed;
};

constexpr Slot kSlots[] = {
    {"", "livenessProbe", "app-health", "livez", true},
    {"", "readinessProbe", "app-health", "readyz", true},
    {"", "startupProbe", "app-health", "startupz", true},
    {"lifecycle", "preStop", "app-lifecycle", "prestopz", false},
    {"lifecycle", "postStart", "app-lifecycle", "poststartz", false},
};

// The containers whose probes are rewritten: app containers and native
// sidecars, never the proxy.
template <typename F>
void forEachProbedContainer(Json& spec, F&& f) {
  auto visit = [&](const char* list, bool native_only) {
    Json* containers = spec.is_object() && spec.contains(list) ? &spec[list] : nullptr;
    if (containers == nullptr || !containers->is_array()) return;
    for (Json& c : *containers) {
      if (!c.is_object()) continue;
      const Json* name = findField(c, "name");
      if (name == nullptr || !name->is_string() || *name == names::kProxyContainer) continue;
      if (native_only) {
        const Json* restart = findField(c, "restartPolicy");
        if (restart == nullptr || *restart != "Always") continue;
      }
      f(c, name->get<std::string>());
    }
  };
  visit("initContainers", true);
  visit("containers", false);
}

Json* handlerHolder(Json& container, const Slot& slot) {
  Json* holder = &container;
  if (*slot.parent != '\0') {
    auto it = container.find(slot.parent);
    if (it == container.end() || !it->is_object()) return nullptr;
    holder = &*it;
  }
  auto it = holder->find(slot.field);
  if (it == holder->end() || !it->is_object()) return nullptr;
  return &*it;
}

// A port as written (int, digits, or a name) resolved against the
// container's declared ports.
std::optional<Json> resolvePort(const Json& container, const Json& port) {
  if (port.is_number_integer() || port.is_number_unsigned()) return port;
  if (!port.is_string()) return std::nullopt;
  const auto& text = port.get_ref<const std::string&>();
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
      text.size() < 6) {
    return Json(std::stoi(text));
  }
  const Json* ports = findField(container, "ports");
  if (ports == nullptr || !ports->is_array()) return std::nullopt;
  for (const Json& p : *ports) {
    const Json* name = findField(p, "name");
    const Json* number = findField(p, "containerPort");
    if (name != nullptr && *name == text && number != nullptr && number->is_number())
      return *number;
  }
  return std::nullopt;
}

// Replaces `old_key` by `new_key` at the same position, so the output keeps
// the author's field order.
void replaceKey(Json& object, const std::string& old_key, const std::string& new_key, Json value) {
  auto& members = object.get_ref<Json::object_t&>();
  Json::object_t out;
  out.reserve(members.size());  // then no growth, so nothing is copied
  for (auto& member : members) {
    if (member.first == old_key) {
      out.emplace_back(new_key, std::move(value));
    } else if (member.first != new_key) {
      out.emplace_back(member.first, std::move(member.second));
    }
  }
  members.swap(out);
}

// The handler with its port resolved, or nullopt when it cannot be.
std::optional<Json> resolvedHandler(const Json& container, const Json& handler) {
  if (!handler.is_object()) return std::nullopt;
  Json out = handler;
  auto port = handler.find("port");
  if (port == handler.end()) return std::nullopt;
  auto resolved = resolvePort(container, *port);
  if (!resolved) return std::nullopt;
  out["port"] = *resolved;
  return out;
}

bool rewriteOne(Json& container, Json& probe, const Slot& slot, const std::string& path,
                int status_port, std::map<std::string, Json>& probers) {
  const char* kinds[] = {"httpGet", "tcpSocket", "grpc"};
  for (const char* kind : kinds) {
    auto it = probe.find(kind);
    if (it == probe.end()) continue;
    if (std::string_view(kind) == "grpc" && !slot.grpc_allowed) return false;
    auto handler = resolvedHandler(container, *it);
    if (!handler) return false;
    Json prober = Json::object();
    prober[kind] = *handler;
    if (auto timeout = probe.find("timeoutSeconds"); timeout != probe.end()) {
      prober["timeoutSeconds"] = *timeout;
    }
    Json http = Json::object();
    http["path"] = path;
    http["port"] = status_port;
    if (std::string_view(kind) == "httpGet") {
      // Kubelet -> HTTP -> proxy -> HTTPS -> app: the scheme to the proxy is HTTP.
      for (const auto& [key, value] : it->items()) {
        if (key == "path" || key == "port") continue;
        http[key] = key == "scheme" && value == "HTTPS" ? Json("HTTP") : value;
      }
    }
    replaceKey(probe, kind, "httpGet", std::move(http));
    probers[path] = std::move(prober);
    return true;
  }
  return false;
}

}  // namespace

Json rewriteProbes(Json& spec, int status_port) {
  std::map<std::string, Json> probers;
  forEachProbedContainer(spec, [&](Json& container, const std::string& name) {
    for (const Slot& slot : kSlots) {
      Json* probe = handlerHolder(container, slot);
      if (probe == nullptr) continue;  // most slots are empty: no path to build
      std::string path = fmt::format("/{}/{}/{}", slot.prefix, name, slot.suffix);
      rewriteOne(container, *probe, slot, path, status_port, probers);
    }
  });
  Json out = Json::object();
  for (auto& [path, prober] : probers) out[path] = std::move(prober);
  return out;
}

void restoreProbes(Json& spec, const Json& probers) {
  if (!probers.is_object() || probers.empty()) return;
  forEachProbedContainer(spec, [&](Json& container, const std::string& name) {
    for (const Slot& slot : kSlots) {
      Json* probe = handlerHolder(container, slot);
      if (probe == nullptr) continue;
      std::string path = fmt::format("/{}/{}/{}", slot.prefix, name, slot.suffix);
      auto http = probe->find("httpGet");
      if (http == probe->end() || !http->is_object()) continue;
      const Json* current_path = findField(*http, "path");
      if (current_path == nullptr || *current_path != path) continue;
      const Json* original = findField(probers, path);
      if (original == nullptr || !original->is_object()) continue;
      for (const char* kind : {"httpGet", "tcpSocket", "grpc"}) {
        if (const Json* handler = findField(*original, kind)) {
          replaceKey(*probe, "httpGet", kind, *handler);
          break;
        }
      }
    }
  });
}

}  // namespace remora::inject
