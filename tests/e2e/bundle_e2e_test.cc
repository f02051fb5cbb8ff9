// End-to-end tests of `airlock keygen` and `airlock bundle create|verify|inspect|extract|diff` as an
// operator meets them: the built binary runs on the real example inputs (examples/bundle.yaml), and
// independent tools check what it writes: `sha256sum -c` audits the member listing, `skopeo`
// reads the extracted OCI layout, stock `minisign` verifies airlock signatures and makes keys and
// signatures that airlock must accept. Also covered: reproducible output, t-of-n thresholds, split
// parts and stdin, delta bundles and diff, expiry, --json output, extract --only, bad input files
// (exit codes and messages that name the file, line and column), and the help screens.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSystemBusybox = "/bin/busybox";  // what examples/prepare.sh packs

// Exit code `code`, and every needle somewhere in stderr; on failure shows the whole run.
::testing::AssertionResult exited(const RunResult& r, int code, const std::vector<std::string>& err_has = {}) {
  bool ok = r.exit_code == code;
  for (const auto& n : err_has) ok = ok && r.err.find(n) != std::string::npos;
  if (ok) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure() << "wanted exit " << code;
  for (const auto& n : err_has) f << " and stderr containing \"" << n << "\"";
  return f << "\ngot exit " << r.exit_code << "\n--- stdout:\n" << r.out << "\n--- stderr:\n" << r.err;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

// One JSON document (trailing text makes it fail); null after a reported failure.
json parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) ADD_FAILURE() << "not one JSON document:\n" << text;
  return j;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// Replaces the single occurrence of `from`; false when it is absent or not unique.
bool replace_once(std::string& s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  if (at == std::string::npos || s.find(from, at + 1) != std::string::npos) return false;
  s.replace(at, from.size(), to);
  return true;
}

// Regular files under dir, as sorted paths relative to it.
std::set<std::string> files_under(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

mode_t permissions_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// The key id of a key pair, as minisign prints it on the public key's first line.
std::string key_id(const std::string& base) {
  std::string first = split_lines(read_all(base + ".pub")).at(0);
  return first.substr(first.rfind(' ') + 1);
}

std::string sig_member(const std::string& base) { return "bundle.json." + key_id(base) + ".minisig"; }

std::string hex_of(const std::string& digest) { return digest.substr(digest.find(':') + 1); }

std::vector<std::string> with_pubs(std::vector<std::string> args, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    args.push_back("--pub");
    args.push_back(k + ".pub");
  }
  return args;
}

RunResult verify(const std::string& bundle, const std::vector<std::string>& keys,
                 const std::vector<std::string>& extra = {}, const std::string& input = "") {
  auto args = with_pubs({"bundle", "verify", bundle}, keys);
  args.insert(args.end(), extra.begin(), extra.end());
  return airlock(args, {}, input);
}

RunResult extract(const std::string& bundle, const std::string& dir, const std::vector<std::string>& keys,
                  const std::vector<std::string>& extra = {}) {
  auto args = with_pubs({"bundle", "extract", bundle, "-C", dir}, keys);
  args.insert(args.end(), extra.begin(), extra.end());
  return airlock(args);
}

