#include "tls/context.h"

#include <fmt/format.h>
#include <openssl/err.h>

#include "tls/certificate.h"

namespace remora::tls {

namespace {

// What the callbacks of one SSL_CTX need. Owned by the SSL_CTX through its
// ex_data (freed with it), because SSLs from a retired context still run
// their handshakes after the TlsContext is gone.
struct CtxPolicy {
  VerifyPolicy verify;
  std::string alpn_wire;
};

// Per connection: secure-naming expectations in, the verdict out. Owned by
// the SSL through its ex_data.
struct SslState {
  std::vector<std::string> allowed_identities;
  std::optional<PeerVerdict> verdict;
  SessionSlot* session_slot = nullptr;  // clients: where new sessions go
};

void freeCtxPolicy(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                   void* /*argp*/) {
  delete static_cast<CtxPolicy*>(ptr);
}

void freeSslState(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
  delete static_cast<SslState*>(ptr);
}

int ctxPolicyIndex() {
  static const int index =
      CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, nullptr, nullptr, nullptr, freeCtxPolicy);
  return index;
}

int sslStateIndex() {
  static const int index =
      CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nullptr, nullptr, nullptr, freeSslState);
  return index;
}

const CtxPolicy* policyOf(const SSL_CTX* ctx) {
  return static_cast<const CtxPolicy*>(SSL_CTX_get_ex_data(ctx, ctxPolicyIndex()));
}

SslState* stateOf(const SSL* ssl) {
  return static_cast<SslState*>(SSL_get_ex_data(ssl, sslStateIndex()));
}

SslState* ensureState(SSL* ssl) {
  if (SslState* state = stateOf(ssl)) return state;
  auto state = std::make_unique<SslState>();
  if (SSL_set_ex_data(ssl, sslStateIndex(), state.get()) != 1) return nullptr;
  return state.release();
}

// A client connection received a session (a TLS 1.3 ticket, after the
// handshake): its slot keeps a copy. A copy, because OpenSSL marks the
// connection's own session not resumable if that connection is later freed
// without close_notify, which would spoil the slot's.
int keepNewSession(SSL* ssl, SSL_SESSION* session) {
  SslState* state = stateOf(ssl);
  if (state == nullptr || state->session_slot == nullptr) return 0;
  if (SslSessionPtr copy(SSL_SESSION_dup(session)); copy && SSL_SESSION_is_resumable(copy.get())) {
    state->session_slot->session = std::move(copy);
  }
  return 0;  // OpenSSL keeps (and frees) the original
}

// Replaces X509_verify_cert in the handshake: the chain first, then the
// X509-SVID rules on the leaf, with the verdict kept for peerFailure().
int verifyPeerCallback(X509_STORE_CTX* store_ctx, void* arg) {
  const auto* policy = static_cast<const CtxPolicy*>(arg);
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  SslState* state = ssl != nullptr ? ensureState(ssl) : nullptr;
  if (state == nullptr) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_OUT_OF_MEM);
    return 0;
  }
  if (X509_verify_cert(store_ctx) != 1) {
    state->verdict =
        chainFailure(X509_STORE_CTX_get0_cert(store_ctx), X509_STORE_CTX_get_error(store_ctx),
                     X509_STORE_CTX_get_error_depth(store_ctx), policy->verify);
    return 0;
  }
  state->verdict =
      checkSvidLeaf(X509_STORE_CTX_get0_cert(store_ctx), policy->verify, state->allowed_identities);
  if (!state->verdict->ok()) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  return 1;
}

int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  const std::string& ours = static_cast<const CtxPolicy*>(arg)->alpn_wire;
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  if (ours.empty() || SSL_select_next_proto(&selected, &selected_len,
                                            reinterpret_cast<const unsigned char*>(ours.data()),
                                            static_cast<unsigned int>(ours.size()), in,
                                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: carry on without ALPN
  }
  *out = selected;
  *outlen = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

bool isServer(TlsMode mode) { return mode == TlsMode::MtlsServer || mode == TlsMode::Server; }
bool isMtls(TlsMode mode) { return mode == TlsMode::MtlsServer || mode == TlsMode::MtlsClient; }

Status useCredential(SSL_CTX* ctx, const CertifiedKey& credential) {
  if (SSL_CTX_use_certificate(ctx, credential.certificate.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, credential.key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return openSslError(Errc::InvalidArgument, "installing the certificate and key");
  }
  for (const auto& cert : credential.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, cert.get()) != 1) {
      return openSslError(Errc::InvalidArgument, "installing the certificate chain");
    }
  }
  return ok();
}

}  // namespace

