#include "control/issuance_log.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "core/log.h"

namespace remora::control {

Result<std::unique_ptr<IssuanceLog>> IssuanceLog::open(const std::string& path,
                                                       const Clock& clock) {
  auto log = std::make_unique<IssuanceLog>(clock);
  log->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log->fd_ < 0) {
    return Error{Errc::Io,
                 fmt::format("cannot open issuance log {}: {}", path, std::strerror(errno))};
  }
  return log;
}

IssuanceLog::~IssuanceLog() {
  if (fd_ >= 0) ::close(fd_);
}

void IssuanceLog::issued(const IssuedCertificate& cert,
                         const std::vector<std::string>& requested_sans,
                         std::string_view authenticator) {
  Json sans = Json::array();
  for (const auto& san : requested_sans) sans.push_back(san.substr(0, 512));
  write({{"time", formatRfc3339(clock_.now())},
         {"event", "issued"},
         {"serial", cert.serial_hex},
         {"identity", cert.identity.uri()},
         {"ttlSeconds", cert.ttl.count()},
         {"notAfter", formatRfc3339(cert.not_after)},
         {"ttlClamped", cert.ttl_clamped},
         {"requestedSans", std::move(sans)},
         {"authenticator", std::string(authenticator)}});
}

void IssuanceLog::refused(int status, std::string_view reason, std::string_view authenticator) {
  write({{"time", formatRfc3339(clock_.now())},
         {"event", "refused"},
         {"status", status},
         {"reason", std::string(reason.substr(0, 512))},
         {"authenticator", std::string(authenticator)}});
}

void IssuanceLog::write(Json line) {
  std::string text = dumpJson(line);
  REMORA_LOG(control, info, "ca: {}", text);
  if (fd_ < 0) return;
  text += '\n';
  // One write: O_APPEND makes it atomic with respect to other writers.
  ssize_t n = ::write(fd_, text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) {
    REMORA_LOG(control, err, "issuance log write failed: {}",
               n < 0 ? std::strerror(errno) : "short write");
  }
}

}  // namespace remora::control
