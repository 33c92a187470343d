#include "netfilter/capture.h"

#include <string>

#include <gtest/gtest.h>

#include "netfilter/flags.h"
#include "netfilter/nft_render.h"
#include "recording_applier.h"

namespace remora::netfilter {
namespace {

using testing::RecordingApplier;

constexpr const char* kEmptyNat =
    "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n";
constexpr const char* kRulesNat =
    "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:FOREIGN - [0:0]\n"
    "-A OUTPUT -j FOREIGN\nCOMMIT\n";

// What iptables-save shows after a restore that changed something.
constexpr const char* kChangedNat =
    "*nat\n:OUTPUT ACCEPT [0:0]\n:ISTIO_OUTPUT - [0:0]\n-A OUTPUT -j ISTIO_OUTPUT\nCOMMIT\n";

Ruleset injectorRules(bool ipv6) {
  InitFlags f;
  f.proxy_uid = "1337";
  f.service_cidr = "*";
  f.inbound_ports = "*";
  f.inbound_ports_exclude = "15090,15021,15020";
  HostFacts h;
  h.pod_has_ipv6 = ipv6;
  return buildRuleset(*configFromFlags(f, h));
}

CommandResult out(std::string text) { return CommandResult{0, std::move(text), {}}; }
CommandResult failed(int code, std::string err) { return CommandResult{code, {}, std::move(err)}; }

TEST(CaptureTest, AutoPicksTheFlavourHoldingRulesNftFirstElseNft) {
  {
    RecordingApplier a;
    a.always("iptables-legacy-save", out(kRulesNat));
    EXPECT_EQ(*Capture(a).resolve(Backend::Auto), Backend::IptablesLegacy);
  }
  {
    RecordingApplier a;
    a.always("iptables-legacy-save", out(kRulesNat));
    a.always("ip6tables-nft-save", out(kRulesNat));
    EXPECT_EQ(*Capture(a).resolve(Backend::Auto), Backend::IptablesNft);
  }
  {
    RecordingApplier a;  // empty tables do not count as "holding rules"
    a.always("iptables-legacy-save", out(kEmptyNat));
    EXPECT_EQ(*Capture(a).resolve(Backend::Auto), Backend::IptablesNft);
  }
  {
    RecordingApplier a;
    a.always("iptables-legacy-save", failed(1, "can't initialize iptables table"));
    EXPECT_EQ(*Capture(a).resolve(Backend::Auto), Backend::IptablesNft);
  }
  {
    RecordingApplier a;
    a.missing("iptables-nft-save");
    a.missing("iptables-nft-restore");
    EXPECT_EQ(*Capture(a).resolve(Backend::Auto), Backend::IptablesLegacy);
  }
  {
    RecordingApplier a;
    for (const char* t :
         {"iptables-nft-save", "iptables-nft-restore", "iptables-legacy-save",
          "iptables-legacy-restore", "ip6tables-nft-save", "ip6tables-legacy-save"}) {
      a.missing(t);
    }
    auto got = Capture(a).resolve(Backend::Auto);
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().message.find("no iptables backend"), std::string::npos);
  }
  {
    RecordingApplier a;
    a.always("iptables-nft-save", out(kRulesNat));
    EXPECT_EQ(*Capture(a).resolve(Backend::IptablesLegacy), Backend::IptablesLegacy);
  }
}

TEST(CaptureTest, OneRestorePerFamilyAfterReadingBoth) {
  RecordingApplier a;
  Capture capture(a);
  ASSERT_TRUE(capture.apply(injectorRules(true), Backend::IptablesNft));
  // Both families read before the first change.
  ASSERT_GE(a.calls.size(), 4u);
  EXPECT_EQ(a.calls[0].program, "iptables-nft-save");
  EXPECT_EQ(a.calls[1].program, "ip6tables-nft-save");
  auto writes = a.writes();
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(writes[0]->display(), "iptables-nft-restore --noflush");
  EXPECT_EQ(writes[1]->display(), "ip6tables-nft-restore --noflush");
  EXPECT_EQ(writes[2]->display(), "ip -6 addr add ::6/128 dev lo");
  EXPECT_NE(writes[0]->input.find("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"), std::string::npos);
  EXPECT_NE(writes[1]->input.find("-A ISTIO_OUTPUT -d ::1/128 -j RETURN"), std::string::npos);
}

TEST(CaptureTest, LegacyRestoreWaitsForTheXtablesLock) {
  RecordingApplier a;
  ASSERT_TRUE(Capture(a).apply(injectorRules(false), Backend::IptablesLegacy));
  EXPECT_EQ(a.writes()[0]->display(), "iptables-legacy-restore --noflush --wait=10");
}

TEST(CaptureTest, Ipv6FailureRollsBackIpv4) {
  RecordingApplier a;
  a.next("iptables-nft-save", out(kRulesNat));      // before
  a.always("iptables-nft-save", out(kChangedNat));  // after the IPv4 restore
  a.next("ip6tables-nft-restore", failed(1, "ip6tables-restore: line 3 failed"));
  Capture capture(a);
  auto status = capture.apply(injectorRules(true), Backend::IptablesNft);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("applying the IPv6 rules failed"), std::string::npos)
      << status.error().message;
  EXPECT_NE(status.error().message.find("line 3 failed"), std::string::npos);
  EXPECT_NE(status.error().message.find("rolled back"), std::string::npos);
  auto writes = a.writes();
  // IPv4 applied, IPv6 failed without changing anything (its save shows the
  // snapshot), so only IPv4 is put back, without --noflush, to the snapshot.
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(writes[2]->display(), "iptables-nft-restore");
  EXPECT_EQ(writes[2]->input, kRulesNat);
}

