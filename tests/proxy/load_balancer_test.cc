#include "proxy/load_balancer.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

long allocationCount();  // tests/http/alloc_counter.cc

namespace remora::proxy {
namespace {

mesh::Service service(mesh::LoadBalancer lb, int endpoints) {
  mesh::Service s;
  s.name = "web";
  s.hostname = "web.default.svc.cluster.local";
  s.load_balancer = lb;
  s.ports.push_back({.name = "http", .port = 80, .target_port = 8080});
  for (int i = 0; i < endpoints; ++i) {
    mesh::Endpoint ep;
    ep.address = asio::ip::make_address("10.0.0." + std::to_string(i + 1));
    s.endpoints.push_back(ep);
  }
  return s;
}

asio::ip::tcp::endpoint at(const mesh::Endpoint& ep) { return {ep.address, 8080}; }

TEST(LoadBalancer, RoundRobinVisitsEveryEndpointInTurn) {
  auto s = service(mesh::LoadBalancer::RoundRobin, 3);
  LbState lb;
  std::vector<const mesh::Endpoint*> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(lb.pick(s, s.ports[0]));
  EXPECT_EQ(seen[0], &s.endpoints[0]);
  EXPECT_EQ(seen[1], &s.endpoints[1]);
  EXPECT_EQ(seen[2], &s.endpoints[2]);
  EXPECT_EQ(seen[3], &s.endpoints[0]);
}

TEST(LoadBalancer, RetryAvoidsTheEndpointThatFailed) {
  for (auto kind : {mesh::LoadBalancer::RoundRobin, mesh::LoadBalancer::LeastRequest}) {
    auto s = service(kind, 2);
    LbState lb;
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(lb.pick(s, s.ports[0], &s.endpoints[0]), &s.endpoints[1]);
      EXPECT_EQ(lb.pick(s, s.ports[0], &s.endpoints[1]), &s.endpoints[0]);
    }
  }
}

TEST(LoadBalancer, NoEndpointsIsNull) {
  auto s = service(mesh::LoadBalancer::LeastRequest, 0);
  LbState lb;
  EXPECT_EQ(lb.pick(s, s.ports[0]), nullptr);
}

TEST(LoadBalancer, LeastRequestNeverPicksTheBusierOfTwo) {
  auto s = service(mesh::LoadBalancer::LeastRequest, 2);
  LbState lb;
  for (int i = 0; i < 5; ++i) lb.requestStarted(at(s.endpoints[0]));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lb.pick(s, s.ports[0]), &s.endpoints[1]);
  for (int i = 0; i < 5; ++i) lb.requestEnded(at(s.endpoints[0]));
  EXPECT_EQ(lb.active(at(s.endpoints[0])), 0U);
  lb.requestEnded(at(s.endpoints[0]));  // more ends than starts: stays at zero
  EXPECT_EQ(lb.active(at(s.endpoints[0])), 0U);
}

TEST(LoadBalancer, AnEndpointsCountStaysUntilTheNextSnapshotSoRequestsAllocateNothing) {
  auto s = service(mesh::LoadBalancer::LeastRequest, 2);
  LbState lb;
  lb.requestStarted(at(s.endpoints[0]));
  lb.requestEnded(at(s.endpoints[0]));
  const long before = allocationCount();
  for (int i = 0; i < 100; ++i) {
    lb.requestStarted(at(s.endpoints[0]));
    lb.requestEnded(at(s.endpoints[0]));
  }
  EXPECT_EQ(allocationCount() - before, 0);
  EXPECT_EQ(lb.active(at(s.endpoints[0])), 0U);
  lb.requestStarted(at(s.endpoints[1]));  // still in flight across the reload
  EXPECT_EQ(lb.trackedEndpoints(), 2U);
  lb.forgetSnapshot();  // the zeros go, the request in flight keeps its count
  EXPECT_EQ(lb.trackedEndpoints(), 1U);
  EXPECT_EQ(lb.active(at(s.endpoints[1])), 1U);
}

TEST(LoadBalancer, LeastRequestSpreadsWhenIdle) {
  auto s = service(mesh::LoadBalancer::LeastRequest, 4);
  LbState lb(42);
  std::map<const mesh::Endpoint*, int> hits;
  for (int i = 0; i < 4000; ++i) ++hits[lb.pick(s, s.ports[0])];
  ASSERT_EQ(hits.size(), 4U);
  for (auto& [ep, n] : hits) EXPECT_GT(n, 500) << ep->address.to_string();
}

TEST(LoadBalancer, LeastRequestAvoidsTheLoadedEndpointAmongMany) {
  auto s = service(mesh::LoadBalancer::LeastRequest, 3);
  LbState lb(7);
  for (int i = 0; i < 10; ++i) lb.requestStarted(at(s.endpoints[2]));
  int loaded = 0;
  for (int i = 0; i < 3000; ++i) loaded += lb.pick(s, s.ports[0]) == &s.endpoints[2] ? 1 : 0;
  // Power of two choices: the loaded one wins only when drawn twice, which
  // the distinct-pair draw never does.
  EXPECT_EQ(loaded, 0);
}

}  // namespace
}  // namespace remora::proxy
