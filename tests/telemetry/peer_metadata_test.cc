#include "telemetry/peer_metadata.h"

#include <gtest/gtest.h>

#include "core/base64.h"

namespace remora::telemetry {
namespace {

// Independent of the encoder under test: protobuf fields built byte by
// byte, as Envoy's serializer lays them out (key before value, map entries
// in any order).
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string field(std::uint32_t number, std::string_view bytes) {
  return varint((number << 3) | 2) + varint(bytes.size()) + std::string(bytes);
}
std::string stringEntry(std::string_view key, std::string_view value) {
  return field(1, field(1, key) + field(2, field(3, value)));
}
std::string structEntry(std::string_view key, std::string_view struct_bytes) {
  return field(1, field(1, key) + field(2, field(5, struct_bytes)));
}

PeerMetadata sample() {
  PeerMetadata m;
  m.name = "reviews-v1-5d8f7c9b4-x2k9z";
  m.namespace_ = "bookinfo";
  m.workload_name = "reviews-v1";
  m.cluster_id = "Kubernetes";
  m.service_account = "bookinfo-reviews";
  m.instance_ip = "10.244.1.17";
  m.app = "reviews";
  m.version = "v1";
  m.canonical_name = "reviews";
  m.canonical_revision = "v1";
  return m;
}

void expectSame(const PeerMetadata& a, const PeerMetadata& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.namespace_, b.namespace_);
  EXPECT_EQ(a.workload_name, b.workload_name);
  EXPECT_EQ(a.cluster_id, b.cluster_id);
  EXPECT_EQ(a.service_account, b.service_account);
  EXPECT_EQ(a.app, b.app);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.canonical_name, b.canonical_name);
  EXPECT_EQ(a.canonical_revision, b.canonical_revision);
}

TEST(PeerMetadata, EncodesTheWireFormatByteForByte) {
  PeerMetadata m;
  m.name = "a";
  // NAME="a": entry{ key "NAME", value{ string_value "a" } }
  const std::string want("\x0a\x0b\x0a\x04NAME\x12\x03\x1a\x01\x61", 13);
  EXPECT_EQ(encodePeerMetadataStruct(m), want);
  EXPECT_EQ(encodePeerMetadata(m), encodeBase64(want));
}

TEST(PeerMetadata, RoundTrips) {
  PeerMetadata m = sample();
  auto back = decodePeerMetadata(encodePeerMetadata(m));
  ASSERT_TRUE(back) << back.error().message;
  expectSame(*back, m);
}

TEST(PeerMetadata, PodNameFallsBackToTheWorkloadName) {
  PeerMetadata m = sample();
  m.name.clear();
  auto back = decodePeerMetadata(encodePeerMetadata(m));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "reviews-v1");
  EXPECT_EQ(peerMetadataId(m),
            "sidecar~10.244.1.17~reviews-v1.bookinfo~bookinfo.svc.cluster.local");
}

TEST(PeerMetadata, NodeId) {
  EXPECT_EQ(peerMetadataId(sample()),
            "sidecar~10.244.1.17~reviews-v1-5d8f7c9b4-x2k9z.bookinfo~bookinfo.svc.cluster.local");
}

// What an Istio 1.2x Envoy sends: more keys than we read, a nested
// PLATFORM_METADATA, labels we ignore, entries in hash order, and a number
// and a bool and a list among the values.
TEST(PeerMetadata, DecodesAnEnvoyStyleStruct) {
  std::string labels =
      stringEntry("pod-template-hash", "5d8f7c9b4") +
      stringEntry("service.istio.io/canonical-revision", "v1") +
      stringEntry("security.istio.io/tlsMode", "istio") + stringEntry("app", "ratings") +
      stringEntry("service.istio.io/canonical-name", "ratings-svc") + stringEntry("version", "v1");
  std::string number =
      field(1, field(1, "STS_PORT") + field(2, std::string("\x11", 1) + std::string(8, '\x00')));
  std::string boolean = field(1, field(1, "ENABLE") + field(2, std::string("\x20\x01", 2)));
  std::string list = field(1, field(1, "EXCLUDE") + field(2, field(6, field(1, field(3, "a")))));
  std::string node =
      stringEntry("ISTIO_VERSION", "1.22.3") + stringEntry("MESH_ID", "cluster.local") +
      structEntry("LABELS", labels) +
      stringEntry("OWNER", "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1") +
      stringEntry("NAMESPACE", "default") + structEntry("PLATFORM_METADATA", "") +
      stringEntry("WORKLOAD_NAME", "ratings-v1") + number + boolean + list +
      stringEntry("NAME", "ratings-v1-7f9c-abcde") + stringEntry("APP_CONTAINERS", "ratings") +
      stringEntry("CLUSTER_ID", "Kubernetes") + stringEntry("SERVICE_ACCOUNT", "bookinfo-ratings");
  auto m = decodePeerMetadata(encodeBase64(node));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->name, "ratings-v1-7f9c-abcde");
  EXPECT_EQ(m->namespace_, "default");
  EXPECT_EQ(m->workload_name, "ratings-v1");
  EXPECT_EQ(m->cluster_id, "Kubernetes");
  EXPECT_EQ(m->service_account, "bookinfo-ratings");
  EXPECT_EQ(m->app, "ratings");
  EXPECT_EQ(m->version, "v1");
  EXPECT_EQ(m->canonical_name, "ratings-svc");
  EXPECT_EQ(m->canonical_revision, "v1");
}

