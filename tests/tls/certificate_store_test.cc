#include "tls/certificate_store.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/tls/pki.h"

namespace remora::tls {
namespace {

using testing::handshake;
using testing::newRoot;
using testing::workload;

CertificateStore::Options storeOptions() { return {.trust_domains = {"cluster.local"}}; }

TEST(CertificateStoreTest, EmptyUntilFirstUpdate) {
  CertificateStore store(storeOptions());
  EXPECT_EQ(store.generation(), 0u);
  EXPECT_EQ(store.current(), nullptr);
}

TEST(CertificateStoreTest, RotationLeavesOpenConnectionsAndServesNewCertificate) {
  auto root = newRoot();
  CertificateStore server_store(storeOptions());
  CertificateStore client_store(storeOptions());
  ASSERT_TRUE(
      server_store.update(workload(root, "spiffe://cluster.local/ns/a/sa/server"), root.bundle()));
  ASSERT_TRUE(
      client_store.update(workload(root, "spiffe://cluster.local/ns/a/sa/client"), root.bundle()));
  auto gen1 = server_store.current();
  ASSERT_EQ(gen1->generation, 1u);
  EXPECT_EQ(gen1->leaf.uri_sans[0], "spiffe://cluster.local/ns/a/sa/server");

  auto open = handshake(*client_store.current()->client, *gen1->server);
  ASSERT_TRUE(open.ok());
  std::string serial1 = serialHex(SSL_get0_peer_certificate(open.client.get()));
  EXPECT_EQ(serial1, gen1->leaf.serial_hex);
  EXPECT_EQ(testing::roundTrip(open.server.get(), open.client.get(), "t"), "t");  // tickets
  SslSessionPtr session(SSL_get1_session(open.client.get()));

  // Rotate, and drop our reference to the old generation entirely.
  ASSERT_TRUE(
      server_store.update(workload(root, "spiffe://cluster.local/ns/a/sa/server"), root.bundle()));
  gen1.reset();
  auto gen2 = server_store.current();
  EXPECT_EQ(gen2->generation, 2u);
  EXPECT_EQ(server_store.generation(), 2u);
  EXPECT_NE(gen2->leaf.serial_hex, serial1);

  // The open connection still works both ways.
  EXPECT_EQ(testing::roundTrip(open.client.get(), open.server.get(), "still here"), "still here");
  EXPECT_EQ(testing::roundTrip(open.server.get(), open.client.get(), "and back"), "and back");

  // A new handshake sees the new serial.
  auto fresh = handshake(*client_store.current()->client, *gen2->server);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(serialHex(SSL_get0_peer_certificate(fresh.client.get())), gen2->leaf.serial_hex);

  // A session from before the rotation resumes with the new context.
  auto resumed = handshake(*client_store.current()->client, *gen2->server, session.get());
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(SSL_session_reused(resumed.client.get()), 1);
}

TEST(CertificateStoreTest, FailedUpdateKeepsCurrentGeneration) {
  auto root = newRoot();
  CertificateStore store(storeOptions());
  ASSERT_TRUE(store.update(workload(root), root.bundle()));
  auto status = store.update(workload(root), TrustBundle{});  // no roots: cannot build
  EXPECT_FALSE(status);
  EXPECT_EQ(store.generation(), 1u);
  EXPECT_NE(store.current(), nullptr);
}

TEST(CertificateStoreTest, RootRotationWithBothRootsTrusted) {
  auto old_root = newRoot();
  auto new_root = newRoot();
  std::vector<X509Ptr> both;
  both.push_back(upRef(old_root.cert.get()));
  both.push_back(upRef(new_root.cert.get()));
  CertificateStore server_store(storeOptions());
  CertificateStore client_store(storeOptions());
  ASSERT_TRUE(server_store.update(workload(new_root), TrustBundle(std::move(both))));
  ASSERT_TRUE(client_store.update(workload(old_root), old_root.bundle()));
  // The server (new root, trusts both) accepts the old-root client, but
  // the client (old root only) refuses the new-root server, until it too
  // trusts both.
  auto h = handshake(*client_store.current()->client, *server_store.current()->server);
  EXPECT_TRUE(h.client_failed);
  std::vector<X509Ptr> both_again;
  both_again.push_back(upRef(old_root.cert.get()));
  both_again.push_back(upRef(new_root.cert.get()));
  ASSERT_TRUE(client_store.update(workload(old_root), TrustBundle(std::move(both_again))));
  auto h2 = handshake(*client_store.current()->client, *server_store.current()->server);
  EXPECT_TRUE(h2.ok()) << h2.client_error << " / " << h2.server_error;
}

}  // namespace
}  // namespace remora::tls
