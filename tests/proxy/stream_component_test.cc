// Stream over mTLS on 127.0.0.1, both ends in one event loop: the sidecars'
// contexts (read-ahead on), workload certificates from a test CA. The read
// path under test: while OpenSSL holds nothing, asio reads the ciphertext
// into the caller's buffer and OpenSSL decrypts it there; with a partial
// record held, OpenSSL reads the socket itself. Whatever the sizes of the
// records and of the reader's buffer, every byte arrives once and in
// order, and the end of the stream is told apart from a failure as before.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "proxy/stream.h"
#include "tests/tls/pki.h"

namespace remora::proxy {
namespace {

namespace pki = remora::tls::testing;
using asio::ip::tcp;

constexpr const char* kSleep = "spiffe://cluster.local/ns/default/sa/sleep";
constexpr const char* kWeb = "spiffe://cluster.local/ns/default/sa/web";

std::string pattern(std::size_t size, unsigned seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client_socket(io_);
    client_socket.connect(acceptor.local_endpoint());
    tcp::socket server_socket = acceptor.accept();
    raw_client_fd_ = client_socket.native_handle();

    auto root = pki::newRoot();
    auto trust = root.bundle();
    auto client_cred = pki::workload(root, kSleep);
    auto server_cred = pki::workload(root, kWeb);
    auto client_ctx = pki::context(tls::TlsMode::MtlsClient, &client_cred, &trust);
    auto server_ctx = pki::context(tls::TlsMode::MtlsServer, &server_cred, &trust);

    client_ = std::make_unique<Stream>(std::move(client_socket));
    server_ = std::make_unique<Stream>(std::move(server_socket));
    client_->startTls(pki::newSsl(*client_ctx));
    server_->startTls(pki::newSsl(*server_ctx));
    ASSERT_EQ(SSL_get_read_ahead(server_->ssl()), 1) << "the sidecars' contexts read ahead";
    std::error_code client_ec = asio::error::would_block;
    std::error_code server_ec = asio::error::would_block;
    client_->asyncHandshake([&](std::error_code ec) { client_ec = ec; });
    server_->asyncHandshake([&](std::error_code ec) { server_ec = ec; });
    io_.run();
    io_.restart();
    ASSERT_FALSE(client_ec) << client_ec.message();
    ASSERT_FALSE(server_ec) << server_ec.message();
  }

  // Reads from `s` with a buffer of `buffer_size` until EOF or an error;
  // returns what arrived and the error that ended it.
  struct Received {
    std::string bytes;
    std::error_code end;
  };
  void readAll(Stream& s, std::size_t buffer_size, Received& into) {
    buffer_.assign(buffer_size, '\0');
    next_read_ = [this, &s, &into] {
      s.asyncReadSome(asio::buffer(buffer_), [this, &into](std::error_code ec, std::size_t n) {
        if (ec) {
          into.end = ec;
          return;
        }
        EXPECT_GT(n, 0U);
        into.bytes.append(buffer_.data(), n);
        next_read_();
      });
    };
    next_read_();
  }

  // Writes `pieces` one after the other, each with one asyncWrite (a record
  // or more each), then `then`.
  void writeAll(Stream& s, const std::vector<std::string>& pieces, std::function<void()> then) {
    auto at = std::make_shared<std::size_t>(0);
    auto step = std::make_shared<std::function<void()>>();
    *step = [&s, &pieces, at, step, then] {
      if (*at == pieces.size()) {
        then();
        *step = nullptr;  // the cycle through the capture ends here
        return;
      }
      const std::string& piece = pieces[(*at)++];
      s.asyncWrite(asio::buffer(piece), [step](std::error_code ec, std::size_t) {
        ASSERT_FALSE(ec) << ec.message();
        (*step)();
      });
    };
    (*step)();
  }