TEST(CaptureTest, FailedRollbackSaysSo) {
  RecordingApplier a;
  a.next("iptables-nft-save", out(""));
  a.always("iptables-nft-save", out(kChangedNat));
  a.next("iptables-nft-restore", failed(2, "iptables-restore: line 9 failed"));
  a.next("iptables-nft-restore", failed(4, "broken"));
  auto status = Capture(a).apply(injectorRules(false), Backend::IptablesNft);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::Internal);
  EXPECT_NE(status.error().message.find("the rollback failed too"), std::string::npos);
  EXPECT_NE(status.error().message.find("--cleanup-only"), std::string::npos);
}

TEST(CaptureTest, UnparsableStateChangesNothing) {
  RecordingApplier a;
  a.always("iptables-nft-save", out("*nat\n-Z what\nCOMMIT\n"));
  auto status = Capture(a).apply(injectorRules(false), Backend::IptablesNft);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::ParseError);
  EXPECT_TRUE(a.writes().empty());
}

TEST(CaptureTest, MissingToolIsAClearError) {
  RecordingApplier a;
  a.missing("ip6tables-legacy-restore");
  auto status = Capture(a).apply(injectorRules(true), Backend::IptablesLegacy);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("ip6tables-legacy-restore is not in PATH"),
            std::string::npos)
      << status.error().message;
  EXPECT_TRUE(a.writes().empty());
}

TEST(CaptureTest, NftablesIsOneTransaction) {
  RecordingApplier a;
  a.always("nft", failed(1, "Error: Could not process rule"));
  auto status = Capture(a).apply(injectorRules(false), Backend::Nftables);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("nothing was changed"), std::string::npos);
}

TEST(CaptureTest, TproxyRoutesAreAddedOnceAndRolledBackOnFailure) {
  InitFlags f;
  f.proxy_uid = "1337";
  f.inbound_ports = "*";
  f.mode = "TPROXY";
  auto rules = buildRuleset(*configFromFlags(f, HostFacts{}));
  {
    RecordingApplier a;
    ASSERT_TRUE(Capture(a).apply(rules, Backend::IptablesNft));
    auto writes = a.writes();
    ASSERT_EQ(writes.size(), 3u);
    EXPECT_EQ(writes[1]->display(), "ip -4 rule add fwmark 1337 lookup 133");
    EXPECT_EQ(writes[2]->display(), "ip -4 route replace local default dev lo table 133");
  }
  {
    RecordingApplier a;  // the rule is already there: not added twice
    a.always("ip", out("32765:\tfrom all fwmark 0x539 lookup 133\n"));
    ASSERT_TRUE(Capture(a).apply(rules, Backend::IptablesNft));
    EXPECT_EQ(a.writes().size(), 2u);
  }
  {
    RecordingApplier a;
    a.next("iptables-nft-save", out(""));
    a.always("iptables-nft-save", out(kChangedNat));
    a.next("ip", out(""));                                                  // rule list: absent
    a.next("ip", failed(2, "RTNETLINK answers: Operation not permitted"));  // rule add
    auto status = Capture(a).apply(rules, Backend::IptablesNft);
    ASSERT_FALSE(status);
    EXPECT_NE(status.error().message.find("TPROXY policy rule"), std::string::npos);
    EXPECT_NE(status.error().message.find("rolled back"), std::string::npos);
    EXPECT_EQ(a.writes().back()->display(), "iptables-nft-restore");
  }
}

