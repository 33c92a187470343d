#include "proxy/route.h"

#include <gtest/gtest.h>

namespace remora::proxy {
namespace {

mesh::SnapshotPtr snapshot(const char* yaml) {
  auto config = mesh::parseConfig(yaml);
  EXPECT_TRUE(config) << config.error().message;
  return mesh::Snapshot::build(std::move(*config));
}

constexpr const char* kRegistry = R"(
proxy: {ip: 10.0.0.9}
services:
- name: web
  namespace: shop
  addresses: [10.96.0.1]
  ports: [{name: http, port: 80, targetPort: 8080, protocol: HTTP}]
  endpoints: [{address: 10.0.0.7}, {address: 10.0.0.9}]
)";

asio::ip::tcp::endpoint ep(const char* a, std::uint16_t p) {
  return {asio::ip::make_address(a), p};
}

TEST(Route, OutboundVipIsTheService) {
  auto snap = snapshot(kRegistry);
  Route r = resolveRoute(*snap, Direction::Outbound, ep("10.96.0.1", 80));
  EXPECT_EQ(r.kind, Route::Kind::Service);
  EXPECT_EQ(r.cluster, "outbound|80||web.shop.svc.cluster.local");
  EXPECT_EQ(r.destination_service, "web.shop.svc.cluster.local");
  EXPECT_EQ(r.protocol, mesh::Protocol::Http);
}

TEST(Route, V4MappedDestinationsAreIpv4) {
  auto snap = snapshot(kRegistry);
  Route r = resolveRoute(*snap, Direction::Outbound, ep("::ffff:10.96.0.1", 80));
  EXPECT_EQ(r.kind, Route::Kind::Service);
  EXPECT_TRUE(r.original_dst.address().is_v4());
}

TEST(Route, UnknownIsPassthroughUnderAllowAny) {
  auto snap = snapshot(kRegistry);
  Route r = resolveRoute(*snap, Direction::Outbound, ep("192.0.2.1", 443));
  EXPECT_EQ(r.kind, Route::Kind::Passthrough);
  EXPECT_EQ(r.cluster, "PassthroughCluster");
  EXPECT_EQ(r.destination_service, "192.0.2.1:443");
  EXPECT_EQ(r.protocol, mesh::Protocol::Auto);
}

TEST(Route, UnknownIsBlackHoleUnderRegistryOnly) {
  auto snap = snapshot("mesh: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n");
  Route r = resolveRoute(*snap, Direction::Outbound, ep("192.0.2.1", 443));
  EXPECT_EQ(r.kind, Route::Kind::BlackHole);
  EXPECT_EQ(r.cluster, "BlackHoleCluster");
}

TEST(Route, InboundNamesTheServiceThisPodServes) {
  auto snap = snapshot(kRegistry);
  Route r = resolveRoute(*snap, Direction::Inbound, ep("10.0.0.9", 8080));
  EXPECT_EQ(r.kind, Route::Kind::Inbound);
  EXPECT_EQ(r.cluster, "inbound|8080||");
  EXPECT_EQ(r.destination_service, "web.shop.svc.cluster.local");
  Route other = resolveRoute(*snap, Direction::Inbound, ep("10.0.0.9", 9000));
  EXPECT_EQ(other.service, nullptr);
  EXPECT_EQ(other.destination_service, "10.0.0.9:9000");
}

}  // namespace
}  // namespace remora::proxy
