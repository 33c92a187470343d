// The CA's request handler with arbitrary requests, as Istio's
// tests/fuzz/ca_server_fuzzer.go drives CreateCertificate. Input: the
// Authorization header value, a newline, then the body.
//
// Oracles: every response is JSON with a status the API documents; a 200
// carries a certificate whose only URI SAN is the identity the token maps
// to, whatever the CSR asked for; anything else carries no certificate.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "control/authenticator.h"
#include "control/ca.h"
#include "control/ca_service.h"
#include "control/issuance_log.h"
#include "core/assert.h"
#include "core/json.h"
#include "core/log.h"
#include "tls/certificate.h"
#include "tls/pem.h"

namespace {

using namespace remora;           // NOLINT: a .cc file
using namespace remora::control;  // NOLINT

struct Fixture {
  ManualClock clock;
  std::unique_ptr<CertificateAuthority> ca;
  std::unique_ptr<TokenFileAuthenticator> auth;
  std::unique_ptr<IssuanceLog> log;
  std::unique_ptr<CaService> service;

  Fixture() {
    log::setLevel("off");
    auto root = tls::createRootCa({.organization = "cluster.local", .now = clock.now()});
    REMORA_CHECK(root.has_value(), "root");
    std::vector<tls::X509Ptr> roots;
    roots.push_back(tls::upRef(root->certificate.get()));
    auto signer = tls::CertifiedKey::make(std::move(root->key), std::move(root->certificate), {});
    REMORA_CHECK(signer.has_value(), "signer");
    auto made = CertificateAuthority::create({}, std::move(*signer),
                                             tls::TrustBundle(std::move(roots)), clock);
    REMORA_CHECK(made.has_value(), "{}", made.error().message);
    ca = std::move(*made);
    auth = std::move(TokenFileAuthenticator::fromText("sleep-token-0123456789 default sleep\n"
                                                      "httpbin-token-0123456789 prod httpbin\n"))
               .value();
    log = std::make_unique<IssuanceLog>(clock);
    service = std::make_unique<CaService>(*ca, *auth, *log);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t eol = input.find('\n');
  std::string_view authorization = input.substr(0, eol);
  std::string_view body =
      eol == std::string_view::npos ? std::string_view{} : input.substr(eol + 1);

  CaHttpResponse r = f.service->createCertificate(authorization, body);
  auto doc = parseJson(r.body);
  REMORA_CHECK(doc.has_value() && doc->is_object(), "response is not a JSON object: {}", r.body);
  if (r.status != 200) {
    REMORA_CHECK(r.status == 400 || r.status == 401 || r.status == 413 || r.status == 503,
                 "undocumented status {}", r.status);
    REMORA_CHECK(!doc->contains("certChain"), "a refusal carries a certificate");
    return 0;
  }
  auto caller = f.auth->authenticate(*bearerToken(authorization));
  REMORA_CHECK(caller.has_value(), "issued without a valid token");
  std::string expected =
      "spiffe://cluster.local/ns/" + caller->ns + "/sa/" + caller->service_account;
  auto leaf = tls::readCertificatePem((*doc)["certChain"][0].get<std::string>());
  REMORA_CHECK(leaf.has_value(), "issued certificate does not parse");
  auto info = tls::describeCertificate(leaf->get());
  REMORA_CHECK(info.has_value() && info->uri_sans.size() == 1 && info->uri_sans[0] == expected,
               "issued for a foreign identity");
  REMORA_CHECK(info->dns_sans.empty() && !info->is_ca, "issued more than a workload certificate");
  return 0;
}
