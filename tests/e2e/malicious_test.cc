// A regression corpus of malicious archives (docs/bundle-format.md §E checklist, item 12, and
// threat rows 5 and 10). Outer-tar cases start with the valid signed head of a real bundle
// (bundle.json and its signature, copied byte for byte) and then carry one hand-crafted hostile
// member: "../" and absolute names, a symlink with a file written through it, hard links, a
// device node, a FIFO, a 1 TB declared size (pax record, and GNU base-256) with truncated data,
// a pax size that disagrees with the ustar size field, a GNU longname header and a 4 KiB pax
// path. Compression cases are signed bundles written through the library (BundlePlan +
// write_bundle): a zstd bomb without a declared content size, a frame declaring 10 GB, and a
// frame asking for a 2^31 window. Every case must be rejected by `airlock bundle verify` and
// `airlock bundle extract` (except the bomb, which verify may pass: only decompression shows
// it) with exit 1, a message naming the problem, in under 5 s, below 256 MiB peak RSS
// (measured with /usr/bin/time when present), and with nothing extracted anywhere. Control
// tests show the crafting itself produces bundles the CLI accepts.
#include <gtest/gtest.h>
#include <sodium.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader, to self-check hand-made frames
#include <zstd.h>

#include <algorithm>
#include <ctime>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "bundle/create.h"
#include "bundle/manifest.h"
#include "bundle/minisign.h"
#include "common/clock.h"
#include "common/sha256.h"
#include "tests/e2e/cli_harness.h"
#include "tests/e2e/tar_craft.h"

namespace airlock::test {
namespace {

using tarcraft::RawMember;

const tarcraft::Limits kLimits{5.0, 256 * 1024};
constexpr uint64_t kTerabyte = 1ull << 40;

class Malicious : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(sodium_init() < 0, false);
    dir_ = new TempDir();
    k1_ = make_key(dir_->path(), "k1");
    good_ = *dir_ / "good.bundle";
    create_example(good_, {k1_});
    bytes_ = read_all(good_);
    members_ = tarcraft::scan_ustar(bytes_);
    // The signed head: everything before the first payload member.
    for (const auto& m : members_) {
      if (m.name != "bundle.json" && m.name.rfind("bundle.json.", 0) != 0) {
        head_ = bytes_.substr(0, m.header_offset);
        break;
      }
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_FALSE(head_.empty()) << "the example bundle could not be created";
    ASSERT_EQ(tarcraft::scan_ustar(head_).size(), 2u) << "head = bundle.json + one signature";
  }

  static std::string pub() { return k1_ + ".pub"; }
  static std::string data_of(const std::string& name) {
    const RawMember& m = tarcraft::find_member(members_, name);
    return bytes_.substr(m.data_offset, m.size);
  }
  // The signed head, then `tail`, then (unless truncated) the end-of-archive blocks.
  std::string craft(const std::string& tail, bool end = true) {
    std::string path = work_ / "malicious.bundle";
    write_all(path, head_ + tail + (end ? tarcraft::end_of_archive() : ""));
    return path;
  }
  void expect_rejected(const std::string& bundle, const std::string& expected) {
    tarcraft::expect_rejected(bundle, {pub()}, expected, 0, kLimits);
  }

