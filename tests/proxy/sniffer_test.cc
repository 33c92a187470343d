#include "proxy/sniffer.h"

#include <string>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "tls/openssl.h"

namespace remora::proxy {
namespace {

struct Case {
  const char* name;
  std::string bytes;
  Detected want;
};

class SnifferTest : public ::testing::TestWithParam<Case> {};

TEST_P(SnifferTest, Detects) { EXPECT_EQ(detect(GetParam().bytes), GetParam().want); }

const Case kCases[] = {
    {"empty", "", Detected::NeedMore},
    {"get", "GET / HTTP/1.1\r\n", Detected::Http1},
    {"get_prefix", "GE", Detected::NeedMore},
    {"get_no_space", "GET", Detected::NeedMore},
    {"post", "POST /x HTTP/1.0\r\n", Detected::Http1},
    {"options", "OPTIONS * HTTP/1.1\r\n", Detected::Http1},
    {"connect", "CONNECT a:443 HTTP/1.1\r\n", Detected::Http1},
    {"lowercase_get", "get / HTTP/1.1\r\n", Detected::Opaque},
    {"getx", "GETX / HTTP/1.1\r\n", Detected::Opaque},
    {"h2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Detected::Opaque},
    {"p_prefix", "P", Detected::NeedMore},
    {"tls_hello", std::string("\x16\x03\x01\x02\x00\x01", 6), Detected::Tls},
    {"tls_short", std::string("\x16\x03", 2), Detected::NeedMore},
    {"tls_bad_version", std::string("\x16\x02\x01", 3), Detected::Opaque},
    {"mysql_client", std::string("\x20\x00\x00\x01", 4), Detected::Opaque},
    {"redis", "*1\r\n$4\r\nPING\r\n", Detected::Opaque},
    {"nul", std::string("\0", 1), Detected::Opaque},
};

INSTANTIATE_TEST_SUITE_P(All, SnifferTest, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// A real ClientHello, as OpenSSL writes it, offering `alpn` (wire format)
// and naming `sni`.
std::string realHello(std::string_view alpn_wire, const char* sni) {
  tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!alpn_wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                            static_cast<unsigned>(alpn_wire.size()));
  }
  tls::SslPtr ssl(SSL_new(ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  if (sni != nullptr) SSL_set_tlsext_host_name(ssl.get(), sni);
  SSL_set_connect_state(ssl.get());
  (void)SSL_do_handshake(ssl.get());  // wants the server's answer: the hello is out
  char* bytes = nullptr;
  long n = BIO_get_mem_data(out, &bytes);
  return std::string(bytes, static_cast<std::size_t>(n));
}

TEST(ClientHello, IstioHttpAlpnAndServerName) {
  std::string hello =
      realHello(std::string_view("\x0eistio-http/1.1\x05istio", 21), "web.shop.svc.cluster.local");
  ClientHello h;
  ASSERT_EQ(parseClientHello(hello, h), HelloParse::Ok);
  ASSERT_EQ(h.alpn_count, 2U);
  EXPECT_EQ(h.alpn[0], "istio-http/1.1");
  EXPECT_EQ(h.alpn[1], "istio");
  EXPECT_EQ(h.server_name, "web.shop.svc.cluster.local");
  EXPECT_TRUE(h.offersIstio());
}

TEST(ClientHello, BrowserAlpnIsNotIstio) {
  std::string hello = realHello(std::string_view("\x02h2\x08http/1.1", 12), "example.com");
  ClientHello h;
  ASSERT_EQ(parseClientHello(hello, h), HelloParse::Ok);
  EXPECT_EQ(h.alpn_count, 2U);
  EXPECT_FALSE(h.offersIstio());
  ClientHello none;
  ASSERT_EQ(parseClientHello(realHello("", nullptr), none), HelloParse::Ok);
  EXPECT_EQ(none.alpn_count, 0U);
  EXPECT_FALSE(none.offersIstio());
}

// A hello arriving a few bytes at a time is never misjudged on the way.
TEST(ClientHello, EveryPrefixNeedsMore) {
  std::string hello = realHello(std::string_view("\x05istio", 6), nullptr);
  ClientHello h;
  for (std::size_t n = 0; n < hello.size(); ++n) {
    ASSERT_EQ(parseClientHello(std::string_view(hello).substr(0, n), h), HelloParse::NeedMore)
        << n << " of " << hello.size();
  }
  EXPECT_EQ(parseClientHello(hello, h), HelloParse::Ok);
}

TEST(ClientHello, HostileHellosAreInvalidNotOverread) {
  std::string hello = realHello(std::string_view("\x05istio", 6), nullptr);
  ClientHello h;
  EXPECT_EQ(parseClientHello("GET / HTTP/1.1\r\n", h), HelloParse::Invalid);
  // A handshake message that is not a ClientHello (a ServerHello: type 2).
  std::string server_hello = hello;
  server_hello[5] = 2;
  EXPECT_EQ(parseClientHello(server_hello, h), HelloParse::Invalid);
  // The hello's length claims more than its record holds.
  std::string long_claim = hello;
  long_claim[7] = static_cast<char>(0xff);
  EXPECT_EQ(parseClientHello(long_claim, h), HelloParse::Invalid);
  // A record longer than TLS allows.
  std::string huge = hello;
  huge[3] = static_cast<char>(0x48);
  EXPECT_EQ(parseClientHello(huge, h), HelloParse::Invalid);
  // An ALPN list whose length runs past its extension: find "istio" and
  // corrupt the name's length byte before it.
  std::string bad_alpn = hello;
  auto at = bad_alpn.find("istio");
  ASSERT_NE(at, std::string::npos);
  bad_alpn[at - 1] = 0x40;
  EXPECT_EQ(parseClientHello(bad_alpn, h), HelloParse::Invalid);
}

}  // namespace
}  // namespace remora::proxy
