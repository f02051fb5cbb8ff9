// Library-level round trip: plan -> write -> verify -> extract on small generated inputs, and
// the refusals that need no CLI (wrong key, expiry, implausible clock).
#include <gtest/gtest.h>
#include <sodium.h>

#include <filesystem>

#include "bundle/create.h"
#include "bundle/verify.h"
#include "common/clock.h"
#include "common/fs.h"

namespace airlock::bundle {
namespace {

class RoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char tmpl[] = "/tmp/airlock-rt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(write_file_atomic(dir_ + "/text.txt", std::string(100000, 'a') + "end").ok());
    ASSERT_TRUE(write_file_atomic(dir_ + "/already.gz", std::string("\x1f\x8b\x08\x00", 4) + "not really gzip").ok());
    auto spec = parse_bundle_spec(R"(bundle: {name: rt, version: 5, expires_in_days: 10}
components:
  - {type: service-binary, name: text, version: "1", source: text.txt, install: {path: /opt/x/text}}
  - {type: file, name: gz, version: "2", source: already.gz}
)", "rt.yaml", dir_);
    ASSERT_TRUE(spec.ok()) << spec.error().describe();
    CreateOptions opts;
    opts.source_date_epoch = 1795824000;
    opts.work_dir = dir_;
    auto plan = plan_bundle(*spec, opts);
    ASSERT_TRUE(plan.ok()) << plan.error().describe();
    plan_ = std::move(plan).value();
  }
  void TearDown() override { remove_tree(dir_); }

  VerifyOptions options(const PublicKey& k) {
    VerifyOptions o;
    o.keys = {k};
    o.now = 1795824000 + 3600;
    return o;
  }

  std::string dir_;
  BundlePlan plan_;
  KeyPair key_ = generate_key_pair();
};

TEST_F(RoundTrip, CompressesOnlyWhatPays) {
  const Component* text = plan_.manifest.find_component("text");
  const Component* gz = plan_.manifest.find_component("gz");
  ASSERT_TRUE(text && gz);
  ASSERT_TRUE(text->content.has_value());
  EXPECT_EQ(text->content->size, 100003u);
  EXPECT_LT(text->blob->size, 1000u);
  EXPECT_EQ(text->blob->media_type, "application/vnd.airlock.file.v1+zstd");
  EXPECT_EQ(text->install["mode"], "0755");
  EXPECT_FALSE(gz->content.has_value());
}

TEST_F(RoundTrip, WriteVerifyExtract) {
  std::string out = dir_ + "/rt.airlock";
  auto w = write_bundle(plan_, {&key_.secret}, out, 0, 1795824000, false);
  ASSERT_TRUE(w.ok()) << w.error().describe();
  auto v = verify_bundle(out, options(key_.pub));
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ(v->manifest.bundle.version, 5u);
  EXPECT_EQ(v->members, plan_.manifest.files.size());

  auto opts = options(key_.pub);
  opts.extract_to = dir_ + "/x";
  auto e = verify_bundle(out, opts);
  ASSERT_TRUE(e.ok()) << e.error().describe();
  EXPECT_EQ(*read_file(dir_ + "/x/components/text/text"), std::string(100000, 'a') + "end");
  EXPECT_EQ(std::filesystem::status(dir_ + "/x/components/text/text").permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0755));
  EXPECT_EQ(*read_file(dir_ + "/x/components/gz/gz"), *read_file(dir_ + "/already.gz"));
}

TEST_F(RoundTrip, RefusesWrongKeyExpiryAndClock) {
  std::string out = dir_ + "/rt.airlock";
  ASSERT_TRUE(write_bundle(plan_, {&key_.secret}, out, 0, 1795824000, false).ok());
  auto other = generate_key_pair();
  auto r = verify_bundle(out, options(other.pub));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kSignature);

  auto late = options(key_.pub);
  late.now = 1795824000 + 11 * 86400;
  r = verify_bundle(out, late);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kExpired);
  late.allow_expired = true;
  r = verify_bundle(out, late);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->warnings.size(), 1u);

  auto early = options(key_.pub);
  early.now = 1795824000 - 2 * 86400;
  r = verify_bundle(out, early);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("clock implausible"), std::string::npos);
}

TEST_F(RoundTrip, FailedExtractLeavesNothing) {
  std::string out = dir_ + "/rt.airlock";
  ASSERT_TRUE(write_bundle(plan_, {&key_.secret}, out, 0, 1795824000, false).ok());
  // Corrupt the last byte of the archive's last member data region.
  std::string bytes = *read_file(out);
  auto pos = bytes.find("not really gzip");
  ASSERT_NE(pos, std::string::npos);
  bytes[pos] ^= 1;
  ASSERT_TRUE(write_file_atomic(out, bytes).ok());
  auto opts = options(key_.pub);
  opts.extract_to = dir_ + "/x";
  auto r = verify_bundle(out, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("sha256 mismatch"), std::string::npos);
  EXPECT_FALSE(path_exists(dir_ + "/x"));
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find("staging"), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace airlock::bundle
