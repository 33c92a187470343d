// Images are not pulled: each container's image names a program that exists
// on this machine. The mapping (the repository's last path component, tag
// and registry ignored):
//
//   image                          no `command` in the spec     with `command`
//   ghcr.io/remora-mesh/remora     this remora binary + args    command + args
//   nginx                          nginx serving 200 on each     command + args
//                                  declared TCP port (80 when
//                                  none), config generated
//   curl, curlimages/curl          curl + args                  command + args
//   python, python3                python3 + args               command + args
//   busybox, alpine, debian,       /bin/sh + args               command + args
//   ubuntu
//   anything else                  an error: give a command     command + args
//
// A command's program is looked up on this machine's PATH (an absolute path
// is used as it is); a program that does not exist is an error before
// anything starts.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "local/plan.h"

namespace remora::local {

enum class AppKind : std::uint8_t {
  Remora,   // the remora binary
  Nginx,    // nginx with a generated config (only without a command)
  Command,  // argv as given
};

struct AppCommand {
  AppKind kind = AppKind::Command;
  std::vector<std::string> argv;  // argv[0] resolved to a path; for Nginx, filled by the runner
  std::string mapping;            // how the image was mapped, for `up`'s report
};

// The image's short name: "ghcr.io/remora-mesh/remora:0.1.0" -> "remora",
// "curlimages/curl@sha256:..." -> "curl".
std::string imageName(std::string_view image);

// Looks `program` up the way execvp would (PATH, or as is when it has a
// '/'); "" when not found or not executable.
std::string findProgram(std::string_view program);

// The local command of `container`. `remora_path` is this binary.
Result<AppCommand> mapContainer(const Container& container, const std::string& remora_path);

// The nginx config of an app container: serves `200 hello from <pod>` on
// each port, logs and temporary files under `dir`, no daemon, one process.
std::string nginxConfig(const Pod& pod, const Container& container, const std::string& dir);

}  // namespace remora::local
