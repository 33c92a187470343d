// The CA's issuance log: one JSON line per certificate issued or request
// refused, appended to a file (and echoed to the `control` logger).
//
//   {"time":"2025-01-01T00:00:00Z","event":"issued","serial":"5f0c...",
//    "identity":"spiffe://cluster.local/ns/default/sa/sleep","ttlSeconds":86400,
//    "notAfter":"...","ttlClamped":false,"requestedSans":["spiffe://..."],
//    "authenticator":"token-file"}
//   {"time":"...","event":"refused","status":401,"reason":"unknown token",
//    "authenticator":"token-file"}
//
// It answers "was a certificate ever issued for a foreign identity?" by a
// scan (RELIABILITY.md test 14). Each line is one write(2) on an O_APPEND
// descriptor, so lines from concurrent requests never interleave.
//
// Threading: record() may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "control/ca.h"
#include "core/json.h"
#include "core/result.h"
#include "core/time.h"

namespace remora::control {

class IssuanceLog {
 public:
  // Lines go to the logger only.
  explicit IssuanceLog(const Clock& clock) : clock_(clock) {}
  // Lines also go to `path` (created 0640 if missing, appended otherwise).
  static Result<std::unique_ptr<IssuanceLog>> open(const std::string& path, const Clock& clock);
  ~IssuanceLog();
  IssuanceLog(const IssuanceLog&) = delete;
  IssuanceLog& operator=(const IssuanceLog&) = delete;

  void issued(const IssuedCertificate& cert, const std::vector<std::string>& requested_sans,
              std::string_view authenticator);
  void refused(int status, std::string_view reason, std::string_view authenticator);

 private:
  void write(Json line);

  const Clock& clock_;
  int fd_ = -1;
};

}  // namespace remora::control
