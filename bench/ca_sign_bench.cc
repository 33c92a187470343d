// CA signing throughput: the whole request path of `remora control`'s CA
// (token check, JSON, CSR parse and proof-of-possession, signing, PEM and
// JSON out, issuance log line) against the floor of issuing a certificate
// with bare OpenSSL (build a minimal X.509 and ECDSA-sign it), in the same
// run. Items are certificates.
#include <string>

#include <benchmark/benchmark.h>
#include <openssl/x509.h>

#include "control/authenticator.h"
#include "control/ca.h"
#include "control/ca_service.h"
#include "control/issuance_log.h"
#include "core/assert.h"
#include "core/json.h"
#include "core/log.h"
#include "tls/certificate.h"
#include "tls/csr.h"
#include "tls/key.h"

namespace {

using namespace remora;  // NOLINT: a .cc file

struct Fixture {
  std::unique_ptr<control::CertificateAuthority> ca;
  std::unique_ptr<control::TokenFileAuthenticator> auth;
  std::unique_ptr<control::IssuanceLog> log;
  std::unique_ptr<control::CaService> service;
  tls::PKeyPtr ca_key;
  tls::X509Ptr ca_cert;
  tls::PKeyPtr leaf_key;
  std::string body;

  Fixture() {
    log::setLevel("warn");  // the issuance line is formatted, not printed
    auto root = tls::createRootCa({.organization = "cluster.local", .now = systemClock().now()});
    ca_key = tls::upRef(root->key.get());
    ca_cert = tls::upRef(root->certificate.get());
    std::vector<tls::X509Ptr> roots;
    roots.push_back(tls::upRef(root->certificate.get()));
    auto signer = tls::CertifiedKey::make(std::move(root->key), std::move(root->certificate), {});
    ca = std::move(*control::CertificateAuthority::create(
        {}, std::move(*signer), tls::TrustBundle(std::move(roots)), systemClock()));
    auth = std::move(
        *control::TokenFileAuthenticator::fromText("sleep-token-0123456789 default sleep\n"));
    log = std::make_unique<control::IssuanceLog>(systemClock());
    service = std::make_unique<control::CaService>(*ca, *auth, *log);
    leaf_key = std::move(*tls::generateP256Key());
    auto csr = tls::createCsrPem(leaf_key.get(), {});
    body = dumpJson(Json{{"csr", *csr}});
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_Floor_Sign(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    X509* x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, f.leaf_key.get());
    X509_set_issuer_name(x, X509_get_subject_name(f.ca_cert.get()));
    REMORA_CHECK(X509_sign(x, f.ca_key.get(), EVP_sha256()) > 0, "sign");
    benchmark::DoNotOptimize(x);
    X509_free(x);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Remora_Sign(benchmark::State& state) {
  state.SetLabel("vs:Floor");
  Fixture& f = fixture();
  for (auto _ : state) {
    auto r = f.service->createCertificate("Bearer sleep-token-0123456789", f.body);
    REMORA_CHECK(r.status == 200, "{}", r.body);
    benchmark::DoNotOptimize(r.body.data());
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_Floor_Sign)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Remora_Sign)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