TEST(PeerMetadata, IgnoresValuesItWouldNotPutInALabel) {
  std::string node =
      stringEntry("NAMESPACE", "de\"fault") + stringEntry("WORKLOAD_NAME", "") +
      field(1, field(1, "NAME") + field(2, field(5, ""))) +  // a struct, not a string
      stringEntry("CLUSTER_ID", std::string(254, 'a'));
  auto m = decodePeerMetadataStruct(node);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->namespace_, "");
  EXPECT_EQ(m->workload_name, "");
  EXPECT_EQ(m->name, "");
  EXPECT_EQ(m->cluster_id, "");
}

TEST(PeerMetadata, LastRepeatedKeyWins) {
  auto m = decodePeerMetadataStruct(stringEntry("NAMESPACE", "a") + stringEntry("NAMESPACE", "b"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->namespace_, "b");
}

TEST(PeerMetadata, SkipsUnknownFieldsOfRealWireTypes) {
  // Fields 7 to 10, numbers that none of the three messages defines.
  std::string unknown = std::string("\x38\x05", 2) +                       // field 7 varint
                        std::string("\x41", 1) + std::string(8, '\x01') +  // field 8 fixed64
                        field(9, "xyz") +                                  // field 9 bytes
                        std::string("\x55", 1) + std::string(4, '\x02');   // field 10 fixed32
  // In the Struct, in the map entry and in the Value.
  std::string entry =
      field(1, field(1, "NAMESPACE") + unknown + field(2, field(3, "prod") + unknown));
  auto m = decodePeerMetadataStruct(unknown + entry);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->namespace_, "prod");
}

struct Hostile {
  const char* name;
  std::string bytes;  // Struct bytes (base64-encoded by the test unless `raw`)
  bool raw = false;   // `bytes` is the header value itself
};

TEST(PeerMetadata, RefusesHostileInput) {
  std::string ok = stringEntry("NAMESPACE", "default");
  std::string deep = structEntry("LABELS", structEntry("x", ""));  // depth 3
  const Hostile cases[] = {
      {"truncated entry", ok.substr(0, ok.size() - 1)},
      {"truncated tag varint", std::string("\x8a", 1)},
      {"varint of 11 bytes", std::string("\x0a") + std::string(10, '\xff') + "\x01"},
      {"varint overflowing 64 bits", std::string("\x0a") + std::string(9, '\xff') + "\x02"},
      {"length past the end", std::string("\x0a\x7f\x0a", 3)},
      {"huge length", std::string("\x0a") + std::string(9, '\xff') + "\x01"},
      {"field number 0", std::string("\x02\x00", 2)},
      {"group wire type", std::string("\x0b", 1)},
      {"end group wire type", std::string("\x0c", 1)},
      {"wire type 6", std::string("\x0e", 1)},
      {"wire type 7", std::string("\x0f\x00", 2)},
      {"unknown field as a group", std::string("\x13", 1)},
      {"unknown field of wire type 7", std::string("\x17\x00", 2)},
      {"entry as a varint", std::string("\x08\x01", 2)},
      {"key as a varint", field(1, std::string("\x08\x01", 2))},
      {"string_value as a varint",
       field(1, field(1, "NAME") + field(2, std::string("\x18\x01", 2)))},
      {"struct_value as fixed32",
       field(1, field(1, "LABELS") + field(2, std::string("\x2d\x00\x00\x00\x00", 5)))},
      {"number_value as a varint", field(1, field(1, "N") + field(2, std::string("\x10\x01", 2)))},
      {"truncated fixed64", field(1, field(1, "N") + field(2, std::string("\x11\x00\x00", 3)))},
      {"structs three deep", deep},
      {"structs three deep under another key",
       structEntry("PLATFORM_METADATA", structEntry("gcp", structEntry("x", "")))},
      {"garbage inside LABELS", structEntry("LABELS", "\xff")},
      {"not base64", "!!!!", true},
      {"base64 with a space", "YWJj ZA==", true},
      {"base64 length not a multiple of 4", "YWJjZ", true},
      {"oversize", std::string(kMaxPeerMetadataBase64 + 4, 'A'), true},
  };
  for (const Hostile& c : cases) {
    std::string header = c.raw ? c.bytes : encodeBase64(c.bytes);
    auto m = decodePeerMetadata(header);
    EXPECT_FALSE(m) << c.name;
  }
}

TEST(PeerMetadata, AcceptsTheLargestAllowedHeader) {
  // Padding keys up to exactly the limit: accepted, and nothing lost.
  std::string node = stringEntry("NAMESPACE", "default");
  std::string header;
  while (true) {
    std::string next = node + stringEntry("PAD", std::string(60, 'p'));
    if (encodeBase64(next).size() > kMaxPeerMetadataBase64) break;
    node = next;
  }
  header = encodeBase64(node);
  ASSERT_LE(header.size(), kMaxPeerMetadataBase64);
  auto m = decodePeerMetadata(header);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->namespace_, "default");
}

}  // namespace
}  // namespace remora::telemetry
