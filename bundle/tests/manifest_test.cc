// bundle.json: serialisation is stable and the strict parser refuses what the format forbids.
#include <gtest/gtest.h>

#include "bundle/manifest.h"
#include "common/sha256.h"

namespace airlock::bundle {
namespace {

Manifest sample() {
  Manifest m;
  m.bundle.name = "site";
  m.bundle.version = 7;
  m.bundle.created = "2026-11-28T00:00:00Z";
  Component c;
  c.type = "file";
  c.name = "notes";
  c.version = "1";
  std::string d = sha256_digest("payload");
  c.blob = Descriptor{"application/vnd.airlock.file.v1", d, 7};
  m.components.push_back(c);
  m.files.push_back({blob_path(d), 7, d});
  m.files.push_back({"oci-layout", 30, sha256_digest("x")});
  return m;
}

TEST(Manifest, RoundTrip) {
  Manifest m = sample();
  std::string bytes = serialize_manifest(m);
  auto back = parse_manifest(bytes);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(serialize_manifest(*back), bytes);
}

TEST(Manifest, RejectsUnknownFieldsAndBadFiles) {
  std::string bytes = serialize_manifest(sample());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string b = bytes;
    auto pos = b.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    b.replace(pos, from.size(), to);
    return parse_manifest(b);
  };
  auto r = with("\"schemaVersion\": 1", "\"schemaVersion\": 1, \"extra\": 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "bundle.json: extra: unknown field");
  r = with("\"schemaVersion\": 1", "\"schemaVersion\": 2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  r = with("\"path\": \"oci-layout\"", "\"path\": \"a-first\"");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("out of order"), std::string::npos);
}

TEST(Manifest, ClosureAndDuplicates) {
  Manifest m = sample();
  m.files.erase(m.files.begin());
  auto r = parse_manifest(serialize_manifest(m));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("needs blob"), std::string::npos);

  m = sample();
  m.components.push_back(m.components[0]);
  r = parse_manifest(serialize_manifest(m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "bundle.json: component 'notes' is listed twice");

  m = sample();
  std::string other = sha256_digest("other");
  m.files.insert(m.files.begin(), {blob_path(other), 5, other});
  std::sort(m.files.begin(), m.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
  r = parse_manifest(serialize_manifest(m));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no component uses it"), std::string::npos);
}

TEST(Manifest, TrustedCommentCrossCheck) {
  Manifest m = sample();
  std::string tc = trusted_comment_for(m, 1);
  EXPECT_TRUE(check_trusted_comment(tc, m, "sig").ok());
  m.bundle.version = 8;
  auto st = check_trusted_comment(tc, m, "sig");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "sig: trusted comment says version:7 but bundle.json says 8");
}

TEST(Manifest, CompareVersions) {
  EXPECT_LT(compare_versions("1.4.0", "1.10.0"), 0);
  EXPECT_EQ(compare_versions("0.1.0", "0.1.0"), 0);
  EXPECT_GT(compare_versions("2.0", "1.99.9"), 0);
}

}  // namespace
}  // namespace airlock::bundle