  static TempDir* dir_;
  static std::string k1_, good_, bytes_, head_;
  static std::vector<RawMember> members_;
  TempDir work_;
  TempDir outside_;  // where an escape would land; must stay empty
};

TempDir* Malicious::dir_ = nullptr;
std::string Malicious::k1_, Malicious::good_, Malicious::bytes_, Malicious::head_;
std::vector<RawMember> Malicious::members_;

// ---- control ----------------------------------------------------------------------------------

TEST_F(Malicious, ControlHandCraftedMembersAfterTheHeadAreAccepted) {
  // The same construction with honest members (raw headers written by this test) is accepted:
  // the rejections below come from the hostile member, not from the crafting.
  std::string tail;
  for (const auto& m : members_) {
    if (m.name == "bundle.json" || m.name.rfind("bundle.json.", 0) == 0) continue;
    tail += tarcraft::file_member(m.name, data_of(m.name));
  }
  tarcraft::expect_accepted(craft(tail), {pub()});
}

TEST_F(Malicious, ControlPaxSizeThatAgreesIsAccepted) {
  // A pax size record that matches the ustar size is legitimate (libarchive writes them for
  // blobs >= 8 GiB); the desync case below differs from this only in the ustar size field.
  std::string tail;
  for (const auto& m : members_) {
    if (m.name == "bundle.json" || m.name.rfind("bundle.json.", 0) == 0) continue;
    std::string d = data_of(m.name);
    if (m.name == "index.json") tail += tarcraft::pax_header(m.name, {{"size", std::to_string(d.size())}});
    tail += tarcraft::file_member(m.name, d);
  }
  tarcraft::expect_accepted(craft(tail), {pub()});
}

// ---- names --------------------------------------------------------------------------------------

TEST_F(Malicious, DotDotName) {
  expect_rejected(craft(tarcraft::file_member("../evil", "pwned\n")),
                  "member '../evil': path escapes the bundle ('..' component)");
}

TEST_F(Malicious, DotDotInsideName) {
  expect_rejected(craft(tarcraft::file_member("blobs/../../evil", "pwned\n")),
                  "member 'blobs/../../evil': path escapes the bundle ('..' component)");
}

TEST_F(Malicious, AbsoluteName) {
  std::string target = outside_ / "abs-evil";
  ASSERT_LT(target.size(), 100u);
  expect_rejected(craft(tarcraft::file_member(target, "pwned\n")), "member '" + target + "': absolute path");
  EXPECT_FALSE(exists(target));
}

TEST_F(Malicious, PaxPathOf4096Bytes) {
  std::string name = "blobs/sha256/" + std::string(4096 - 13, 'a');
  std::string tail = tarcraft::pax_header("long", {{"path", name}}) + tarcraft::file_member("short", "x\n");
  expect_rejected(craft(tail), "member name longer than 255 bytes");
}

TEST_F(Malicious, GnuLongNameHeader) {
  std::string name = "blobs/sha256/" + std::string(110, 'b');
  std::string tail = tarcraft::ustar_header("././@LongLink", name.size() + 1, 'L') + tarcraft::padded(name + '\0') +
                     tarcraft::file_member(name.substr(0, 99), "x\n");
  expect_rejected(craft(tail), "member '" + name + "': tar header type 'L' is not allowed in a bundle");
}

// ---- entry types ------------------------------------------------------------------------------

TEST_F(Malicious, SymlinkThenFileThroughIt) {
  std::string tail = tarcraft::ustar_header("escape", 0, '2', outside_.path()) +
                     tarcraft::file_member("escape/pwned", "pwned\n");
  expect_rejected(craft(tail),
                  "member 'escape': symbolic link to '" + outside_.path() + "' (bundles hold only regular files)");
  EXPECT_EQ(count_entries(outside_.path()), 0);
}

TEST_F(Malicious, HardlinkPointingOutside) {
  std::string tail = tarcraft::ustar_header("passwd", 0, '1', "/etc/passwd");
  expect_rejected(craft(tail), "member 'passwd': hard link to '/etc/passwd' (bundles hold only regular files)");
}

TEST_F(Malicious, HardlinkWithData) {
  // CVE-2016-5418: a hard link entry that carries data overwrites its target on extraction.
  std::string tail = tarcraft::ustar_header("shadow", 6, '1', "/etc/shadow") + tarcraft::padded("pwned\n");
  expect_rejected(craft(tail), "member 'shadow': hard link to '/etc/shadow' (bundles hold only regular files)");
}

TEST_F(Malicious, CharacterDeviceNode) {
  std::string tail = tarcraft::ustar_header("blobs/sha256/null", 0, '3', "", 1, 3);
  expect_rejected(craft(tail), "member 'blobs/sha256/null': device node");
}

TEST_F(Malicious, Fifo) {
  std::string tail = tarcraft::ustar_header("blobs/sha256/fifo", 0, '6');
  expect_rejected(craft(tail), "member 'blobs/sha256/fifo': FIFO");
}

// ---- sizes ------------------------------------------------------------------------------------

TEST_F(Malicious, TerabyteDeclaredByPaxOnListedMember) {
  // A listed member whose pax size says 1 TB; only 8 KiB of data follow, then the file ends.
  std::string tail = tarcraft::pax_header("index.json", {{"size", std::to_string(kTerabyte)}}) +
                     tarcraft::ustar_header("index.json", 0, '0') + std::string(8192, '{');
  expect_rejected(craft(tail, false), "member 'index.json': tar header says " + std::to_string(kTerabyte) +
                                          " bytes, bundle.json says " + std::to_string(data_of("index.json").size()));
}

TEST_F(Malicious, TerabyteDeclaredInBase256SizeField) {
  std::string field(12, '\0');
  field[0] = static_cast<char>(0x80);
  for (int i = 0; i < 8; ++i) field[11 - i] = static_cast<char>((kTerabyte >> (8 * i)) & 0xff);
  std::string tail = tarcraft::ustar_header("index.json", 0, '0', "", 0, 0, field) + std::string(8192, '{');
  expect_rejected(craft(tail, false), "member 'index.json': tar header says " + std::to_string(kTerabyte) +
                                          " bytes, bundle.json says " + std::to_string(data_of("index.json").size()));
}

TEST_F(Malicious, PaxSizeDisagreesWithUstarSize) {
  // TARmageddon-style desync: pax says the real size, the ustar field says 1024. A parser that
  // trusts the ustar field swallows the next header ("smuggled") as data; one that trusts pax
  // sees it as a member. Either way the bundle must be refused.
  std::string d = data_of("index.json");
  ASSERT_LT(d.size(), 512u);
  std::string tail = tarcraft::pax_header("index.json", {{"size", std::to_string(d.size())}}) +
                     tarcraft::ustar_header("index.json", 1024, '0') + tarcraft::padded(d) +
                     tarcraft::ustar_header("smuggled", 0, '0');
  expect_rejected(craft(tail), "member 'index.json': PAX size " + std::to_string(d.size()) +
                                   " disagrees with ustar size 1024");
}

// ---- zstd payloads in signed bundles (library-made) -------------------------------------------

// A hand-made zstd frame: optional 8-byte content size, a window of 2^window_log, then one last
// RLE block of `rle` zero bytes.
std::string zstd_frame(int window_log, std::optional<uint64_t> content_size, uint32_t rle) {
  std::string f = "\x28\xb5\x2f\xfd";
  f += static_cast<char>(content_size ? 0xC0 : 0x00);  // FCS field 8 bytes or none; not single-segment
  f += static_cast<char>((window_log - 10) << 3);       // Window_Descriptor: exponent, mantissa 0
  if (content_size) {
    for (int i = 0; i < 8; ++i) f += static_cast<char>((*content_size >> (8 * i)) & 0xff);
  }
  uint32_t bh = (rle << 3) | (1u << 1) | 1u;  // Block_Size | RLE | Last_Block
  for (int i = 0; i < 3; ++i) f += static_cast<char>((bh >> (8 * i)) & 0xff);
  f += '\0';
  return f;
}

// zstd through the library. With pledge: content size in the header; without: no size at all.
std::string zstd_compress(uint64_t zeros, bool pledge) {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, pledge ? 1 : 0);
  if (pledge) ZSTD_CCtx_setPledgedSrcSize(cctx.get(), zeros);
  std::string in(1 << 20, '\0'), out;
  std::vector<char> buf(ZSTD_CStreamOutSize());
  uint64_t left = zeros;
  for (;;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, in.size()));
    left -= n;
    ZSTD_EndDirective mode = left == 0 ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer input = {in.data(), n, 0};
    for (;;) {
      ZSTD_outBuffer output = {buf.data(), buf.size(), 0};
      size_t rem = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      EXPECT_FALSE(ZSTD_isError(rem)) << ZSTD_getErrorName(rem);
      if (ZSTD_isError(rem)) return out;
      out.append(buf.data(), output.pos);
      if (mode == ZSTD_e_end ? rem == 0 : input.pos == input.size) break;
    }
    if (mode == ZSTD_e_end) return out;
  }
}