Result<std::string> alpnWireFormat(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) {
      return Error{Errc::InvalidArgument,
                   fmt::format("ALPN protocol \"{}\" must be 1 to 255 bytes", p.substr(0, 64))};
    }
    wire += static_cast<char>(p.size());
    wire += p;
  }
  if (wire.size() > 65535) return Error{Errc::InvalidArgument, "ALPN list too long"};
  return wire;
}

Result<TlsContextPtr> TlsContext::build(const TlsContextOptions& options,
                                        const CertifiedKey* credential, const TrustBundle* trust) {
  const TlsMode mode = options.mode;
  if (mode != TlsMode::Client && (credential == nullptr || !credential->key)) {
    return Error{Errc::InvalidArgument, "this TLS context needs a certificate and key"};
  }
  if (mode != TlsMode::Server && (trust == nullptr || trust->empty())) {
    return Error{Errc::InvalidArgument, "this TLS context needs a trust bundle"};
  }
  if (isMtls(mode) && options.trust_domains.empty()) {
    return Error{Errc::InvalidArgument, "an mTLS context needs at least one trust domain"};
  }
  REMORA_ASSIGN_OR_RETURN(std::string alpn_wire, alpnWireFormat(options.alpn));

  clearOpenSslErrors();
  SslCtxPtr ctx(SSL_CTX_new(isServer(mode) ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return openSslError(Errc::Internal, "creating an SSL_CTX");
  SSL_CTX* c = ctx.get();

  auto policy = std::make_unique<CtxPolicy>();
  policy->verify.peer_role = isServer(mode) ? PeerRole::Client : PeerRole::Server;
  policy->verify.trust_domains = options.trust_domains;
  policy->alpn_wire = alpn_wire;
  if (SSL_CTX_set_ex_data(c, ctxPolicyIndex(), policy.get()) != 1) {
    return openSslError(Errc::Internal, "attaching the context policy");
  }
  CtxPolicy* p = policy.release();  // the SSL_CTX owns it now

  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(c, std::string(kIstioCiphers).c_str()) != 1 ||
      SSL_CTX_set_ciphersuites(c, std::string(kTls13Ciphersuites).c_str()) != 1 ||
      SSL_CTX_set1_groups_list(c, std::string(kGroups).c_str()) != 1) {
    return openSslError(Errc::Internal, "setting protocol versions, ciphers and groups");
  }
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Our chain is sent as configured: no root pulled from the trust store.
  // Remora's own HTTPS servers and clients let OpenSSL free a connection's
  // record buffers (about 34 KiB) whenever they are empty. The sidecars'
  // mTLS connections do not: that costs a malloc and a free per record on
  // every request (6 per request through a pair, counted by
  // tests/proxy/hot_path_component_test.cc); the proxy frees a quiet
  // connection's buffers on its idle-memory check instead
  // (Stream::releaseIdleTlsBuffers).
  const bool mtls = mode == TlsMode::MtlsServer || mode == TlsMode::MtlsClient;
  SSL_CTX_set_mode(c, SSL_MODE_NO_AUTO_CHAIN | (mtls ? 0 : SSL_MODE_RELEASE_BUFFERS));
  // And they read ahead: one recv(2) takes what the socket holds, where
  // OpenSSL otherwise reads each record's 5-byte header and its body apart
  // (two recv(2) per record). The proxy always calls SSL_read before
  // waiting on the socket, so bytes buffered ahead are never left waiting,
  // and a pooled connection with bytes buffered is retired
  // (UpstreamConn::usable).
  if (mtls) SSL_CTX_set_read_ahead(c, 1);
  // Resumption is by stateless tickets (servers keep no cache); clients keep
  // sessions themselves, per upstream, in the SessionSlot a connection names.
  if (isServer(mode)) {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, keepNewSession);
  }

  if (credential != nullptr && credential->key) REMORA_TRY(useCredential(c, *credential));

  if (trust != nullptr && !trust->empty()) {
    REMORA_ASSIGN_OR_RETURN(X509StorePtr store, trust->newStore());
    SSL_CTX_set_cert_store(c, store.release());  // the SSL_CTX owns it now
    SSL_CTX_set_verify_depth(c, 4);
  }

  switch (mode) {
    case TlsMode::MtlsServer:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      SSL_CTX_set_cert_verify_callback(c, verifyPeerCallback, p);
      break;
    case TlsMode::MtlsClient:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
      SSL_CTX_set_cert_verify_callback(c, verifyPeerCallback, p);
      break;
    case TlsMode::Server: SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr); break;
    case TlsMode::Client: SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr); break;
  }

  if (isServer(mode)) {
    static constexpr unsigned char kSessionContext[] = "remora";
    SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
    if (!alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(c, selectAlpn, p);
    SSL_CTX_set_num_tickets(c, options.tickets);
    if (options.ticket_keys) {
      auto keys = *options.ticket_keys;
      if (SSL_CTX_set_tlsext_ticket_keys(c, keys.data(), static_cast<long>(keys.size())) != 1) {
        return openSslError(Errc::Internal, "setting the session ticket keys");
      }
    }
  } else if (!alpn_wire.empty()) {
    // SSL_CTX_set_alpn_protos returns 0 on success.
    if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                                static_cast<unsigned int>(alpn_wire.size())) != 0) {
      return openSslError(Errc::Internal, "setting the ALPN protocols");
    }
  }

  std::optional<SystemTime> expiry;
  if (credential != nullptr && credential->certificate) {
    expiry = certificateNotAfter(credential->certificate.get());
  }
  return TlsContextPtr(new TlsContext(std::move(ctx), mode, expiry));
}

