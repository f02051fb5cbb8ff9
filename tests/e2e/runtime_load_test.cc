// images::load_image, the library call the node agent uses: a docker-archive stream from the
// verified bundle piped into `docker load` / `ctr images import -` / `podman load`. The
// engines do not run here, so stand-ins with the same names on PATH capture the stream, and
// skopeo (an independent reader) checks that it is a loadable docker-archive of the same image.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/process.h"
#include "images/runtime_load.h"
#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

class RuntimeLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = make_key(dir_.path(), "k");
    bundle_ = dir_ / "b.airlock";
    create_example(bundle_, {key_});
    bin_ = dir_ / "bin";
    std::filesystem::create_directories(bin_);
    old_path_ = std::getenv("PATH");
    setenv("PATH", (bin_ + ":" + old_path_).c_str(), 1);
  }
  void TearDown() override { setenv("PATH", old_path_.c_str(), 1); }

  // A stand-in runtime command: saves its stdin and its arguments, then runs `tail`.
  void fake(const std::string& name, const std::string& tail = "echo Loaded image") {
    std::string path = bin_ + "/" + name;
    write_all(path, "#!/bin/sh\necho \"$@\" > " + dir_.path() + "/" + name + ".args\ncat > " + dir_.path() + "/" + name +
                        ".tar\n" + tail + "\n");
    chmod(path.c_str(), 0755);
  }

  images::BundleImages open() {
    bundle::VerifyOptions opts;
    auto pub = bundle::parse_public_key(read_all(key_ + ".pub"), "k.pub");
    opts.keys = {*pub};
    opts.now = 1795824000 + 60;
    auto b = images::BundleImages::open(bundle_, opts);
    EXPECT_TRUE(b.ok()) << b.error().describe();
    return std::move(b).value();
  }

  TempDir dir_;
  std::string key_, bundle_, bin_, old_path_;
  SystemProcessRunner runner_;
};

TEST_F(RuntimeLoad, ChoosesByProbeFacts) {
  using images::Runtime;
  EXPECT_EQ(*images::choose_runtime({true, true, true}), Runtime::kDocker);
  EXPECT_EQ(*images::choose_runtime({false, true, true}), Runtime::kContainerd);
  EXPECT_EQ(*images::choose_runtime({false, false, true}), Runtime::kPodman);
  EXPECT_EQ(*images::choose_runtime({true, true, false}, Runtime::kContainerd), Runtime::kContainerd);
  auto none = images::choose_runtime({});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "the node has no container runtime (docker, containerd or podman)");
  EXPECT_FALSE(images::choose_runtime({true, false, false}, Runtime::kPodman).ok());
}

TEST_F(RuntimeLoad, StreamsADockerArchiveIntoEachRuntime) {
  if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  auto b = open();
  auto img = b.find("example/busybox-httpd:1.35");
  ASSERT_TRUE(img.ok()) << img.error().describe();
  images::LoadOptions opts;
  opts.containerd_namespace = "k8s.io";
  struct Case {
    images::Runtime runtime;
    std::string program, args;
  } cases[] = {{images::Runtime::kDocker, "docker", "load"},
               {images::Runtime::kContainerd, "ctr", "--namespace k8s.io images import -"},
               {images::Runtime::kPodman, "podman", "load"}};
  for (const auto& c : cases) {
    fake(c.program);
    auto st = images::load_image(runner_, c.runtime, b, *img, opts);
    ASSERT_TRUE(st.ok()) << st.error().describe();
    EXPECT_EQ(read_all(dir_ / (c.program + ".args")), c.args + "\n");
    auto inspect = run({"skopeo", "inspect", "--raw", "docker-archive:" + dir_ / (c.program + ".tar")});
    ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
    auto manifest = nlohmann::json::parse(inspect.out);
    // The config is carried byte for byte: its digest is the one the bundle's manifest names.
    auto bundle_manifest = nlohmann::json::parse(img->manifests.back().bytes);
    EXPECT_EQ(manifest["config"]["digest"], bundle_manifest["config"]["digest"]) << c.program;
  }
}

TEST_F(RuntimeLoad, RuntimeFailureAndHangAreReported) {
  auto b = open();
  auto img = b.find("example/busybox-httpd");
  ASSERT_TRUE(img.ok());
  fake("docker", "echo 'Error processing tar file: no space left on device' >&2; exit 1");
  auto st = images::load_image(runner_, images::Runtime::kDocker, b, *img, {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "loading example/busybox-httpd:1.35 into docker: docker exited with 1: Error processing tar file: no space "
            "left on device");

  write_all(bin_ + "/podman", "#!/bin/sh\nsleep 30\n");
  chmod((bin_ + "/podman").c_str(), 0755);
  images::LoadOptions opts;
  opts.timeout = std::chrono::milliseconds(500);
  auto start = std::chrono::steady_clock::now();
  st = images::load_image(runner_, images::Runtime::kPodman, b, *img, opts);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("did not finish within 500 ms and was killed"), std::string::npos) << st.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace airlock::test
