// Tampering with a real signed bundle (docs/bundle-format.md §C threat rows 1, 4 and 6): the
// example bundle is created once with the CLI, then each case copies it, changes it (one byte
// flipped in place, found by walking the raw ustar headers; or the members re-packed with one
// added, dropped, duplicated or swapped in from another bundle; or signatures that fall short of
// the threshold) and runs BOTH `airlock bundle verify` and `airlock bundle extract`. Each must
// exit 1 with a message that names what was wrong, and extract must leave neither the target
// nor a staging directory behind. Control tests check that the untouched bundle, the header
// walker and the re-packer are sound, so that each rejection is caused by the tampering alone.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/sha256.h"
#include "tests/e2e/cli_harness.h"
#include "tests/e2e/tar_craft.h"

namespace airlock::test {
namespace {

using tarcraft::Entry;
using tarcraft::RawMember;

class Tamper : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    k1_ = make_key(dir_->path(), "k1");
    k2_ = make_key(dir_->path(), "k2");
    good_ = *dir_ / "good.bundle";
    create_example(good_, {k1_});
    bytes_ = read_all(good_);
    members_ = tarcraft::scan_ustar(bytes_);
    const RawMember& bj = tarcraft::find_member(members_, "bundle.json");
    auto m = bundle::parse_manifest(bytes_.substr(bj.data_offset, bj.size));
    if (!m.ok()) {
      ADD_FAILURE() << m.error().describe();
      return;
    }
    manifest_ = std::make_unique<bundle::Manifest>(*m);
    for (const auto& mem : members_) {
      if (mem.name.rfind("bundle.json.", 0) == 0) sig_member_ = mem.name;
    }
  }
  static void TearDownTestSuite() {
    manifest_.reset();
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(manifest_) << "the example bundle could not be created"; }

  static std::string pub1() { return k1_ + ".pub"; }
  static std::string pub2() { return k2_ + ".pub"; }
  static std::string key_id1() { return sig_member_.substr(12, 16); }

  // Member path of the blob of the file-like component of this type.
  static std::string component_blob(const std::string& type) {
    for (const auto& c : manifest_->components) {
      if (c.type == type && c.blob) return bundle::blob_path(c.blob->digest);
    }
    ADD_FAILURE() << "no " << type << " component";
    return "";
  }
  static const bundle::Component& image() {
    for (const auto& c : manifest_->components) {
      if (c.type == "oci-image") return c;
    }
    ADD_FAILURE() << "no image component";
    return manifest_->components.front();
  }
  // The image's manifest (its descriptor), its gzip layer and its config blob.
  static std::string image_manifest_blob() { return bundle::blob_path(image().descriptor->digest); }
  static std::string layer_blob() {
    for (const auto& d : image().closure) {
      const RawMember& m = tarcraft::find_member(members_, bundle::blob_path(d));
      if (bytes_.compare(m.data_offset, 2, "\x1f\x8b") == 0) return m.name;
    }
    ADD_FAILURE() << "no gzip layer in the image";
    return "";
  }
  static std::string config_blob() {
    for (const auto& d : image().closure) {
      std::string p = bundle::blob_path(d);
      if (p != image_manifest_blob() && p != layer_blob()) return p;
    }
    ADD_FAILURE() << "no config blob in the image";
    return "";
  }

  // A copy of the good bundle with bytes[offset] replaced.
  std::string with_byte(uint64_t offset, char value) {
    std::string b = bytes_;
    EXPECT_NE(b[offset], value) << "the mutation must change the byte";
    b[offset] = value;
    std::string path = work_ / "tampered.bundle";
    write_all(path, b);
    return path;
  }
  // Flips the low bit of the middle byte of a member's data.
  std::string flip_in(const std::string& member) {
    const RawMember& m = tarcraft::find_member(members_, member);
    EXPECT_GT(m.size, 0u);
    uint64_t off = m.data_offset + m.size / 2;
    return with_byte(off, static_cast<char>(bytes_[off] ^ 0x01));
  }
  // Offset of the first byte of line `n` (1-based) of the signature member.
  static uint64_t sig_line_offset(int n) {
    const RawMember& m = tarcraft::find_member(members_, sig_member_);
    std::string text = bytes_.substr(m.data_offset, m.size);
    size_t p = 0;
    for (int i = 1; i < n; ++i) p = text.find('\n', p) + 1;
    return m.data_offset + p;
  }
  // Another base64 character, so that the line still decodes to the same length.
  static char other_b64(char c) { return c == 'A' ? 'B' : 'A'; }

