// bundle create with image archives as inputs, through the CLI: an oci-archive keeps the
// image's digest; a docker-archive (made by skopeo, the legacy `docker save` form) keeps its
// config and layers byte for byte. skopeo makes the archives and reads the results back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

class ImagesInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
    layout_ = example_dir() + "/build/oci";
    key_ = make_key(dir_.path(), "k");
  }

  // Creates a bundle with one image from `archive` and returns `images list --json`'s entry.
  nlohmann::json bundle_from(const std::string& archive) {
    write_all(dir_ / "b.yaml", "bundle: {name: in, version: 1}\ncomponents:\n"
                               "  - {type: oci-image, name: example/app, ref: '1.35', archive: " + archive + "}\n");
    auto r = airlock({"bundle", "create", "-f", dir_ / "b.yaml", "-o", dir_ / "b.airlock", "--key", key_ + ".key"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = airlock({"images", "list", dir_ / "b.airlock", "--pub", key_ + ".pub", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["images"][0];
  }

  nlohmann::json raw(const std::string& transport) {
    auto r = run({"skopeo", "inspect", "--raw", transport});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  TempDir dir_;
  std::string layout_, key_;
};

TEST_F(ImagesInputs, OciArchiveKeepsTheImageDigest) {
  ASSERT_EQ(run({"skopeo", "copy", "oci:" + layout_ + ":1.35", "oci-archive:" + dir_ / "img.tar:1.35"}).exit_code, 0);
  auto listed = bundle_from(dir_ / "img.tar");
  std::string original = run({"skopeo", "inspect", "--format", "{{.Digest}}", "oci:" + layout_ + ":1.35"}).out;
  EXPECT_EQ(listed["digest"].get<std::string>() + "\n", original);
}

TEST_F(ImagesInputs, DockerArchiveKeepsConfigAndLayers) {
  ASSERT_EQ(run({"skopeo", "copy", "oci:" + layout_ + ":1.35", "docker-archive:" + dir_ / "img.tar:example/app:1.35"}).exit_code, 0);
  auto listed = bundle_from(dir_ / "img.tar");
  ASSERT_EQ(listed["name"], "example/app");
  // Export the bundled image as an oci-archive and compare with what skopeo reads from the
  // original docker-archive: the same config and the same (uncompressed) layers.
  auto r = airlock({"images", "export", dir_ / "b.airlock", "example/app", "--format", "oci", "-o", dir_ / "out.tar",
                    "--pub", key_ + ".pub"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto bundled = raw("oci-archive:" + dir_ / "out.tar");
  auto source = raw("docker-archive:" + dir_ / "img.tar");
  EXPECT_EQ(bundled["config"]["digest"], source["config"]["digest"]);
  ASSERT_EQ(bundled["layers"].size(), source["layers"].size());
  for (size_t i = 0; i < source["layers"].size(); ++i) {
    EXPECT_EQ(bundled["layers"][i]["digest"], source["layers"][i]["digest"]);
  }
}

TEST_F(ImagesInputs, BadArchiveIsNamed) {
  write_all(dir_ / "junk.tar", std::string(4096, 'x'));
  write_all(dir_ / "b.yaml", "bundle: {name: in, version: 1}\ncomponents:\n"
                             "  - {type: oci-image, name: example/app, ref: '1', archive: junk.tar}\n");
  auto r = airlock({"bundle", "create", "-f", dir_ / "b.yaml", "-o", dir_ / "b.airlock", "--key", key_ + ".key"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("b.yaml:3:5: component 'example/app'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("junk.tar"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_ / "b.airlock"));
}

}  // namespace
}  // namespace airlock::test
