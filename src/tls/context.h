// TLS contexts: what every Remora TLS endpoint is built from.
//
//   MtlsServer  the proxy's inbound side (15006): presents the workload
//               certificate, requires and verifies the client's (X509-SVID
//               rules, tls/verify.h), ALPN chosen from Istio's list.
//   MtlsClient  the proxy's outbound side: presents the workload
//               certificate, verifies the server's SVID, and with
//               setAllowedPeerIdentities() the server's identity (secure
//               naming).
//   Server      one-way TLS for Remora's own HTTPS servers (CA on 15012,
//               webhook on 15017): presents a certificate, asks for none.
//   Client      one-way TLS to such a server: verifies its chain against
//               the trust bundle and its DNS name or IP (SSL_set1_host).
//
// Every context: TLS 1.2 minimum (1.3 preferred); Istio's TLS 1.2 suites
// (ECDHE-ECDSA/RSA with AES-GCM, then AES128-GCM-SHA256 and
// AES256-GCM-SHA384); groups X25519 then P-256; no renegotiation, no
// compression; stateless session tickets. Server and Client contexts set
// SSL_MODE_RELEASE_BUFFERS (idle connections give their record buffers
// back at once); the mTLS ones do not, since that costs allocations on
// every record: the proxy frees a quiet connection's buffers itself
// (PERFORMANCE.md 3.3).
//
// Ownership and threads: a TlsContext owns one SSL_CTX and never changes
// after build(), so one context serves any number of threads. Each SSL made
// from it holds a reference to the SSL_CTX (and everything the handshake
// needs), so destroying the TlsContext while connections are open is safe:
// that is how rotation leaves open connections untouched.
//
// Two ways to use one:
//   - raw, on the proxy's event loop: newSsl(), then SSL_set_fd or a BIO;
//   - through Asio: asioContext() gives an asio::ssl::context sharing the
//     SSL_CTX, for asio::ssl::stream. Do not call its set_verify_* or
//     use_* methods: they would change the shared SSL_CTX.
//
// Resumption (clients): give the connection a SessionSlot (useSessionSlot):
// it resumes the slot's session, and each session the server sends later
// (TLS 1.3 tickets arrive after the handshake, on a read) replaces it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ssl/context.hpp>

#include "core/result.h"
#include "core/time.h"
#include "tls/credential.h"
#include "tls/openssl.h"
#include "tls/verify.h"

namespace remora::tls {

// Istio's ALPN values for sidecar-to-sidecar TLS, in its order.
inline const std::vector<std::string> kIstioAlpn = {"istio-peer-exchange", "istio-http/1.1",
                                                    "istio-h2", "istio"};
// Istio's TLS 1.2 cipher suites (OpenSSL names), in preference order.
inline constexpr std::string_view kIstioCiphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "AES256-GCM-SHA384:AES128-GCM-SHA256";
inline constexpr std::string_view kTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr std::string_view kGroups = "X25519:P-256";

using TicketKeys = std::array<std::uint8_t, 80>;

enum class TlsMode : std::uint8_t { MtlsServer, MtlsClient, Server, Client };

struct TlsContextOptions {
  TlsMode mode = TlsMode::MtlsServer;
  // ALPN protocols in preference order (a server picks the first of its own
  // list the client offers; none in common is not an error).
  std::vector<std::string> alpn;
  // mTLS modes: the trust domains a peer may belong to.
  std::vector<std::string> trust_domains;
  // Servers: the keys that encrypt session tickets. Contexts that share them
  // resume each other's sessions (a rotation keeps resumption working);
  // nullopt: random keys of this context alone.
  std::optional<TicketKeys> ticket_keys;
  // Servers: TLS 1.3 tickets sent after a full handshake.
  std::uint32_t tickets = 1;
};

class TlsContext;
using TlsContextPtr = std::shared_ptr<const TlsContext>;

class TlsContext {
 public:
  // `credential` is required for every mode but Client (where it is the
  // optional client certificate); `trust` for every mode but Server.
  static Result<TlsContextPtr> build(const TlsContextOptions& options,
                                     const CertifiedKey* credential, const TrustBundle* trust);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_.get(); }
  TlsMode mode() const { return mode_; }
  // A new connection object in the right role (accept or connect state).
  Result<SslPtr> newSsl() const;
  // An Asio context that shares this SSL_CTX (reference-counted).
  asio::ssl::context asioContext() const;
  // The presented certificate's notAfter, when there is one.
  std::optional<SystemTime> certificateExpiry() const { return expiry_; }

 private:
  TlsContext(SslCtxPtr ctx, TlsMode mode, std::optional<SystemTime> expiry)
      : ctx_(std::move(ctx)), mode_(mode), expiry_(expiry) {}

  SslCtxPtr ctx_;
  TlsMode mode_;
  std::optional<SystemTime> expiry_;
};

// Per-connection calls, on the thread that owns the SSL.

// Secure naming for an MtlsClient connection: the server must present one
// of these SPIFFE URIs. Call before the handshake.
Status setAllowedPeerIdentities(SSL* ssl, std::vector<std::string> identities);

// Client session resumption for one upstream (one server identity): a
// connection attached to a slot offers the slot's session and stores the
// sessions it receives there. The slot must outlive every connection
// attached to it; it is used by one thread (the proxy keeps one per worker,
// upstream address and expected identity).
struct SessionSlot {
  SslSessionPtr session;
  std::uint64_t generation = 0;  // the caller's: e.g. the certificate store's
};
Status useSessionSlot(SSL* ssl, SessionSlot* slot);

// The verdict of the peer verification in this connection's handshake, or
// nullptr if none ran (no certificate, or a resumed session).
const PeerVerdict* peerVerdict(const SSL* ssl);

// Why the handshake refused the peer, for counting by reason: the verdict's
// reason, NoCertificate when the peer sent none, nullopt when the peer was
// not refused (or the handshake failed for another reason).
std::optional<PeerFailure> peerFailure(const SSL* ssl);

// The verified peer's SPIFFE ID after a successful mTLS handshake,
// including a resumed one (read from the session's certificate, which was
// verified when the session was made).
Result<SpiffeId> peerIdentity(const SSL* ssl);

// The ALPN protocol agreed on, or "" when none.
std::string_view negotiatedAlpn(const SSL* ssl);

// ALPN protocol names in TLS wire format (length-prefixed, concatenated).
Result<std::string> alpnWireFormat(const std::vector<std::string>& protocols);

}  // namespace remora::tls