  std::string repacked(const std::vector<Entry>& entries) {
    std::string path = work_ / "repacked.bundle";
    tarcraft::write_entries(path, entries);
    return path;
  }
  static std::vector<Entry> good_entries() { return tarcraft::read_entries(good_); }

  static TempDir* dir_;
  static std::string k1_, k2_, good_, bytes_, sig_member_;
  static std::vector<RawMember> members_;
  static std::unique_ptr<bundle::Manifest> manifest_;
  TempDir work_;
};

TempDir* Tamper::dir_ = nullptr;
std::string Tamper::k1_, Tamper::k2_, Tamper::good_, Tamper::bytes_, Tamper::sig_member_;
std::vector<RawMember> Tamper::members_;
std::unique_ptr<bundle::Manifest> Tamper::manifest_;

std::string sha_mismatch(const std::string& member) { return "member '" + member + "': sha256 mismatch"; }

// ---- controls ------------------------------------------------------------------------------

TEST_F(Tamper, ControlGoodBundleIsAccepted) {
  tarcraft::expect_accepted(good_, {pub1()});
}

TEST_F(Tamper, ControlHeaderWalkFindsEveryListedMemberData) {
  // The walker's data offsets hold exactly the bytes bundle.json lists (so flips land in data).
  ASSERT_EQ(members_.size(), manifest_->files.size() + 2);  // + bundle.json + one signature
  EXPECT_EQ(members_[0].name, "bundle.json");
  EXPECT_EQ(members_[1].name, sig_member_);
  for (const auto& f : manifest_->files) {
    const RawMember& m = tarcraft::find_member(members_, f.path);
    EXPECT_EQ(m.size, f.size) << f.path;
    EXPECT_EQ(sha256_digest(std::string_view(bytes_).substr(m.data_offset, m.size)), f.digest) << f.path;
  }
}

TEST_F(Tamper, ControlRepackedUnchangedBundleIsAccepted) {
  auto entries = good_entries();
  ASSERT_EQ(entries.size(), members_.size());
  tarcraft::expect_accepted(repacked(entries), {pub1()});
}

// ---- one byte flipped in a payload member (row 1) -------------------------------------------

TEST_F(Tamper, LayerBlobByteFlipped) {
  std::string member = layer_blob();
  tarcraft::expect_rejected(flip_in(member), {pub1()}, sha_mismatch(member));
}

TEST_F(Tamper, DriverPackageBlobByteFlipped) {
  std::string member = component_blob("driver-package");
  tarcraft::expect_rejected(flip_in(member), {pub1()}, sha_mismatch(member));
}

TEST_F(Tamper, ServiceBinaryBlobByteFlipped) {
  std::string member = component_blob("service-binary");
  tarcraft::expect_rejected(flip_in(member), {pub1()}, sha_mismatch(member));
}

TEST_F(Tamper, SmallCompressedFileBlobByteFlipped) {
  std::string member = component_blob("file");
  tarcraft::expect_rejected(flip_in(member), {pub1()}, sha_mismatch(member));
}

TEST_F(Tamper, IndexJsonByteFlipped) {
  tarcraft::expect_rejected(flip_in("index.json"), {pub1()}, sha_mismatch("index.json"));
}

TEST_F(Tamper, OciLayoutByteFlipped) {
  tarcraft::expect_rejected(flip_in("oci-layout"), {pub1()}, sha_mismatch("oci-layout"));
}

TEST_F(Tamper, ImageManifestBlobByteFlipped) {
  std::string member = image_manifest_blob();
  tarcraft::expect_rejected(flip_in(member), {pub1()}, sha_mismatch(member));
}

TEST_F(Tamper, ImageConfigBlobByteFlipped) {
  std::string member = config_blob();
  tarcraft::expect_rejected(flip_in(member), {pub1()}, sha_mismatch(member));
}

// ---- the signed manifest and its signature (row 1) ------------------------------------------

TEST_F(Tamper, BundleJsonByteFlipped) {
  tarcraft::expect_rejected(flip_in("bundle.json"), {pub1()},
                            sig_member_ + ": signature does not match the signed file (key " + key_id1() + ")");
}

TEST_F(Tamper, SignatureLine2SignatureBytesChanged) {
  uint64_t off = sig_line_offset(2) + 40;  // base64 char 40 encodes signature byte 30
  tarcraft::expect_rejected(with_byte(off, other_b64(bytes_[off])), {pub1()},
                            sig_member_ + ": signature does not match the signed file");
}