  asio::io_context io_;
  std::unique_ptr<Stream> client_;
  std::unique_ptr<Stream> server_;
  int raw_client_fd_ = -1;
  std::string buffer_;
  std::function<void()> next_read_;
};

// Records of every size around the record limit (16 KiB) and the staged read
// (16 KiB), read with the proxy's 16 KiB buffer and with a tiny one, where
// decrypted bytes stay behind in OpenSSL between reads.
TEST_F(StreamTest, EveryByteArrivesOnceAndInOrderWhateverTheSizes) {
  std::vector<std::string> pieces;
  unsigned seed = 0;
  for (std::size_t size : {1UL, 5UL, 100UL, 1000UL, 16383UL, 16384UL, 16385UL, 16406UL, 32768UL,
                           40000UL, 100000UL, 3UL, 65536UL}) {
    pieces.push_back(pattern(size, seed++));
  }
  std::string expected;
  for (const auto& p : pieces) expected += p;

  for (std::size_t buffer_size : {16UL * 1024, 7UL}) {
    SCOPED_TRACE(buffer_size);
    if (buffer_size != 16UL * 1024) SetUp();  // a fresh connection
    Received got;
    readAll(*server_, buffer_size, got);
    writeAll(*client_, pieces, [&] { client_->shutdownSend(); });
    io_.run();
    io_.restart();
    EXPECT_EQ(got.end, asio::error::eof) << got.end.message();
    EXPECT_EQ(got.bytes.size(), expected.size());
    EXPECT_TRUE(got.bytes == expected) << "the bytes differ";
  }
}

// Request and response in turn on one connection, as keep-alive does: the
// reader waits on an empty socket each time (the path that reads through
// asio), in both directions.
TEST_F(StreamTest, PingPongInBothDirectionsKeepsEveryMessage) {
  constexpr int kRounds = 200;
  std::vector<char> server_buf(16 * 1024);
  std::vector<char> client_buf(16 * 1024);
  std::string request = pattern(700, 1);
  std::string response = pattern(1600, 2);
  int rounds = 0;
  std::string got_request;
  std::string got_response;
  std::function<void()> serve;
  std::function<void()> ask;
  std::function<void()> read_response;
  serve = [&] {
    server_->asyncReadSome(asio::buffer(server_buf), [&](std::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted && rounds == kRounds) return;  // closed at the end
      ASSERT_FALSE(ec) << ec.message();
      got_request.append(server_buf.data(), n);
      if (got_request.size() < request.size()) return serve();
      ASSERT_TRUE(got_request == request) << "round " << rounds;
      got_request.clear();
      server_->asyncWrite(asio::buffer(response), [&](std::error_code wec, std::size_t) {
        ASSERT_FALSE(wec) << wec.message();
        serve();
      });
    });
  };
  ask = [&] {
    client_->asyncWrite(asio::buffer(request), [&](std::error_code ec, std::size_t) {
      ASSERT_FALSE(ec) << ec.message();
      read_response = [&] {
        client_->asyncReadSome(asio::buffer(client_buf), [&](std::error_code rec, std::size_t n) {
          ASSERT_FALSE(rec) << rec.message();
          got_response.append(client_buf.data(), n);
          if (got_response.size() < response.size()) return read_response();
          ASSERT_TRUE(got_response == response) << "round " << rounds;
          got_response.clear();
          if (++rounds < kRounds) return ask();
          client_->close();
          server_->close();
        });
      };
      read_response();
    });
  };
  serve();
  ask();
  io_.run();
  EXPECT_EQ(rounds, kRounds);
}

// A FIN without close_notify after whole records ends the stream as EOF
// (SSL_OP_IGNORE_UNEXPECTED_EOF; HTTP/1.1 framing catches a truncated
// message), and so does a FIN inside a record: the bytes of the records
// before it all arrive.
TEST_F(StreamTest, AFinWithoutCloseNotifyEndsTheStreamAfterWhatArrivedWhole) {
  std::string whole = pattern(5000, 3);
  Received got;
  readAll(*server_, 16 * 1024, got);
  const std::vector<std::string> pieces{whole};
  writeAll(*client_, pieces, [&] {
    // Half a record: a header announcing 64 bytes of application data, then 10.
    const char partial[] =
        "\x17\x03\x03\x00\x40"
        "0123456789";
    ASSERT_EQ(::send(raw_client_fd_, partial, sizeof partial - 1, MSG_NOSIGNAL),
              static_cast<ssize_t>(sizeof partial - 1));
    ::shutdown(raw_client_fd_, SHUT_WR);
  });
  io_.run();
  EXPECT_EQ(got.bytes.size(), whole.size());
  EXPECT_TRUE(got.bytes == whole);
  EXPECT_EQ(got.end, asio::error::eof) << got.end.message();
}

// The same FIN right after whole records, with no partial one before it.
TEST_F(StreamTest, AFinWithoutCloseNotifyAfterWholeRecordsIsEof) {
  std::string whole = pattern(3000, 4);
  Received got;
  readAll(*server_, 16 * 1024, got);
  const std::vector<std::string> pieces{whole};
  writeAll(*client_, pieces, [&] { ::shutdown(raw_client_fd_, SHUT_WR); });
  io_.run();
  EXPECT_TRUE(got.bytes == whole) << got.bytes.size() << " of " << whole.size() << " bytes";
  EXPECT_EQ(got.end, asio::error::eof) << got.end.message();
}

// Garbage where a record should be is a failure, not an end.
TEST_F(StreamTest, AMalformedRecordIsAFailureNotAnEnd) {
  Received got;
  readAll(*server_, 16 * 1024, got);
  const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(raw_client_fd_, garbage, sizeof garbage - 1, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof garbage - 1));
  io_.run();
  EXPECT_TRUE(got.bytes.empty());
  EXPECT_TRUE(got.end && got.end != asio::error::eof) << got.end.message();
}

// close() with a read pending through asio completes it as aborted, once.
TEST_F(StreamTest, CloseWithAReadPendingAbortsIt) {
  int calls = 0;
  std::error_code end;
  server_->asyncReadSome(asio::buffer(buffer_.assign(1024, '\0')),
                         [&](std::error_code ec, std::size_t) {
                           ++calls;
                           end = ec;
                         });
  io_.poll();  // the read is waiting on the empty socket
  server_->close();
  io_.run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(end, asio::error::operation_aborted) << end.message();
}

}  // namespace
}  // namespace remora::proxy
