// TLS 1.3 mTLS handshake cost: Remora's contexts against the bare OpenSSL
// floor, measured in the same run (PERFORMANCE.md 3.3 and goal 5).
//
// Both ends run on one thread over an in-memory BIO pair, so the figure is
// the CPU cost of a handshake *pair* (client + server) on one core, with
// no network: handshakes per second per core. Both sides use ECDSA P-256
// certificates from one P-256 CA, X25519, and verify each other.
//
//   BM_Floor_*   bare OpenSSL: SSL_CTX with the certificate, key and CA
//                store, SSL_VERIFY_PEER on both sides, the same TLS 1.3
//                suite order and group, the leaf sent alone; nothing else.
//   BM_Remora_*  tls::TlsContext (MtlsServer/MtlsClient): Istio's suites and
//                ALPN, the X509-SVID checks in the verify callback, and the
//                peer's SPIFFE ID read back on both sides.
//
// *_Full is a full handshake, *_Resumed a TLS 1.3 PSK resumption (with
// X25519, as Remora's contexts allow). bench/run.sh prints Remora/floor.
#include <string>

#include <benchmark/benchmark.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/assert.h"
#include "tls/certificate.h"
#include "tls/context.h"
#include "tls/credential.h"
#include "tls/key.h"

namespace {

using namespace remora;       // NOLINT: a .cc file
using namespace remora::tls;  // NOLINT

struct Pki {
  PKeyPtr ca_key;
  X509Ptr ca_cert;
  CertifiedKey server;
  CertifiedKey client;

  Pki() {
    auto root = createRootCa({.organization = "cluster.local", .now = systemClock().now()});
    REMORA_CHECK(root.has_value(), "root");
    ca_key = std::move(root->key);
    ca_cert = std::move(root->certificate);
    server = issue("spiffe://cluster.local/ns/default/sa/httpbin");
    client = issue("spiffe://cluster.local/ns/default/sa/sleep");
  }

  CertifiedKey issue(const char* uri) {
    auto key = generateP256Key();
    auto id = SpiffeId::parse(uri);
    auto cert = issueWorkloadCertificate({ca_cert.get(), ca_key.get()}, key->get(), *id,
                                         systemClock().now(), std::chrono::hours(24));
    REMORA_CHECK(cert.has_value(), "leaf");
    return *CertifiedKey::make(std::move(*key), std::move(*cert), {});
  }

  TrustBundle bundle() const {
    std::vector<X509Ptr> roots;
    roots.push_back(upRef(ca_cert.get()));
    return TrustBundle(std::move(roots));
  }
};

Pki& pki() {
  static Pki p;
  return p;
}

// The floor: what any OpenSSL program needs for a mutually verified TLS 1.3
// handshake with these certificates, and nothing more.
SslCtxPtr floorContext(bool server, const CertifiedKey& cred) {
  SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set1_groups_list(ctx.get(), "X25519");
  // The same TLS 1.3 suite order as Remora (AES-128-GCM first): comparing
  // against OpenSSL's default order would compare SHA-384 with SHA-256.
  SSL_CTX_set_ciphersuites(ctx.get(), std::string(kTls13Ciphersuites).c_str());
  SSL_CTX_use_certificate(ctx.get(), cred.certificate.get());
  SSL_CTX_use_PrivateKey(ctx.get(), cred.key.get());
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, pki().ca_cert.get());
  SSL_CTX_set_cert_store(ctx.get(), store);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                     nullptr);
  if (server) {
    static const unsigned char kId[] = "bench";
    SSL_CTX_set_session_id_context(ctx.get(), kId, sizeof kId - 1);
    SSL_CTX_set_num_tickets(ctx.get(), 1);
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Send the leaf alone, as Remora does: without this OpenSSL rebuilds the
  // chain from the trust store (a verification) on every handshake.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_NO_AUTO_CHAIN);
  return ctx;
}