TEST_F(Tamper, SignatureLine2KeyIdChanged) {
  // char 4 encodes key-id byte 3: the signature now names another key than its member name.
  uint64_t off = sig_line_offset(2) + 4;
  tarcraft::expect_rejected(with_byte(off, other_b64(bytes_[off])), {pub1()},
                            "member '" + sig_member_ + "': holds a signature by key ");
}

TEST_F(Tamper, SignatureLine2NotBase64) {
  // A flipped bit that leaves the base64 alphabet: malformed signature, still a rejection (1).
  uint64_t off = sig_line_offset(2) + 40;
  tarcraft::expect_rejected(with_byte(off, '*'), {pub1()}, sig_member_ + ": line 2 is not 74 bytes of base64");
}

TEST_F(Tamper, TrustedCommentVersionChanged) {
  const RawMember& m = tarcraft::find_member(members_, sig_member_);
  size_t p = bytes_.find("\tversion:", sig_line_offset(3));
  ASSERT_LT(p, m.data_offset + m.size);
  uint64_t off = p + 9;  // the first digit of the version
  char digit = bytes_[off] == '9' ? '8' : static_cast<char>(bytes_[off] + 1);
  tarcraft::expect_rejected(with_byte(off, digit), {pub1()},
                            sig_member_ + ": trusted comment signature does not verify");
}

TEST_F(Tamper, SignatureLine4Changed) {
  uint64_t off = sig_line_offset(4) + 20;  // base64 char 20 encodes global-signature byte 15
  tarcraft::expect_rejected(with_byte(off, other_b64(bytes_[off])), {pub1()},
                            sig_member_ + ": trusted comment signature does not verify");
}

// ---- the tar framing itself (row 1: every byte is covered) ---------------------------------

TEST_F(Tamper, TarHeaderByteFlipped) {
  // A flipped bit in the name field of a member header: the header checksum no longer matches.
  // A damaged bundle is a rejected bundle (exit 1), not a usage error.
  const RawMember& m = tarcraft::find_member(members_, "oci-layout");
  uint64_t off = m.header_offset + 1;
  tarcraft::expect_rejected(with_byte(off, static_cast<char>(bytes_[off] ^ 0x01)), {pub1()},
                            "corrupt tar stream after member '" + sig_member_ + "'");
}

TEST_F(Tamper, BundleTruncatedInsideABlob) {
  std::string member = component_blob("service-binary");
  const RawMember& m = tarcraft::find_member(members_, member);
  std::string path = work_ / "truncated.bundle";
  write_all(path, bytes_.substr(0, m.data_offset + m.size / 2));
  tarcraft::expect_rejected(path, {pub1()}, "member '" + member + "': truncated");
}

// ---- the member set (row 4) -----------------------------------------------------------------

TEST_F(Tamper, UnlistedMemberAppended) {
  auto entries = good_entries();
  std::string data = "not part of the signed release\n";
  std::string name = bundle::blob_path(sha256_digest(data));  // correctly named, never listed
  entries.push_back({name, data});
  tarcraft::expect_rejected(repacked(entries), {pub1()}, "unexpected member '" + name + "' (not listed in bundle.json)");
}

TEST_F(Tamper, ListedMemberDropped) {
  std::string layer = layer_blob();
  std::vector<Entry> entries;
  for (auto& e : good_entries()) {
    if (e.name != layer) entries.push_back(std::move(e));
  }
  ASSERT_EQ(entries.size(), members_.size() - 1);
  tarcraft::expect_rejected(repacked(entries), {pub1()}, "missing member '" + layer + "' (listed in bundle.json)");
}

TEST_F(Tamper, MemberDuplicated) {
  std::string driver = component_blob("driver-package");
  std::vector<Entry> entries;
  for (auto& e : good_entries()) {
    bool dup = e.name == driver;
    entries.push_back(e);
    if (dup) entries.push_back(e);  // same name, same bytes: still a second member
  }
  ASSERT_EQ(entries.size(), members_.size() + 1);
  tarcraft::expect_rejected(repacked(entries), {pub1()}, "duplicate member '" + driver + "'");
}