TlsContext::~TlsContext() = default;

Result<SslPtr> TlsContext::newSsl() const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) return openSslError(Errc::Internal, "creating an SSL connection");
  if (isServer(mode_)) {
    SSL_set_accept_state(ssl.get());
  } else {
    SSL_set_connect_state(ssl.get());
  }
  return ssl;
}

asio::ssl::context TlsContext::asioContext() const {
  return asio::ssl::context(upRef(ctx_.get()).release());
}

Status setAllowedPeerIdentities(SSL* ssl, std::vector<std::string> identities) {
  SslState* state = ensureState(ssl);
  if (state == nullptr) return openSslError(Errc::Internal, "attaching connection state");
  state->allowed_identities = std::move(identities);
  return ok();
}

Status useSessionSlot(SSL* ssl, SessionSlot* slot) {
  SslState* state = ensureState(ssl);
  if (state == nullptr) return openSslError(Errc::Internal, "attaching connection state");
  state->session_slot = slot;
  if (slot->session && SSL_set_session(ssl, slot->session.get()) != 1) {
    slot->session.reset();  // not for this context: a full handshake, and a new session
  }
  return ok();
}

const PeerVerdict* peerVerdict(const SSL* ssl) {
  const SslState* state = stateOf(ssl);
  return state != nullptr && state->verdict ? &*state->verdict : nullptr;
}

std::optional<PeerFailure> peerFailure(const SSL* ssl) {
  if (const PeerVerdict* verdict = peerVerdict(ssl)) {
    if (!verdict->ok()) return verdict->reason();
    return std::nullopt;
  }
  unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
      (ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
       ERR_GET_REASON(err) == SSL_R_NO_CERTIFICATES_RETURNED)) {
    return PeerFailure::NoCertificate;
  }
  return std::nullopt;
}

Result<SpiffeId> peerIdentity(const SSL* ssl) {
  if (const PeerVerdict* verdict = peerVerdict(ssl)) {
    if (verdict->ok()) return verdict->identity();
    return verdict->toError();
  }
  X509* peer = SSL_get0_peer_certificate(ssl);
  const CtxPolicy* policy = policyOf(SSL_get_SSL_CTX(ssl));
  if (peer == nullptr || policy == nullptr || !SSL_session_reused(ssl)) {
    return Error{Errc::Unauthenticated, "the peer presented no verified certificate"};
  }
  // A resumed session: its certificate was verified in the full handshake
  // that made the session; the leaf rules (and secure naming) are cheap to
  // apply again.
  const SslState* state = stateOf(ssl);
  static const std::vector<std::string> kAny;
  PeerVerdict verdict =
      checkSvidLeaf(peer, policy->verify, state != nullptr ? state->allowed_identities : kAny);
  if (!verdict.ok()) return verdict.toError();
  return verdict.identity();
}

std::string_view negotiatedAlpn(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data == nullptr ? std::string_view{}
                         : std::string_view(reinterpret_cast<const char*>(data), len);
}

}  // namespace remora::tls