struct LibBundle {
  std::string path;
  std::string pub;
};

// A bundle with one "file" component whose blob is `blob` (zstd) and whose signed content is
// content_size bytes of zeros, signed with a fresh key pair.
LibBundle make_zstd_bundle(const TempDir& dir, const std::string& name, const std::string& blob,
                           uint64_t content_size) {
  LibBundle out{dir / "lib.bundle", dir / "lib.pub"};
  bundle::KeyPair kp = bundle::generate_key_pair();
  write_all(out.pub, bundle::format_public_key(kp.pub));
  std::string blob_file = dir / "payload.zst";
  write_all(blob_file, blob);

  Sha256 content_hash;
  std::string zeros(1 << 20, '\0');
  for (uint64_t left = content_size; left > 0;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
    content_hash.update(zeros.data(), n);
    left -= n;
  }

  bundle::BundlePlan plan;
  bundle::Manifest& m = plan.manifest;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  m.bundle.name = "airlock-malicious";
  m.bundle.channel = "stable";
  m.bundle.version = 1;
  m.bundle.created = format_rfc3339(now - 3600);
  bundle::Component c;
  c.type = "file";
  c.name = name;
  c.version = "1";
  std::string digest = sha256_digest(blob);
  c.blob = bundle::Descriptor{"application/vnd.airlock.file.v1+zstd", digest, blob.size()};
  c.content = bundle::ContentInfo{content_hash.finish_digest(), content_size};
  c.install = {{"path", "/opt/airlock/" + name}, {"mode", "0644"}};
  m.components.push_back(c);
  plan.oci_layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
  plan.index_json = bundle::make_index_json(m);
  m.files = {{bundle::blob_path(digest), blob.size(), digest},
             {"index.json", plan.index_json.size(), sha256_digest(plan.index_json)},
             {"oci-layout", plan.oci_layout.size(), sha256_digest(plan.oci_layout)}};
  plan.blobs[bundle::blob_path(digest)] = bundle::BlobSource{blob_file, blob.size(), false};
  auto parsed = bundle::parse_manifest(bundle::serialize_manifest(m));
  EXPECT_TRUE(parsed.ok()) << parsed.error().describe();
  auto w = bundle::write_bundle(plan, {&kp.secret}, out.path, 0, now, false);
  EXPECT_TRUE(w.ok()) << w.error().describe();
  return out;
}