// A second bundle, signed by the same key, whose site-readme differs from the example's.
std::string make_other_bundle(const TempDir& dir, const std::string& key) {
  std::string ex = example_dir();
  std::string yaml = read_all(ex + "/bundle.yaml");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t p = yaml.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    if (p != std::string::npos) yaml.replace(p, from.size(), to);
  };
  replace("layout: build/oci", "layout: " + ex + "/build/oci");
  replace("source: build/busybox", "source: " + ex + "/build/busybox");
  replace("source: build/ibverbs-providers.deb", "source: " + ex + "/build/ibverbs-providers.deb");
  replace("source: README.md", "source: " + (dir / "README-other.md"));
  write_all(dir / "README-other.md", "A different site readme: this blob belongs to another release.\n");
  write_all(dir / "bundle.yaml", yaml);
  std::string out = dir / "other.bundle";
  auto r = airlock({"bundle", "create", "-f", dir / "bundle.yaml", "-o", out, "--key", key + ".key"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

TEST_F(Tamper, BlobSwappedInFromAnotherBundle) {
  std::string other = make_other_bundle(work_, k1_);
  auto other_entries = tarcraft::read_entries(other);
  std::string ours = component_blob("file");
  std::vector<Entry> entries;
  std::string theirs;
  for (auto& e : good_entries()) {
    if (e.name != ours) {
      entries.push_back(std::move(e));
      continue;
    }
    // Their readme blob, under its own (correct) content-addressed name, in place of ours.
    for (const auto& o : other_entries) {
      if (o.name.rfind("blobs/", 0) == 0 && !manifest_->find_file(o.name)) {
        ASSERT_TRUE(theirs.empty()) << "the other bundle differs in more than one blob";
        theirs = o.name;
        entries.push_back(o);
      }
    }
  }
  ASSERT_FALSE(theirs.empty());
  for (const auto& e : entries) {
    if (e.name == theirs) {
      EXPECT_EQ(e.name, bundle::blob_path(sha256_digest(e.data))) << "correctly named blob";
    }
  }
  tarcraft::expect_rejected(repacked(entries), {pub1()}, "unexpected member '" + theirs + "' (not listed in bundle.json)");
}

TEST_F(Tamper, ManifestAndSignatureOfAnotherBundleOverOurBlobs) {
  // Their bundle.json + signature (valid, same key) on our payload: our readme blob is extra.
  std::string other = make_other_bundle(work_, k1_);
  auto other_entries = tarcraft::read_entries(other);
  ASSERT_GE(other_entries.size(), 2u);
  std::vector<Entry> entries = {other_entries[0], other_entries[1]};
  ASSERT_EQ(entries[1].name, sig_member_);
  auto ours = good_entries();
  entries.insert(entries.end(), ours.begin() + 2, ours.end());
  std::string our_readme = component_blob("file");
  tarcraft::expect_rejected(repacked(entries), {pub1()},
                            "unexpected member '" + our_readme + "' (not listed in bundle.json)");
}

// ---- signatures against the threshold (row 6) -----------------------------------------------

TEST_F(Tamper, OneSignatureWhereTwoAreRequired) {
  tarcraft::expect_rejected(good_, {pub1(), pub2()},
                            "signature threshold not met: 1 valid signature(s) by pinned keys, 2 required", 2);
}

TEST_F(Tamper, SameSignatureMemberDuplicatedCountsOnce) {
  std::vector<Entry> entries;
  for (auto& e : good_entries()) {
    bool dup = e.name == sig_member_;
    entries.push_back(e);
    if (dup) entries.push_back(e);
  }
  ASSERT_EQ(entries.size(), members_.size() + 1);
  std::string bad = repacked(entries);
  // With two keys required, the copy must not count as a second signature...
  tarcraft::expect_rejected(bad, {pub1(), pub2()}, "duplicate member '" + sig_member_ + "'", 2);
  // ...and a duplicated member is refused even when one signature would do.
  tarcraft::expect_rejected(bad, {pub1()}, "duplicate member '" + sig_member_ + "'", 1);
}

TEST_F(Tamper, SameSignatureCopiedUnderSecondKeysName) {
  // Key 1's signature stored again as bundle.json.<key 2>.minisig: must not pass as key 2's.
  std::string k2_id = read_all(pub2()).substr(std::string("untrusted comment: minisign public key ").size(), 16);
  std::vector<Entry> entries;
  for (auto& e : good_entries()) {
    bool copy = e.name == sig_member_;
    entries.push_back(e);
    if (copy) entries.push_back({"bundle.json." + k2_id + ".minisig", e.data});
  }
  tarcraft::expect_rejected(repacked(entries), {pub1(), pub2()},
                            "member 'bundle.json." + k2_id + ".minisig': holds a signature by key " + key_id1() +
                                " under another key's name",
                            2);
}

TEST_F(Tamper, SamePublicKeyGivenTwiceCountsOnce) {
  tarcraft::expect_rejected(good_, {pub1(), pub1()},
                            "signature threshold not met: 1 valid signature(s) by pinned keys, 2 required", 2);
}

}  // namespace
}  // namespace airlock::test
