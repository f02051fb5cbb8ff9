// bundle create with `image:` inputs pulled from a real registry (docker-registry on loopback,
// filled by skopeo): digests kept, the source reference recorded, a platform picked out of a
// multi-platform index, TLS and basic auth; and bad OCI layouts refused with errors that name
// the component (a missing blob, a corrupt layer, a schema1 manifest, an unknown media type).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "tests/e2e/cli_harness.h"
#include "tests/e2e/registry_harness.h"

namespace airlock::test {
namespace {

using nlohmann::json;

// A hand-written OCI layout: blobs are added as bytes, descriptors come back.
class Layout {
 public:
  explicit Layout(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_ + "/blobs/sha256");
    write_all(dir_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
  }
  json blob(const std::string& media_type, const std::string& bytes) {
    std::string d = sha256_digest(bytes);
    write_all(dir_ + "/blobs/sha256/" + d.substr(7), bytes);
    return {{"mediaType", media_type}, {"digest", d}, {"size", bytes.size()}};
  }
  json image(const std::string& arch, const std::string& layer_bytes) {
    json layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", layer_bytes);
    json config = blob("application/vnd.oci.image.config.v1+json",
                       json{{"architecture", arch}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}}.dump());
    return blob("application/vnd.oci.image.manifest.v1+json",
                json{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"config", config},
                     {"layers", {layer}}}.dump());
  }
  void tag(json descriptor, const std::string& name) {
    descriptor["annotations"] = {{"org.opencontainers.image.ref.name", name}};
    write_all(dir_ + "/index.json", json{{"schemaVersion", 2}, {"manifests", {descriptor}}}.dump());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::string gzip_bytes(const std::string& text) {  // a real gzip stream (skopeo may decompress layers)
  TempDir t;
  write_all(t / "x", text);
  run({"gzip", "-n", t / "x"});
  return read_all(t / "x.gz");
}

class ImagesPull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
    key_ = make_key(dir_.path(), "k");
  }
  RunResult create(const std::string& image, const std::vector<std::string>& extra) {
    write_all(dir_ / "b.yaml", "bundle: {name: pulled, version: 1}\ncomponents:\n"
                               "  - {type: oci-image, name: mirror/app, ref: '1', image: '" + image + "'}\n");
    std::vector<std::string> args = {"bundle", "create", "-f", dir_ / "b.yaml", "-o", dir_ / "b.airlock", "--key", key_ + ".key"};
    args.insert(args.end(), extra.begin(), extra.end());
    return airlock(args);
  }
  json listed() {
    auto r = airlock({"images", "list", dir_ / "b.airlock", "--pub", key_ + ".pub", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["images"][0];
  }
  void seed(const Registry& reg, const std::string& src, const std::string& dest, bool all = false) {
    std::vector<std::string> args = {"skopeo", "copy"};
    if (all) args.push_back("--all");
    for (const auto& f : reg.skopeo_flags("dest-")) args.push_back(f);
    args.push_back(src);
    args.push_back("docker://" + reg.host() + "/" + dest);
    auto r = run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  TempDir dir_;
  std::string key_;
};

TEST_F(ImagesPull, KeepsTheDigestAndRecordsTheSource) {
  Registry reg;
  if (!reg.ok()) GTEST_SKIP() << reg.error();
  std::string layout = example_dir() + "/build/oci";
  seed(reg, "oci:" + layout + ":1.35", "src/busybox:1.35");
  std::string image = reg.host() + "/src/busybox:1.35";
  auto r = create(image, {"--registry-insecure"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string original = run({"skopeo", "inspect", "--format", "{{.Digest}}", "oci:" + layout + ":1.35"}).out;
  EXPECT_EQ(listed()["digest"].get<std::string>() + "\n", original);
  r = airlock({"bundle", "extract", dir_ / "b.airlock", "-C", dir_ / "x", "--pub", key_ + ".pub"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto index = json::parse(read_all(dir_ / "x/index.json"));
  EXPECT_EQ(index["manifests"][0]["annotations"]["io.airlock.source"], image);
  EXPECT_EQ(json::parse(read_all(dir_ / "x/bundle.json"))["components"][0]["source"], image);

  r = create(reg.host() + "/src/missing:9", {"--registry-insecure"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("component 'mirror/app'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("src/missing:9: not found in registry"), std::string::npos) << r.err;
}

TEST_F(ImagesPull, PicksOnePlatformOutOfAnIndex) {
  Registry reg;
  if (!reg.ok()) GTEST_SKIP() << reg.error();
  Layout l(dir_ / "multi");
  json amd = l.image("amd64", gzip_bytes("amd64 layer"));
  json arm = l.image("arm64", gzip_bytes("arm64 layer"));
  amd["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  arm["platform"] = {{"os", "linux"}, {"architecture", "arm64"}};
  json index = l.blob("application/vnd.oci.image.index.v1+json",
                      json{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"},
                           {"manifests", {amd, arm}}}.dump());
  l.tag(index, "multi");
  seed(reg, "oci:" + l.dir() + ":multi", "src/multi:1", true);

  auto r = create(reg.host() + "/src/multi:1", {"--registry-insecure", "--platform", "linux/arm64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(listed()["digest"], arm["digest"]);

  r = create(reg.host() + "/src/multi:1", {"--registry-insecure"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(listed()["digest"], index["digest"]);  // all platforms: the index as it was

  r = create(reg.host() + "/src/multi:1", {"--registry-insecure", "--platform", "linux/s390x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no manifest for the platforms asked (available: linux/amd64, linux/arm64)"), std::string::npos) << r.err;
}

TEST_F(ImagesPull, TlsAndBasicAuth) {
  RegistryOptions opts;
  opts.tls = true;
  opts.basic_auth = true;
  Registry reg(opts);
  if (!reg.ok()) GTEST_SKIP() << reg.error();
  seed(reg, "oci:" + example_dir() + "/build/oci:1.35", "src/busybox:1.35");
  std::string image = reg.host() + "/src/busybox:1.35";
  auto r = create(image, {"--registry-ca", reg.ca_file(), "--registry-user", opts.user, "--registry-password-file",
                          reg.password_file()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  write_all(dir_ / "wrong", "nope\n");
  r = create(image, {"--registry-ca", reg.ca_file(), "--registry-user", opts.user, "--registry-password-file", dir_ / "wrong"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.err;
}

// Bad layouts at create time: each refused, naming the component, and no bundle appears.
TEST_F(ImagesPull, BadLayoutsAreRefused) {
  struct Case {
    std::string name;
    std::function<void(Layout&)> build;
    std::string message;
  } cases[] = {
      {"missing-blob",
       [](Layout& l) {
         json m = l.image("amd64", gzip_bytes("x"));
         auto doc = json::parse(read_all(l.dir() + "/blobs/sha256/" + m["digest"].get<std::string>().substr(7)));
         std::filesystem::remove(l.dir() + "/blobs/sha256/" + doc["layers"][0]["digest"].get<std::string>().substr(7));
         l.tag(m, "1");
       },
       "cannot stat"},
      {"corrupt-layer",
       [](Layout& l) {
         json m = l.image("amd64", gzip_bytes("y"));
         auto doc = json::parse(read_all(l.dir() + "/blobs/sha256/" + m["digest"].get<std::string>().substr(7)));
         std::string p = l.dir() + "/blobs/sha256/" + doc["layers"][0]["digest"].get<std::string>().substr(7);
         std::string bytes = read_all(p);
         bytes[bytes.size() / 2] ^= 1;
         write_all(p, bytes);
         l.tag(m, "1");
       },
       "content does not match its digest"},
      {"schema1",
       [](Layout& l) { l.tag(l.blob("application/vnd.docker.distribution.manifest.v1+prettyjws", "{}"), "1"); },
       "docker schema1 manifests are not supported"},
      {"unknown-type",
       [](Layout& l) { l.tag(l.blob("application/vnd.example.manifest.v9+json", "{}"), "1"); },
       "unknown manifest media type 'application/vnd.example.manifest.v9+json'"},
  };
  for (auto& c : cases) {
    Layout l(dir_ / c.name);
    c.build(l);
    write_all(dir_ / "bad.yaml", "bundle: {name: bad, version: 1}\ncomponents:\n"
                                 "  - {type: oci-image, name: site/bad, ref: '1', layout: " + c.name + "}\n");
    auto r = airlock({"bundle", "create", "-f", dir_ / "bad.yaml", "-o", dir_ / (c.name + ".airlock"), "--key", key_ + ".key"});
    EXPECT_NE(r.exit_code, 0) << c.name;
    EXPECT_NE(r.err.find("component 'site/bad'"), std::string::npos) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(exists(dir_ / (c.name + ".airlock"))) << c.name;
  }
}

}  // namespace
}  // namespace airlock::test