// Drives both ends to the end of the handshake; then the client reads the
// server's session ticket (TLS 1.3 sends it after the handshake).
void handshake(SSL* client, SSL* server) {
  BIO* cb = nullptr;
  BIO* sb = nullptr;
  BIO_new_bio_pair(&cb, 0, &sb, 0);
  SSL_set_bio(client, cb, cb);
  SSL_set_bio(server, sb, sb);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  bool c_done = false;
  bool s_done = false;
  for (int i = 0; i < 20 && !(c_done && s_done); ++i) {
    if (!c_done) c_done = SSL_do_handshake(client) == 1;
    if (!s_done) s_done = SSL_do_handshake(server) == 1;
  }
  REMORA_CHECK(c_done && s_done, "handshake failed: {}",
               openSslError(Errc::Internal, "bench").message);
  char byte = 'x';
  SSL_write(server, &byte, 1);
  SSL_read(client, &byte, 1);
}

// A connection pair, closed with close_notify: OpenSSL marks the session of
// a connection freed without SSL_shutdown as not resumable.
struct Pair {
  SslPtr client;
  SslPtr server;
  Pair(SslPtr c, SslPtr s) : client(std::move(c)), server(std::move(s)) {}
  Pair(Pair&&) = default;
  ~Pair() {
    if (client) SSL_shutdown(client.get());
    if (server) SSL_shutdown(server.get());
  }
};

template <typename MakePair, typename Check>
void runFull(benchmark::State& state, MakePair make, Check check) {
  for (auto _ : state) {
    Pair p = make();
    handshake(p.client.get(), p.server.get());
    check(p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename MakePair, typename Check>
void runResumed(benchmark::State& state, MakePair make, Check check) {
  SslSessionPtr session;
  {
    Pair p = make();
    handshake(p.client.get(), p.server.get());
    session.reset(SSL_get1_session(p.client.get()));
  }
  for (auto _ : state) {
    Pair p = make();
    SSL_set_session(p.client.get(), session.get());
    handshake(p.client.get(), p.server.get());
    REMORA_CHECK(SSL_session_reused(p.client.get()) == 1, "not resumed");
    check(p);
  }
  state.SetItemsProcessed(state.iterations());
}

auto floorPair() {
  static SslCtxPtr server = floorContext(true, pki().server);
  static SslCtxPtr client = floorContext(false, pki().client);
  return [] { return Pair{SslPtr(SSL_new(client.get())), SslPtr(SSL_new(server.get()))}; };
}

auto remoraPair() {
  static TrustBundle trust = pki().bundle();
  static TlsContextPtr server = *TlsContext::build(
      {.mode = TlsMode::MtlsServer, .alpn = kIstioAlpn, .trust_domains = {"cluster.local"}},
      &pki().server, &trust);
  static TlsContextPtr client = *TlsContext::build(
      {.mode = TlsMode::MtlsClient, .alpn = kIstioAlpn, .trust_domains = {"cluster.local"}},
      &pki().client, &trust);
  return [] { return Pair{*client->newSsl(), *server->newSsl()}; };
}

void floorCheck(const Pair& p) {
  benchmark::DoNotOptimize(SSL_get0_peer_certificate(p.server.get()));
}

void remoraCheck(const Pair& p) {
  auto server_sees = peerIdentity(p.server.get());
  auto client_sees = peerIdentity(p.client.get());
  REMORA_CHECK(server_sees.has_value() && client_sees.has_value(), "no peer identity");
  benchmark::DoNotOptimize(server_sees->trustDomain().data());
}

void BM_Floor_Full(benchmark::State& state) { runFull(state, floorPair(), floorCheck); }
void BM_Remora_Full(benchmark::State& state) {
  state.SetLabel("vs:Floor");
  runFull(state, remoraPair(), remoraCheck);
}
void BM_Floor_Resumed(benchmark::State& state) { runResumed(state, floorPair(), floorCheck); }
void BM_Remora_Resumed(benchmark::State& state) {
  state.SetLabel("vs:Floor");
  runResumed(state, remoraPair(), remoraCheck);
}

}  // namespace

BENCHMARK(BM_Floor_Full)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Remora_Full)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Floor_Resumed)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Remora_Resumed)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
