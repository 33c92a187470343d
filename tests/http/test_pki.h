// Certificates made in the test with OpenSSL's API (not with src/tls, so that
// the http module's tests depend on nothing above core): a CA, a server
// certificate for localhost / 127.0.0.1 and a client certificate, as PEM.
#pragma once

#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

namespace remora::http::testing {

struct TestPki {
  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};

// A fresh CA and leaves. `server_name` goes in the server certificate's CN and
// DNS SAN, with IP SAN 127.0.0.1.
TestPki makeTestPki(const std::string& server_name = "localhost");

// A server context presenting the PKI's server certificate; with
// `require_client_cert`, clients must present one signed by the PKI's CA.
std::shared_ptr<asio::ssl::context> serverContext(const TestPki& pki,
                                                  bool require_client_cert = false);

}  // namespace remora::http::testing
