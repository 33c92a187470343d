#include "proxy/sniffer.h"

#include <string>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace remora::proxy
