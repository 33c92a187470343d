// Peer certificates under the X509-SVID rules (spiffe/spiffe
// standards/X509-SVID.md), as the mTLS contexts apply them in every
// handshake and as anyone can apply them to a chain at hand.
//
// A peer is accepted when, in this order:
//   1. its chain verifies to one of the trusted roots at the given time
//      (UntrustedChain, Expired, NotYetValid; the peer's extendedKeyUsage
//      must allow its role: ExtendedKeyUsage);
//   2. the leaf is not a CA (LeafIsCa) and its keyUsage has
//      digitalSignature and neither keyCertSign nor cRLSign (KeyUsage);
//   3. the leaf has an extendedKeyUsage extension naming the peer's role,
//      clientAuth for a client and serverAuth for a server (ExtendedKeyUsage);
//   4. it has exactly one URI SAN (NoUriSan, MultipleUriSans), which is a
//      valid SPIFFE ID (InvalidSpiffeId: NUL bytes, bad characters, ...);
//   5. the ID's trust domain is one we accept (WrongTrustDomain);
//   6. when the caller named the identities it expects (secure naming),
//      the ID is one of them (IdentityNotAllowed).
// The verdict is the peer's SPIFFE ID or the first failed rule, a
// PeerFailure with stable names for metric labels.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "tls/openssl.h"
#include "tls/spiffe.h"

namespace remora::tls {

enum class PeerFailure : std::uint8_t {
  NoCertificate,
  UntrustedChain,
  Expired,
  NotYetValid,
  LeafIsCa,
  KeyUsage,
  ExtendedKeyUsage,
  NoUriSan,
  MultipleUriSans,
  InvalidSpiffeId,
  WrongTrustDomain,
  IdentityNotAllowed,
  Malformed,
};
inline constexpr std::size_t kPeerFailureCount = 13;

// "untrusted_chain", "expired", ...: stable, for metric labels and logs.
std::string_view peerFailureName(PeerFailure failure);

// Which side the peer being verified plays in the handshake.
enum class PeerRole : std::uint8_t { Client, Server };

struct PeerRejection {
  PeerFailure reason;
  std::string detail;
};

// The peer's identity, or why it was refused.
class PeerVerdict {
 public:
  static PeerVerdict accept(SpiffeId id) { return PeerVerdict(std::move(id)); }
  static PeerVerdict reject(PeerFailure reason, std::string detail) {
    return PeerVerdict(PeerRejection{reason, std::move(detail)});
  }
  bool ok() const { return std::holds_alternative<SpiffeId>(value_); }
  const SpiffeId& identity() const { return std::get<SpiffeId>(value_); }
  const PeerRejection& rejection() const { return std::get<PeerRejection>(value_); }
  PeerFailure reason() const { return rejection().reason; }
  // PermissionDenied "peer certificate refused (<name>): <detail>".
  Error toError() const;

 private:
  explicit PeerVerdict(SpiffeId id) : value_(std::move(id)) {}
  explicit PeerVerdict(PeerRejection r) : value_(std::move(r)) {}
  std::variant<SpiffeId, PeerRejection> value_;
};

struct VerifyPolicy {
  PeerRole peer_role = PeerRole::Client;
  // Trust domains a peer may belong to (normally just ours). Never empty.
  std::vector<std::string> trust_domains;
  // Secure naming: SPIFFE URIs the peer must have one of; empty = any.
  std::vector<std::string> allowed_identities;
};

// Rules 2-6 on a leaf whose chain has already been verified.
PeerVerdict checkSvidLeaf(X509* leaf, const VerifyPolicy& policy,
                          std::span<const std::string> allowed_identities);

// All rules: `leaf` with `intermediates` against `roots`, at `at` (now when
// nullopt). Thread-safe if `roots` is not modified meanwhile.
PeerVerdict verifyPeerChain(X509* leaf, std::span<X509* const> intermediates, X509_STORE* roots,
                            const VerifyPolicy& policy,
                            std::optional<SystemTime> at = std::nullopt);

// The PeerFailure for an X509_V_ERR_* code from chain verification.
PeerFailure failureFromX509Error(int x509_error);

// The verdict for a chain that failed verification with `x509_error` at
// `depth`: refined by the leaf rules when OpenSSL's purpose check failed
// on the leaf (so a missing digitalSignature is counted as KeyUsage).
PeerVerdict chainFailure(X509* leaf, int x509_error, int depth, const VerifyPolicy& policy);

}  // namespace remora::tls