TEST_F(Malicious, ControlLibraryMadeZstdBundleIsAccepted) {
  auto b = make_zstd_bundle(work_, "zeros", zstd_compress(1 << 20, true), 1 << 20);
  tarcraft::expect_accepted(b.path, {b.pub});
}

TEST_F(Malicious, ControlHandMadeZstdFrameIsAccepted) {
  // The frame builder used below makes frames the product decodes (window 2^20, size declared).
  auto b = make_zstd_bundle(work_, "rle", zstd_frame(20, 1000, 1000), 1000);
  tarcraft::expect_accepted(b.path, {b.pub});
}

TEST_F(Malicious, ZstdBombWithoutDeclaredContentSize) {
  // 1 GiB of zeros in a frame that does not declare its size; bundle.json says 1 MiB.
  std::string blob = zstd_compress(1ull << 30, false);
  ZSTD_frameHeader fh{};
  ASSERT_EQ(ZSTD_getFrameHeader(&fh, blob.data(), blob.size()), 0u);
  ASSERT_EQ(fh.frameContentSize, ZSTD_CONTENTSIZE_UNKNOWN);
  ASSERT_EQ(ZSTD_decompressBound(blob.data(), blob.size()) >= (1ull << 30), true);
  auto b = make_zstd_bundle(work_, "bomb", blob, 1 << 20);

  // verify only reads frame headers: it may pass this one, or refuse it at the header check.
  auto v = tarcraft::run_measured({"bundle", "verify", b.path, "--pub", b.pub});
  EXPECT_TRUE(v.r.exit_code == 0 || (v.r.exit_code == 1 && v.r.err.find("zstd") != std::string::npos))
      << "verify: exit " << v.r.exit_code << ": " << v.r.err;
  tarcraft::check_limits(v, kLimits, "verify");
  RecordProperty("verify_exit", std::to_string(v.r.exit_code));
  RecordProperty("bomb_blob_bytes", std::to_string(blob.size()));
  // extract decompresses, and must stop just past the signed 1 MiB.
  tarcraft::expect_extract_rejected(b.path, {b.pub},
                                    "component 'bomb': decompresses to more than the 1048576 bytes bundle.json declares",
                                    0, kLimits);
}

TEST_F(Malicious, ZstdFrameDeclaringTenGigabytes) {
  std::string blob = zstd_frame(20, 10'000'000'000ull, 1000);
  ZSTD_frameHeader fh{};
  ASSERT_EQ(ZSTD_getFrameHeader(&fh, blob.data(), blob.size()), 0u);
  ASSERT_EQ(fh.frameContentSize, 10'000'000'000ull);
  auto b = make_zstd_bundle(work_, "declares-10g", blob, 1000);
  tarcraft::expect_rejected(b.path, {b.pub},
                            "component 'declares-10g': zstd frame declares 10000000000 bytes but bundle.json says 1000",
                            0, kLimits);
}

TEST_F(Malicious, ZstdFrameWithWindowLog31) {
  std::string blob = zstd_frame(31, std::nullopt, 1000);
  ZSTD_frameHeader fh{};
  ASSERT_EQ(ZSTD_getFrameHeader(&fh, blob.data(), blob.size()), 0u);
  ASSERT_EQ(fh.windowSize, 1ull << 31);
  auto b = make_zstd_bundle(work_, "wlog31", blob, 1000);
  tarcraft::expect_rejected(b.path, {b.pub}, "component 'wlog31': zstd window of 2147483648 bytes exceeds 2^27", 0,
                            kLimits);
}

}  // namespace
}  // namespace airlock::test
