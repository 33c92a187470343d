// `remora init --run-validation`: proves that redirection works in this
// namespace, or says precisely why not.
//
// Checks, in order, each failing with its own message:
//   1. CAP_NET_ADMIN is in the effective set (hasNetAdmin), without which no
//      backend can change a rule;
//   2. the backend's tools are in PATH;
//   3. our rules are there (the chains and the jumps to them);
//   4. a live probe: a listener on the loopback address of the outbound
//      capture port (the address REDIRECT sends local traffic to), and a TCP
//      connection from this process to an address the rules must capture.
//      The listener must accept it with SO_ORIGINAL_DST equal to where the
//      connection was going. The probe address is a TEST-NET one (RFC 5737,
//      RFC 3849) inside the captured ranges and outside the excluded ones, so
//      a SYN that escapes capture goes nowhere real.
// The probe needs the capture port free (run it before the proxy starts) and
// a UID and GID outside the proxy's, which are exempt by design.
//
// Threading: blocking, one thread; at most `timeout_ms` per probe.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"
#include "netfilter/applier.h"
#include "netfilter/capture.h"
#include "netfilter/config.h"

namespace remora::netfilter {

struct ValidationOptions {
  std::uint16_t probe_port = 15002;  // --iptables-probe-port, Istio's default
  std::uint32_t timeout_ms = 5000;   // --probe-timeout
};

// Whether the effective capability set holds CAP_NET_ADMIN (/proc/self/status).
bool hasNetAdmin();

// Runs the checks above for `config` on `backend` (already resolved). On
// success returns a one-line summary per family probed.
Result<std::string> validateCapture(Applier& applier, const CaptureConfig& config, Backend backend,
                                    const ValidationOptions& options);

// The address the live probe connects to for `family`, or an error when the
// configuration captures nothing of that family outbound. Exposed for tests.
Result<Cidr> probeAddress(const CaptureConfig& config, Family family);

}  // namespace remora::netfilter