// `bundle create -f yaml -o out --key K.key ...`, not asserted (for expected failures too).
RunResult create(const std::string& yaml, const std::string& out, const std::vector<std::string>& keys,
                 const std::vector<std::string>& extra = {}, const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> args = {"bundle", "create", "-f", yaml, "-o", out};
  for (const auto& k : keys) {
    args.push_back("--key");
    args.push_back(k + ".key");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return airlock(args, env);
}

json inspect_json(const std::string& bundle) {
  auto r = airlock({"bundle", "inspect", bundle, "--json"});
  EXPECT_TRUE(exited(r, 0));
  return parse_json(r.out);
}

// The component called `name` in `inspect --json` output (null when absent).
json component(const json& inspected, const std::string& name) {
  for (const auto& c : inspected.value("components", json::array())) {
    if (c.value("name", "") == name) return c;
  }
  ADD_FAILURE() << "no component " << name << " in " << inspected.dump(2);
  return nullptr;
}

// Minimal bundle.yaml with one `file` component, in its own directory.
std::string write_file_bundle(const std::string& dir, const std::string& bundle_extra, const std::string& component) {
  fs::create_directories(dir);
  std::string yaml = dir + "/bundle.yaml";
  write_all(yaml, "bundle:\n  name: e2e\n  version: 1\n" + bundle_extra +
                      "components:\n  - type: file\n    name: notes\n" + component);
  return yaml;
}

class BundleE2E : public ::testing::Test {
 protected:
  std::string path(const std::string& rel) const { return tmp_ / rel; }
  // A key pair `name` and the example bundle signed with it, at <name>.airlock.
  std::string signed_example(const std::string& name) {
    std::string key = make_key(tmp_.path(), name);
    create_example(bundle_of(key), {key});
    return key;
  }
  static std::string bundle_of(const std::string& key) { return key + ".airlock"; }

  TempDir tmp_;
  std::string examples_ = example_dir();
};

TEST_F(BundleE2E, RoundTripVerifyExtractAndAuditWithSha256sumAndSkopeo) {
  std::string key = signed_example("ops");
  std::string bundle = bundle_of(key), dir = path("x");

  EXPECT_TRUE(exited(verify(bundle, {key}), 0, {"verified " + bundle, "1 of 1 signature(s) verified"}));
  ASSERT_TRUE(exited(extract(bundle, dir, {key}), 0, {"extracted " + bundle}));

  std::string busybox = dir + "/components/busybox/busybox";
  ASSERT_TRUE(exists(busybox));
  EXPECT_TRUE(read_all(busybox) == read_all(kSystemBusybox)) << busybox << " differs from " << kSystemBusybox;
  EXPECT_EQ(permissions_of(busybox), 0755u);

  auto listing = airlock({"bundle", "inspect", bundle, "--sha256sum"});
  ASSERT_TRUE(exited(listing, 0));
  EXPECT_EQ(split_lines(listing.out).size(), 9u) << listing.out;  // bundle.json + 8 members
  write_all(path("SHA256SUMS"), listing.out);
  auto audit = run({"sh", "-c", "cd '" + dir + "' && sha256sum --strict -c '" + path("SHA256SUMS") + "'"});
  EXPECT_EQ(audit.exit_code, 0) << audit.out << audit.err;
  EXPECT_TRUE(contains(audit.out, "bundle.json: OK")) << audit.out;

  if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed: the OCI layout was not checked";
  auto image = run({"skopeo", "inspect", "oci:" + dir + ":example/busybox-httpd:1.35"});
  ASSERT_EQ(image.exit_code, 0) << image.err;
  json want = component(inspect_json(bundle), "example/busybox-httpd");
  EXPECT_EQ(parse_json(image.out).value("Digest", ""), want.value("digest", "?"));
}

TEST_F(BundleE2E, SameInputsAndEpochGiveIdenticalBytes) {
  std::string key = make_key(tmp_.path(), "ops");
  create_example(path("one.airlock"), {key});
  create_example(path("two.airlock"), {key});
  std::string one = read_all(path("one.airlock"));
  ASSERT_GT(one.size(), 1u << 20);
  EXPECT_TRUE(one == read_all(path("two.airlock"))) << "two creates with the same inputs differ";

  std::string other_epoch = std::to_string(std::stoll(kEpoch) - 86400);
  ASSERT_TRUE(exited(create(examples_ + "/bundle.yaml", path("three.airlock"), {key}, {},
                            {{"SOURCE_DATE_EPOCH", other_epoch}}),
                     0));
  EXPECT_FALSE(one == read_all(path("three.airlock"))) << "SOURCE_DATE_EPOCH did not change the bytes";
}

TEST_F(BundleE2E, MinisignInteropBothWays) {
  if (!have_tool("minisign")) GTEST_SKIP() << "minisign is not installed";

  // (a) Stock minisign verifies a signature made by airlock with an airlock key.
  std::string ops = signed_example("ops");
  ASSERT_TRUE(exited(extract(bundle_of(ops), path("x"), {ops}), 0));
  auto v = run({"minisign", "-Vm", path("x/bundle.json"), "-p", ops + ".pub", "-x", path("x/" + sig_member(ops))});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_TRUE(contains(v.out, "Signature and comment signature verified")) << v.out;
  EXPECT_TRUE(contains(v.out, "\tbundle:airlock-example\tchannel:stable\tversion:1")) << v.out;

  // (b) A key made by minisign signs with airlock, and airlock verifies it.
  std::string mk = path("m");
  auto gen = run({"minisign", "-G", "-W", "-p", mk + ".pub", "-s", mk + ".key"});
  ASSERT_EQ(gen.exit_code, 0) << gen.out << gen.err;
  create_example(bundle_of(mk), {mk});
  EXPECT_TRUE(exited(verify(bundle_of(mk), {mk}), 0, {"1 of 1 signature(s) verified"}));

  // (c) A signature made by minisign (same trusted comment) replaces airlock's, and airlock
  // accepts the re-packed bundle. Ed25519 is deterministic: lines 2-4 must match airlock's.
  std::string mx = path("mx"), sig = mx + "/" + sig_member(mk);
  ASSERT_TRUE(exited(extract(bundle_of(mk), mx, {mk}), 0));
  auto airlock_sig = split_lines(read_all(sig));
  ASSERT_EQ(airlock_sig.size(), 4u);
  const std::string tc_prefix = "trusted comment: ";
  ASSERT_EQ(airlock_sig[2].rfind(tc_prefix, 0), 0u) << airlock_sig[2];
  fs::remove(sig);
  auto s = run({"minisign", "-S", "-s", mk + ".key", "-m", mx + "/bundle.json", "-x", sig, "-t",
                airlock_sig[2].substr(tc_prefix.size())});
  ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  auto minisign_sig = split_lines(read_all(sig));
  ASSERT_EQ(minisign_sig.size(), 4u);
  EXPECT_NE(minisign_sig[0], airlock_sig[0]);  // the untrusted comments name their tools
  EXPECT_EQ(std::vector<std::string>(minisign_sig.begin() + 1, minisign_sig.end()),
            std::vector<std::string>(airlock_sig.begin() + 1, airlock_sig.end()));
  std::vector<std::string> tar = {"tar", "--format=ustar", "--owner=0", "--group=0", "-C", mx,
                                  "-cf", path("repacked.airlock"), "bundle.json", sig_member(mk),
                                  "oci-layout", "index.json"};
  std::set<std::string> blobs;
  for (const auto& e : fs::directory_iterator(mx + "/blobs/sha256")) {
    blobs.insert("blobs/sha256/" + e.path().filename().string());
  }
  tar.insert(tar.end(), blobs.begin(), blobs.end());
  auto packed = run(tar);
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  EXPECT_TRUE(exited(verify(path("repacked.airlock"), {mk}), 0, {"1 of 1 signature(s) verified"}));

  // (d) An encrypted airlock key (scrypt: seconds and ~1 GiB, so only here) signs with the right
  // passphrase only, and stock minisign can use it; minisign reads the password from a non-tty
  // stdin (checked with minisign 0.11).
  std::string enc = path("enc");
  write_all(path("pass"), "correct horse\n");
  write_all(path("wrong"), "battery staple\n");
  ASSERT_TRUE(exited(airlock({"keygen", "-o", enc, "--passphrase-file", path("pass")}), 0));
  std::string yaml = examples_ + "/bundle.yaml";
  ASSERT_TRUE(exited(create(yaml, bundle_of(enc), {enc}, {"--passphrase-file", path("pass")}), 0));
  EXPECT_TRUE(exited(verify(bundle_of(enc), {enc}), 0));
  EXPECT_TRUE(exited(create(yaml, path("nope.airlock"), {enc}, {"--passphrase-file", path("wrong")}), 2,
                     {enc + ".key: wrong passphrase"}));
  EXPECT_FALSE(exists(path("nope.airlock")));
  write_all(path("note.txt"), "signed by minisign with an airlock key\n");
  auto ms = run({"minisign", "-S", "-s", enc + ".key", "-m", path("note.txt")}, {}, "correct horse\n");
  ASSERT_EQ(ms.exit_code, 0) << ms.out << ms.err;
  auto mv = run({"minisign", "-Vm", path("note.txt"), "-p", enc + ".pub"});
  EXPECT_EQ(mv.exit_code, 0) << mv.out << mv.err;
}

TEST_F(BundleE2E, ThresholdCountsDistinctTrustedKeys) {
  std::string a = make_key(tmp_.path(), "a"), b = make_key(tmp_.path(), "b"), c = make_key(tmp_.path(), "c");
  create_example(path("ab.airlock"), {a, b});
  EXPECT_TRUE(exited(verify(path("ab.airlock"), {a, b}, {"--threshold", "2"}), 0, {"2 of 2 signature(s) verified"}));

  create_example(path("a.airlock"), {a});
  EXPECT_TRUE(exited(verify(path("a.airlock"), {a, b}, {"--threshold", "2"}), 1,
                     {"signature threshold not met: 1 valid signature(s) by pinned keys, 2 required"}));
  EXPECT_TRUE(exited(verify(path("a.airlock"), {c}), 1,
                     {"signature threshold not met", key_id(a) + " (unknown key)"}));
}

TEST_F(BundleE2E, SplitPartsJoinToTheSingleFileAndVerifyFromEveryEntryPoint) {
  std::string key = make_key(tmp_.path(), "ops");
  std::string out = path("site.airlock");
  create_example(out, {key}, {"--split", "1M"});
  create_example(path("whole.airlock"), {key});

  std::string joined;
  for (const char* suffix : {".000", ".001", ".002"}) {
    ASSERT_TRUE(exists(out + suffix)) << out << suffix;
    std::string part = read_all(out + suffix);
    EXPECT_LE(part.size(), 1u << 20) << suffix;
    joined += part;
  }
  EXPECT_FALSE(exists(out));
  EXPECT_FALSE(exists(out + ".003"));
  EXPECT_TRUE(joined == read_all(path("whole.airlock"))) << "the parts do not join to the unsplit bundle";

  EXPECT_TRUE(exited(verify(out, {key}), 0, {"verified " + out}));
  EXPECT_TRUE(exited(verify(out + ".000", {key}), 0, {"verified " + out + ".000"}));
  EXPECT_TRUE(exited(verify("-", {key}, {}, joined), 0, {"verified -", "1 of 1 signature(s) verified"}));
}

TEST_F(BundleE2E, DeltaCarriesOnlyChangedBlobsAndDiffReportsTheChange) {
  std::string key = signed_example("ops");
  std::string v1 = bundle_of(key);

  // v2: the example with version 2, absolute input paths and a new site readme.
  std::string yaml = read_all(examples_ + "/bundle.yaml");
  ASSERT_TRUE(replace_once(yaml, "\n  version: 1\n", "\n  version: 2\n"));
  ASSERT_TRUE(replace_once(yaml, "layout: build/", "layout: " + examples_ + "/build/"));
  ASSERT_TRUE(replace_once(yaml, "source: build/busybox", "source: " + examples_ + "/build/busybox"));
  ASSERT_TRUE(replace_once(yaml, "source: build/ibverbs", "source: " + examples_ + "/build/ibverbs"));
  ASSERT_TRUE(replace_once(yaml, "source: README.md", "source: README-v2.md"));
  const std::string readme_v2 = "This site runs release 2 of the example bundle.\n";
  write_all(path("README-v2.md"), readme_v2);
  write_all(path("bundle.yaml"), yaml);
  std::string v2 = path("v2.airlock"), delta = path("v2-delta.airlock");
  ASSERT_TRUE(exited(create(path("bundle.yaml"), v2, {key}), 0));
  ASSERT_TRUE(exited(create(path("bundle.yaml"), delta, {key}, {"--base", v1}), 0, {"delta on v1"}));

  auto d = airlock({"bundle", "diff", v1, v2, "--json"});
  ASSERT_TRUE(exited(d, 0));
  json diff = parse_json(d.out);
  EXPECT_EQ(diff["added"], json::array());
  EXPECT_EQ(diff["removed"], json::array());
  ASSERT_EQ(diff["changed"].size(), 1u) << diff.dump(2);
  EXPECT_EQ(diff["changed"][0].value("name", ""), "site-readme");
  EXPECT_EQ(diff.value("unchanged", -1), 3);
  // delta_bytes counts the members v1 lacks: only the new readme blob (index.json is unchanged).
  json readme = component(inspect_json(v2), "site-readme");
  EXPECT_EQ(diff.value("delta_files", 0), 1);
  EXPECT_EQ(diff.value("delta_bytes", 0), readme.value("stored_bytes", -1));
  EXPECT_GT(diff.value("delta_bytes", 0), 0);
  EXPECT_LT(diff.value("delta_bytes", 0), diff.value("new_bytes", 0));
  EXPECT_LT(read_all(delta).size() * 50, read_all(v2).size()) << "the delta is not much smaller than v2";

  json info = inspect_json(delta);
  EXPECT_EQ(info["base"].value("version", 0), 1);
  EXPECT_EQ(info["base"].value("manifest", ""), inspect_json(v1).value("manifest_digest", "?"));
  EXPECT_TRUE(exited(verify(delta, {key}), 0, {"verified " + delta}));

  EXPECT_TRUE(exited(extract(delta, path("d"), {key}), 2, {"delta", "--base"}));
  EXPECT_FALSE(exists(path("d")));
  ASSERT_TRUE(exited(extract(delta, path("d"), {key}, {"--base", v1}), 0));
  EXPECT_EQ(read_all(path("d/components/site-readme/README.md")), readme_v2);
}

TEST_F(BundleE2E, BadInputFilesAreNamedWithTheRightExitCode) {
  std::string key = signed_example("ops");

  std::string typo = write_file_bundle(path("typo"), "", "    version: \"1\"\n    sorce: notes.txt\n");
  EXPECT_TRUE(exited(create(typo, path("typo.airlock"), {key}), 2,
                     {typo + ":8:5: components[0]: unknown field 'sorce'"}));
  EXPECT_FALSE(exists(path("typo.airlock")));

  std::string missing = write_file_bundle(path("missing"), "", "    version: \"1\"\n    source: nothere.txt\n");
  EXPECT_TRUE(exited(create(missing, path("missing.airlock"), {key}), 3,
                     {"cannot open " + path("missing/nothere.txt") + ": No such file or directory"}));
  EXPECT_FALSE(exists(path("missing.airlock")));

  EXPECT_TRUE(exited(verify(path("absent.airlock"), {key}), 3,
                     {"cannot open bundle " + path("absent.airlock") + ": No such file or directory"}));

  std::mt19937 gen(42);
  std::string noise(64 * 1024, '\0');
  for (auto& ch : noise) ch = static_cast<char>(gen());
  write_all(path("noise.airlock"), noise);
  EXPECT_TRUE(exited(verify(path("noise.airlock"), {key}), 1, {path("noise.airlock") + ": not a tar archive"}));

  std::string busy = path("busy");
  fs::create_directories(busy);
  write_all(busy + "/keep.txt", "operator data\n");
  EXPECT_TRUE(exited(extract(bundle_of(key), busy, {key}), 2, {busy + " exists and is not empty"}));
  EXPECT_EQ(files_under(busy), std::set<std::string>{"keep.txt"});
  EXPECT_EQ(read_all(busy + "/keep.txt"), "operator data\n");
}

TEST_F(BundleE2E, ExpiredBundleIsRefusedUnlessAllowed) {
  std::string key = make_key(tmp_.path(), "ops");
  std::string yaml = write_file_bundle(path("exp"), "  expires: 2026-01-01T00:00:00Z\n",
                                       "    version: \"1\"\n    source: notes.txt\n");
  write_all(path("exp/notes.txt"), "short-lived\n");
  std::string bundle = path("exp.airlock");
  ASSERT_TRUE(exited(create(yaml, bundle, {key}, {}, {{"SOURCE_DATE_EPOCH", "1735689600"}}), 0));  // 2025-01-01

  // verify reads the wall clock (this test assumes it is past 2026-01-01).
  EXPECT_TRUE(exited(verify(bundle, {key}), 1, {"expired at 2026-01-01T00:00:00Z", "--allow-expired"}));
  EXPECT_TRUE(exited(verify(bundle, {key}, {"--allow-expired"}), 0, {"warning: ", "expired"}));
}

TEST_F(BundleE2E, JsonOutputIsOneDocumentForSuccessAndFailure) {
  std::string key = signed_example("ops");
  std::string other = make_key(tmp_.path(), "other");

  auto ok = verify(bundle_of(key), {key}, {"--json"});
  ASSERT_TRUE(exited(ok, 0));
  json j = parse_json(ok.out);
  EXPECT_EQ(j.value("ok", false), true);
  EXPECT_EQ(j.value("name", ""), "airlock-example");
  EXPECT_EQ(j.value("version", 0), 1);
  EXPECT_EQ(j.value("manifest_digest", ""), inspect_json(bundle_of(key)).value("manifest_digest", "?"));

  auto bad = verify(bundle_of(key), {other}, {"--json"});
  ASSERT_TRUE(exited(bad, 1));
  json e = parse_json(bad.out);
  EXPECT_EQ(e.value("ok", true), false);
  ASSERT_TRUE(e.contains("error") && e["error"].is_object()) << bad.out;
  EXPECT_EQ(e["error"].value("code", ""), "signature");
  EXPECT_TRUE(contains(e["error"].value("message", ""), "signature threshold not met")) << bad.out;
}

TEST_F(BundleE2E, ExtractOnlyWritesOneComponentAndTheLayoutFiles) {
  std::string key = signed_example("ops");
  std::string dir = path("only");
  ASSERT_TRUE(exited(extract(bundle_of(key), dir, {key}, {"--only", "busybox"}), 0));

  std::string blob = "blobs/sha256/" + hex_of(component(inspect_json(bundle_of(key)), "busybox").value("digest", ""));
  std::set<std::string> want = {blob, "bundle.json", sig_member(key), "components/busybox/busybox",
                                "index.json", "oci-layout"};
  EXPECT_EQ(files_under(dir), want);
  EXPECT_TRUE(read_all(dir + "/components/busybox/busybox") == read_all(kSystemBusybox));
}

TEST_F(BundleE2E, HelpVersionAndUsageErrors) {
  auto top = airlock({"--help"});
  EXPECT_TRUE(exited(top, 0));
  EXPECT_TRUE(contains(top.out, "keygen") && contains(top.out, "bundle")) << top.out;

  auto create_help = airlock({"bundle", "create", "--help"});
  EXPECT_TRUE(exited(create_help, 0));
  EXPECT_TRUE(contains(create_help.out, "--split") && contains(create_help.out, "--base")) << create_help.out;

  auto version = airlock({"--version"});
  EXPECT_TRUE(exited(version, 0));
  EXPECT_EQ(version.out.rfind("airlock ", 0), 0u) << version.out;

  EXPECT_TRUE(exited(airlock({"bundle", "verify"}), 2, {"bundle is required"}));
}

}  // namespace
}  // namespace airlock::test