TEST(CaptureTest, ApplyRemovesLeftoversOfOtherBackends) {
  RecordingApplier a;
  a.always("iptables-legacy-save",
           out("*nat\n:OUTPUT ACCEPT [0:0]\n:ISTIO_OUTPUT - [0:0]\n-A OUTPUT -j ISTIO_OUTPUT\n"
               "COMMIT\n"));
  a.always("nft", out("table inet istio-proxy-nat\n"));
  Capture capture(a);
  ASSERT_TRUE(capture.apply(injectorRules(false), Backend::IptablesNft));
  std::vector<std::string> writes;
  for (const auto* w : a.writes()) writes.push_back(w->display());
  EXPECT_EQ(writes,
            (std::vector<std::string>{"iptables-nft-restore --noflush",
                                      "iptables-legacy-restore --noflush --wait=10", "nft -f -"}));
}

TEST(CaptureTest, CleanupAutoVisitsEveryBackendAndRemovesOnlyWhatIsThere) {
  RecordingApplier a;
  a.always("iptables-nft-save",
           out("*nat\n:OUTPUT ACCEPT [0:0]\n:ISTIO_OUTPUT - [0:0]\n-A OUTPUT -j ISTIO_OUTPUT\n"
               "-A OUTPUT -j FOREIGN\nCOMMIT\n"));
  a.always("nft", out("table ip nat\n"));  // iptables-nft's table, not ours
  ASSERT_TRUE(Capture(a).cleanup(Backend::Auto, RouteSpec{}));
  auto writes = a.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0]->input,
            "*nat\n:ISTIO_OUTPUT - [0:0]\n-D OUTPUT -j ISTIO_OUTPUT\n-X ISTIO_OUTPUT\nCOMMIT\n");
}

TEST(CaptureTest, CleanupRemovesTproxyRoutes) {
  RecordingApplier a;
  a.next("ip", out("32765:\tfrom all fwmark 0x539 lookup 133\n32764:\tfrom all fwmark 0x539 "
                   "lookup 133\n"));
  a.always("ip", out(""));
  a.next("ip", out(""));
  ASSERT_TRUE(Capture(a).cleanup(Backend::IptablesNft, RouteSpec{}));
  int deletes = 0;
  for (const auto* w : a.writes()) {
    if (w->display() == "ip -4 rule del fwmark 1337 lookup 133") ++deletes;
  }
  EXPECT_EQ(deletes, 2);
}

TEST(CaptureTest, DryRunRecordsChangesAndReadsThroughTheInnerApplier) {
  RecordingApplier inner;
  inner.always("iptables-nft-save", out(kRulesNat));
  DryRunApplier dry(&inner);
  ASSERT_TRUE(Capture(dry).apply(injectorRules(false), Backend::IptablesNft));
  EXPECT_TRUE(inner.writes().empty());
  ASSERT_EQ(dry.recorded().size(), 1u);
  EXPECT_TRUE(dry.transcript().starts_with("# iptables-nft-restore --noflush\n*nat\n"));
  EXPECT_TRUE(dry.notes().empty());

  DryRunApplier blind(nullptr);
  ASSERT_TRUE(Capture(blind).apply(injectorRules(false), Backend::IptablesNft));
  EXPECT_EQ(blind.recorded().size(), 1u);
}

TEST(CaptureTest, DryRunNotesUnreadableState) {
  RecordingApplier inner;
  inner.always("iptables-nft-save", failed(4, "Permission denied (you must be root)"));
  DryRunApplier dry(&inner);
  ASSERT_TRUE(Capture(dry).apply(injectorRules(false), Backend::IptablesNft));
  ASSERT_FALSE(dry.notes().empty());
  EXPECT_NE(dry.notes()[0].find("you must be root"), std::string::npos);
}

}  // namespace
}  // namespace remora::netfilter
