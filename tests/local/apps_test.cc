#include "local/apps.h"

#include <gtest/gtest.h>

namespace remora::local {
namespace {

TEST(LocalApps, ImageNames) {
  EXPECT_EQ(imageName("ghcr.io/remora-mesh/remora:0.1.0"), "remora");
  EXPECT_EQ(imageName("curlimages/curl@sha256:abc"), "curl");
  EXPECT_EQ(imageName("nginx"), "nginx");
  EXPECT_EQ(imageName("localhost:5000/team/nginx:1.25"), "nginx");
  EXPECT_EQ(imageName(""), "");
}

TEST(LocalApps, Mapping) {
  Container c;
  c.name = "init";
  c.image = "ghcr.io/remora-mesh/remora:0.1.0";
  c.args = {"init", "-p", "15001"};
  auto remora = mapContainer(c, "/opt/remora");
  ASSERT_TRUE(remora.has_value());
  EXPECT_EQ(remora->kind, AppKind::Remora);
  EXPECT_EQ(remora->argv, (std::vector<std::string>{"/opt/remora", "init", "-p", "15001"}));

  c.image = "busybox:1.36";
  c.command = {"sh", "-c"};
  c.args = {"echo hi"};
  auto shell = mapContainer(c, "/opt/remora");
  ASSERT_TRUE(shell.has_value());
  EXPECT_EQ(shell->kind, AppKind::Command);
  EXPECT_TRUE(shell->argv[0].ends_with("/sh"));
  EXPECT_EQ(shell->argv[2], "echo hi");

  c.image = "registry.example/private/app:1";
  c.command.clear();
  auto unknown = mapContainer(c, "/opt/remora");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("no local mapping"), std::string::npos);

  c.command = {"no-such-program-remora-test"};
  auto missing = mapContainer(c, "/opt/remora");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("not found"), std::string::npos);
}

TEST(LocalApps, NginxServesEveryDeclaredPort) {
  Pod pod;
  pod.name = "web-1";
  pod.namespace_name = "shop";
  Container c;
  c.name = "web";
  c.image = "nginx";
  c.tcp_ports = {80, 8080};
  std::string conf = nginxConfig(pod, c, "/tmp/x");
  EXPECT_NE(conf.find("listen 80;"), std::string::npos);
  EXPECT_NE(conf.find("listen 8080;"), std::string::npos);
  EXPECT_NE(conf.find("hello from web-1"), std::string::npos);
  EXPECT_NE(conf.find("daemon off;"), std::string::npos);
  c.tcp_ports.clear();
  EXPECT_NE(nginxConfig(pod, c, "/tmp/x").find("listen 80;"), std::string::npos);
}

}  // namespace
}  // namespace remora::local
