// Tests for images/archive_import: docker-archive and oci-archive made by the real tools (umoci
// builds an OCI layout, skopeo writes both archive kinds; skipped with a reason when either is
// missing) are converted and checked with skopeo and against the archive's own bytes; archives
// crafted here with libarchive cover the legacy `docker save` form (symlinked repeated layers,
// manifest.json after the layers, gzip layers) and the refusals: "..", escaping symlinks, hard
// links, devices, FIFOs, a missing layer, an unknown tag, a blob that does not match its name,
// truncated and non-tar input. Each refusal leaves work_dir empty and nothing outside it.
#include "images/archive_import.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "bundle/oci_layout.h"
#include "bundle/spec.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/sha256.h"

namespace airlock::images {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Helpers

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return buf.data();
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command; returns its exit status, with stdout+stderr in *output when given.
int run(const std::string& cmd, std::string* output = nullptr) {
  std::string log = make_temp_dir("airlock-cmd") + "/out";
  int rc = std::system((cmd + " >" + shell_quote(log) + " 2>&1").c_str());
  if (output) {
    auto text = read_file(log);
    *output = text.ok() ? *text : "";
  }
  remove_tree(dirname_of(log));
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool have_tool(const char* name) { return run(std::string("command -v ") + name) == 0; }

std::string slurp(const std::string& path) {
  auto r = read_file(path, 1ull << 30);
  return r.ok() ? *r : "";
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// One member of a hand-made tar.
struct Item {
  Item(std::string n, std::string d = "", char t = 'f', std::string l = "")
      : name(std::move(n)), data(std::move(d)), type(t), link(std::move(l)) {}
  std::string name;
  std::string data;
  char type = 'f';  // f file, d dir, l symlink, h hardlink, p FIFO, c char device
  std::string link;
};

void write_tar(const std::string& path, const std::vector<Item>& items) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& it : items) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.name.c_str());
    archive_entry_set_mtime(e, 0, 0);
    switch (it.type) {
      case 'f':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, static_cast<la_int64_t>(it.data.size()));
        break;
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, it.link.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_hardlink(e, it.link.c_str());
        archive_entry_set_size(e, 0);
        break;
      case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        archive_entry_set_perm(e, 0644);
        break;
      case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_rdev(e, ::makedev(1, 3));
        break;
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << it.name << ": " << archive_error_string(a);
    if (it.type == 'f' && !it.data.empty()) {
      ASSERT_EQ(archive_write_data(a, it.data.data(), it.data.size()), static_cast<la_ssize_t>(it.data.size()));
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string hex_of(const std::string& digest) { return std::string(digest_hex(digest)); }

// A small legacy docker-archive: two layers (the second is a symlink to the first, as `docker
// save` writes a repeated layer), a gzip layer, the manifest after the layers.
struct DockerFixture {
  std::string config = R"({"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers"}})";
  std::string layer = std::string(300000, 'x') + "layer-one";            // not JSON-looking: streamed
  std::string gz_layer = std::string("\x1f\x8b\x08\x00", 4) + std::string(1000, 'g');
  std::vector<Item> items(const json& manifest) const {
    return {
        {"aaa", "", 'd'},
        {"aaa/layer.tar", layer},
        {"bbb", "", 'd'},
        {"bbb/layer.tar", "", 'l', "../aaa/layer.tar"},
        {"ccc/layer.tar", gz_layer},
        {"cfg.json", config},
        {"manifest.json", manifest.dump()},
    };
  }
  json manifest(const json& tags = json::array({"example/app:1.0"})) const {
    return json::array({{{"Config", "cfg.json"},
                         {"RepoTags", tags},
                         {"Layers", {"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"}}}});
  }
};

// An oci-archive with one image; `layer_bytes` is stored under the name of `layer_named`.
std::vector<Item> oci_items(const std::string& layer_named, const std::string& layer_bytes,
                            const std::string& config = R"({"architecture":"amd64","os":"linux"})",
                            const json& annotations = {{"org.opencontainers.image.ref.name", "t1"}}) {
  std::string layer_digest = sha256_digest(layer_named);
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", sha256_digest(config)},
                               {"size", config.size()}}},
                   {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                            {"digest", layer_digest},
                                            {"size", layer_named.size()}}})}};
  std::string mbytes = manifest.dump();
  json index = {{"schemaVersion", 2},
                {"manifests", json::array({{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                            {"digest", sha256_digest(mbytes)},
                                            {"size", mbytes.size()},
                                            {"annotations", annotations}}})}};
  return {
      {"blobs", "", 'd'},
      {"blobs/sha256", "", 'd'},
      {"blobs/sha256/" + hex_of(layer_digest), layer_bytes},
      {"blobs/sha256/" + hex_of(sha256_digest(config)), config},
      {"blobs/sha256/" + hex_of(sha256_digest(mbytes)), mbytes},
      {"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"},
      {"index.json", index.dump()},
  };
}

// The single index entry of a layout and the manifest it points at.
struct LayoutView {
  json entry;
  json manifest;
  std::string manifest_bytes;
};

LayoutView read_layout(const std::string& dir) {
  LayoutView v;
  auto index = parse_json(slurp(dir + "/index.json"), "index.json");
  if (!index.ok() || !(*index)["manifests"].is_array() || (*index)["manifests"].size() != 1) return v;
  v.entry = (*index)["manifests"][0];
  v.manifest_bytes = slurp(dir + "/blobs/sha256/" + hex_of(v.entry["digest"].get<std::string>()));
  auto m = parse_json(v.manifest_bytes, "manifest");
  if (m.ok()) v.manifest = *m;
  return v;
}

// Every blob file's sha256 matches its name.
void expect_blobs_match_names(const std::string& dir) {
  for (const auto& name : list_dir(dir + "/blobs/sha256")) {
    auto d = sha256_file(dir + "/blobs/sha256/" + name);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(hex_of(*d), name) << dir;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixture: a scratch dir per test; the umoci/skopeo archives once per suite.

class ArchiveImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tools_dir_ = new std::string(make_temp_dir("airlock-import-tools"));
    skip_reason_ = new std::string();
    for (const char* tool : {"umoci", "skopeo"}) {
      if (!have_tool(tool)) {
        *skip_reason_ = std::string(tool) + " is not installed (apt-get install umoci skopeo)";
        return;
      }
    }
    const std::string d = *tools_dir_;
    const std::string script =
        "set -e; cd " + shell_quote(d) +
        "; umoci init --layout D; umoci new --image D:t1; umoci unpack --rootless --image D:t1 B;"
        " echo hi > B/rootfs/hello; umoci repack --image D:t1 B;"
        " skopeo copy oci:D:t1 docker-archive:F.tar:example/app:t1;"
        " skopeo copy oci:D:t1 oci-archive:G.tar:t1";
    std::string out;
    if (run("bash -c " + shell_quote(script), &out) != 0) {
      *skip_reason_ = "could not build the umoci/skopeo fixtures: " + out;
    }
  }
  static void TearDownTestSuite() {
    remove_tree(*tools_dir_);
    delete tools_dir_;
    delete skip_reason_;
  }

  void SetUp() override {
    root_ = make_temp_dir("airlock-import");
    ASSERT_FALSE(root_.empty());
    work_ = root_ + "/work";
    ASSERT_EQ(::mkdir(work_.c_str(), 0700), 0);
  }
  void TearDown() override { remove_tree(root_); }

  static std::string tool_file(const std::string& name) { return *tools_dir_ + "/" + name; }

  std::string craft(const std::string& name, const std::vector<Item>& items) {
    std::string path = root_ + "/" + name;
    write_tar(path, items);
    return path;
  }

  // The conversion fails with `code`, the message names the archive and holds every piece of
  // `expected`, and nothing was added to work_ or written next to it.
  void expect_refused(const std::string& archive, const std::string& format, const std::string& tag,
                      Errc code, const std::vector<std::string>& expected) {
    std::vector<std::string> before = list_dir(root_);
    std::vector<std::string> work_before = list_dir(work_);
    auto r = archive_to_layout(archive, format, tag, work_, "out");
    ASSERT_FALSE(r.ok()) << archive << " was accepted: " << *r;
    std::string msg = r.error().describe();
    EXPECT_EQ(r.error().root_code(), code) << msg;
    EXPECT_NE(msg.find(archive), std::string::npos) << msg;
    for (const auto& e : expected) EXPECT_NE(msg.find(e), std::string::npos) << "missing '" << e << "' in: " << msg;
    EXPECT_EQ(list_dir(work_), work_before) << "work_dir not cleaned up after: " << msg;
    EXPECT_EQ(list_dir(root_), before) << "something was written next to work_dir";
  }

  static std::string* tools_dir_;
  static std::string* skip_reason_;
  std::string root_;
  std::string work_;
};

std::string* ArchiveImport::tools_dir_ = nullptr;
std::string* ArchiveImport::skip_reason_ = nullptr;

#define REQUIRE_TOOLS()                                            \
  do {                                                             \
    if (!skip_reason_->empty()) GTEST_SKIP() << *skip_reason_;     \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Archives made by the real tools

TEST_F(ArchiveImport, DockerArchiveFromSkopeo) {
  REQUIRE_TOOLS();
  const std::string archive = tool_file("F.tar");
  auto layout = archive_to_layout(archive, "", "example/app:t1", work_, "v1");
  ASSERT_TRUE(layout.ok()) << layout.error().describe();
  EXPECT_EQ(dirname_of(*layout), work_);

  std::string out;
  EXPECT_EQ(run("skopeo inspect " + shell_quote("oci:" + *layout + ":v1"), &out), 0) << out;
  std::string raw;
  ASSERT_EQ(run("skopeo inspect --raw " + shell_quote("oci:" + *layout + ":v1"), &raw), 0) << raw;

  LayoutView v = read_layout(*layout);
  EXPECT_EQ(raw, v.manifest_bytes);
  EXPECT_EQ(v.entry["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(v.entry["annotations"]["org.opencontainers.image.ref.name"], "v1");
  EXPECT_EQ(v.entry["platform"]["os"], "linux");
  EXPECT_EQ(v.manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(v.manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");

  // Config and layers are the archive's own bytes, by sha256 and size.
  std::string x = root_ + "/x";
  ASSERT_EQ(::mkdir(x.c_str(), 0700), 0);
  ASSERT_EQ(run("tar -xf " + shell_quote(archive) + " -C " + shell_quote(x), &out), 0) << out;
  auto docker_manifest = parse_json(slurp(x + "/manifest.json"), "manifest.json");
  ASSERT_TRUE(docker_manifest.ok());
  const json& img = (*docker_manifest)[0];
  std::string config_bytes = slurp(x + "/" + img["Config"].get<std::string>());
  EXPECT_EQ(v.manifest["config"]["digest"], sha256_digest(config_bytes));
  EXPECT_EQ(v.manifest["config"]["size"], config_bytes.size());
  ASSERT_EQ(v.manifest["layers"].size(), img["Layers"].size());
  for (size_t i = 0; i < img["Layers"].size(); ++i) {
    std::string bytes = slurp(x + "/" + img["Layers"][i].get<std::string>());
    const json& l = v.manifest["layers"][i];
    EXPECT_EQ(l["digest"], sha256_digest(bytes));
    EXPECT_EQ(l["size"], bytes.size());
    EXPECT_EQ(l["mediaType"], "application/vnd.oci.image.layer.v1.tar");  // skopeo stores them uncompressed
  }
  expect_blobs_match_names(*layout);

  // bundle create's reader accepts it, and skopeo can write it back out as a docker-archive.
  auto img_read = bundle::load_oci_image(*layout, "v1");
  ASSERT_TRUE(img_read.ok()) << img_read.error().describe();
  EXPECT_EQ(img_read->blobs.size(), 2u + img["Layers"].size());
  EXPECT_EQ(run("skopeo copy " + shell_quote("oci:" + *layout + ":v1") + " " +
                    shell_quote("docker-archive:" + root_ + "/back.tar:example/back:v1"),
                &out),
            0)
      << out;
}

TEST_F(ArchiveImport, DockerArchiveTagForms) {
  REQUIRE_TOOLS();
  // skopeo records RepoTags as "docker.io/example/app:t1".
  for (const char* tag : {"", "t1", "example/app:t1", "docker.io/example/app:t1"}) {
    auto layout = archive_to_layout(tool_file("F.tar"), "docker-archive", tag, work_, "v1");
    EXPECT_TRUE(layout.ok()) << "tag '" << tag << "': " << layout.error().describe();
  }
  expect_refused(tool_file("F.tar"), "", "example/app:t2", Errc::kNotFound,
                 {"no image tagged 'example/app:t2'", "available: docker.io/example/app:t1"});
}

TEST_F(ArchiveImport, OciArchiveFromSkopeo) {
  REQUIRE_TOOLS();
  const std::string archive = tool_file("G.tar");
  auto layout = archive_to_layout(archive, "", "t1", work_, "v1");
  ASSERT_TRUE(layout.ok()) << layout.error().describe();
  std::string out;
  EXPECT_EQ(run("skopeo inspect " + shell_quote("oci:" + *layout + ":v1"), &out), 0) << out;

  // The same manifest as the layout skopeo copied from, and each blob is the archive's bytes.
  auto source = parse_json(slurp(tool_file("D/index.json")), "index.json");
  ASSERT_TRUE(source.ok());
  LayoutView v = read_layout(*layout);
  EXPECT_EQ(v.entry["digest"], (*source)["manifests"][0]["digest"]);
  EXPECT_EQ(v.entry["annotations"]["org.opencontainers.image.ref.name"], "v1");
  std::string x = root_ + "/x";
  ASSERT_EQ(::mkdir(x.c_str(), 0700), 0);
  ASSERT_EQ(run("tar -xf " + shell_quote(archive) + " -C " + shell_quote(x), &out), 0) << out;
  ASSERT_FALSE(v.manifest["layers"].empty());
  for (const auto& l : v.manifest["layers"]) {
    std::string bytes = slurp(x + "/blobs/sha256/" + hex_of(l["digest"].get<std::string>()));
    EXPECT_EQ(l["digest"], sha256_digest(bytes));
    EXPECT_EQ(slurp(*layout + "/blobs/sha256/" + hex_of(l["digest"].get<std::string>())), bytes);
  }
  expect_blobs_match_names(*layout);
  EXPECT_EQ(list_dir(*layout + "/blobs/sha256").size(), 2u + v.manifest["layers"].size());
  EXPECT_TRUE(bundle::load_oci_image(*layout, "v1").ok());
  EXPECT_EQ(run("skopeo copy " + shell_quote("oci:" + *layout + ":v1") + " " +
                    shell_quote("docker-archive:" + root_ + "/back.tar:example/back:v1"),
                &out),
            0)
      << out;

  expect_refused(archive, "", "t9", Errc::kNotFound, {"no image tagged 't9'", "(available: t1)"});
}

TEST_F(ArchiveImport, GzippedArchivesAndExplicitFormats) {
  REQUIRE_TOOLS();
  std::string out;
  std::string gz = root_ + "/F.tar.gz";
  ASSERT_EQ(run("sh -c " + shell_quote("gzip -c " + shell_quote(tool_file("F.tar")) + " > " + shell_quote(gz))), 0);
  auto layout = archive_to_layout(gz, "", "", work_, "v1");
  ASSERT_TRUE(layout.ok()) << layout.error().describe();
  EXPECT_EQ(run("skopeo inspect " + shell_quote("oci:" + *layout + ":v1"), &out), 0) << out;
  remove_tree(*layout);

  expect_refused(tool_file("G.tar"), "docker-archive", "", Errc::kNotFound, {"no 'manifest.json'"});
  expect_refused(tool_file("F.tar"), "oci-archive", "", Errc::kNotFound, {"no 'oci-layout'"});
  auto bad = archive_to_layout(tool_file("F.tar"), "tarball", "", work_, "v1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Hand-made archives: the legacy docker form

TEST_F(ArchiveImport, LegacyDockerSaveWithSymlinkedLayerAndGzip) {
  DockerFixture f;
  std::string archive = craft("legacy.tar", f.items(f.manifest()));
  auto layout = archive_to_layout(archive, "", "", work_, "app:1.0");
  ASSERT_TRUE(layout.ok()) << layout.error().describe();
  LayoutView v = read_layout(*layout);
  EXPECT_EQ(v.entry["annotations"]["org.opencontainers.image.ref.name"], "app:1.0");
  EXPECT_EQ(v.entry["platform"], json({{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}));
  EXPECT_EQ(v.entry["digest"], sha256_digest(v.manifest_bytes));
  EXPECT_EQ(v.entry["size"], v.manifest_bytes.size());
  EXPECT_EQ(v.manifest_bytes, v.manifest.dump());  // stable key order: nlohmann's dump
  EXPECT_EQ(v.manifest["schemaVersion"], 2);
  EXPECT_EQ(v.manifest["config"]["digest"], sha256_digest(f.config));
  const json& layers = v.manifest["layers"];
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0]["digest"], sha256_digest(f.layer));
  EXPECT_EQ(layers[1]["digest"], sha256_digest(f.layer));  // through the symlink
  EXPECT_EQ(layers[2]["digest"], sha256_digest(f.gz_layer));
  EXPECT_EQ(layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(layers[2]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(layers[2]["size"], f.gz_layer.size());
  EXPECT_EQ(slurp(*layout + "/blobs/sha256/" + hex_of(sha256_digest(f.layer))), f.layer);
  EXPECT_EQ(list_dir(*layout + "/blobs/sha256").size(), 4u);  // config, 2 distinct layers, manifest
  expect_blobs_match_names(*layout);
  EXPECT_EQ(slurp(*layout + "/oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");

  // Deterministic: the same archive gives the same layout bytes.
  auto again = archive_to_layout(archive, "", "", work_, "app:1.0");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *layout);
  EXPECT_EQ(slurp(*again + "/index.json"), slurp(*layout + "/index.json"));

  auto img = bundle::load_oci_image(*layout, "app:1.0");
  ASSERT_TRUE(img.ok()) << img.error().describe();
  EXPECT_EQ(img->blobs.size(), 4u);
}

TEST_F(ArchiveImport, PicksAnImageByTag) {
  DockerFixture f;
  json manifest = f.manifest(json::array({"example/app:1.0", "example/app:latest"}));
  manifest.push_back({{"Config", "cfg.json"}, {"RepoTags", {"other/tool:2"}}, {"Layers", {"ccc/layer.tar"}}});
  manifest.push_back({{"Config", "cfg.json"}, {"RepoTags", nullptr}, {"Layers", json::array()}});
  std::string archive = craft("multi.tar", f.items(manifest));
  struct Case {
    const char* tag;
    size_t layers;
  } cases[] = {{"example/app:1.0", 3}, {"example/app", 3}, {"docker.io/example/app:latest", 3},
               {"other/tool:2", 1},    {"2", 1}};
  for (const auto& c : cases) {
    auto layout = archive_to_layout(archive, "", c.tag, work_, "x");
    ASSERT_TRUE(layout.ok()) << c.tag << ": " << layout.error().describe();
    EXPECT_EQ(read_layout(*layout).manifest["layers"].size(), c.layers) << c.tag;
    remove_tree(*layout);
  }
  expect_refused(archive, "", "", Errc::kNotFound,
                 {"the archive holds 3 images; name one with 'tag:'",
                  "(available: example/app:1.0, example/app:latest, other/tool:2, (untagged))"});
  expect_refused(archive, "", "nope", Errc::kNotFound,
                 {"no image tagged 'nope'", "available: example/app:1.0, example/app:latest, other/tool:2"});
}

TEST_F(ArchiveImport, DockerSave25IsReadAsOciArchive) {
  // Docker >= 25 writes an OCI layout plus manifest.json and repositories in one tar.
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
  std::string layer(5000, 'd');
  auto items = oci_items(layer, layer, config,
                         {{"io.containerd.image.name", "docker.io/example/app:1.0"},
                          {"org.opencontainers.image.ref.name", "1.0"}});
  items.push_back({"manifest.json", json::array({{{"Config", "blobs/sha256/" + hex_of(sha256_digest(config))},
                                                   {"RepoTags", {"example/app:1.0"}},
                                                   {"Layers", {"blobs/sha256/" + hex_of(sha256_digest(layer))}}}})
                                        .dump()});
  items.push_back({"repositories", R"({"example/app":{"1.0":"x"}})"});
  std::string archive = craft("docker25.tar", items);
  for (const char* tag : {"", "1.0", "example/app:1.0", "docker.io/example/app:1.0"}) {
    auto layout = archive_to_layout(archive, "", tag, work_, "v1");
    ASSERT_TRUE(layout.ok()) << "tag '" << tag << "': " << layout.error().describe();
    LayoutView v = read_layout(*layout);
    EXPECT_EQ(v.entry["annotations"]["org.opencontainers.image.ref.name"], "v1");
    EXPECT_EQ(v.entry["annotations"]["io.containerd.image.name"], "docker.io/example/app:1.0");
    EXPECT_EQ(v.manifest["layers"][0]["digest"], sha256_digest(layer));
    EXPECT_TRUE(bundle::load_oci_image(*layout, "v1").ok());
    remove_tree(*layout);
  }
  // Forced to docker-archive, the same tar goes through manifest.json: same blobs, new manifest.
  auto layout = archive_to_layout(archive, "docker-archive", "example/app:1.0", work_, "v1");
  ASSERT_TRUE(layout.ok()) << layout.error().describe();
  LayoutView v = read_layout(*layout);
  EXPECT_EQ(v.manifest["config"]["digest"], sha256_digest(config));
  EXPECT_EQ(v.manifest["layers"][0]["digest"], sha256_digest(layer));
}

// ---------------------------------------------------------------------------------------------
// Refusals

TEST_F(ArchiveImport, RefusesUnsafeEntries) {
  DockerFixture f;
  struct Case {
    const char* label;
    Item bad;
    std::vector<std::string> expected;
  } cases[] = {
      {"dotdot", {"../evil", "x"}, {"'../evil'", "escapes the archive"}},
      {"dotdot-inside", {"aaa/../../evil", "x"}, {"escapes the archive"}},
      {"absolute", {"/evil", "x"}, {"'/evil'", "absolute path"}},
      {"symlink-absolute", {"evil", "", 'l', "/etc/passwd"}, {"symlink to '/etc/passwd'", "absolute"}},
      {"symlink-escape", {"aaa/evil", "", 'l', "../../etc/passwd"}, {"'../../etc/passwd'", "escapes the archive"}},
      {"hardlink", {"evil", "", 'h', "/etc/shadow"}, {"hard link to '/etc/shadow'"}},
      {"fifo", {"evil", "", 'p'}, {"'evil'", "FIFO"}},
      {"device", {"evil", "", 'c'}, {"'evil'", "device node"}},
      {"duplicate", {"cfg.json", "{}"}, {"'cfg.json'", "appears twice"}},
      {"below-symlink", {"bbb/layer.tar/x", "x"}, {"'bbb/layer.tar/x'", "not a directory"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto items = f.items(f.manifest());
    items.insert(items.begin() + 1, c.bad);
    expect_refused(craft(std::string(c.label) + ".tar", items), "", "", Errc::kUnsafe, c.expected);
  }
}

TEST_F(ArchiveImport, RefusesAMissingLayer) {
  DockerFixture f;
  json manifest = f.manifest();
  manifest[0]["Layers"].push_back("missing/layer.tar");
  expect_refused(craft("missing.tar", f.items(manifest)), "", "", Errc::kNotFound,
                 {"manifest.json names layer 'missing/layer.tar', which is not in the archive"});

  // A symlinked layer whose target is absent.
  auto items = f.items(f.manifest());
  items[3].link = "../zzz/layer.tar";
  expect_refused(craft("dangling.tar", items), "", "", Errc::kNotFound,
                 {"'bbb/layer.tar', which is not in the archive", "symlink target 'zzz/layer.tar' is missing"});

  // No manifest.json at all.
  items = f.items(f.manifest());
  items.pop_back();
  expect_refused(craft("nomanifest.tar", items), "", "", Errc::kNotFound, {"no 'oci-layout' or 'manifest.json'"});
  expect_refused(craft("nomanifest2.tar", items), "docker-archive", "", Errc::kNotFound, {"no 'manifest.json'"});
}

TEST_F(ArchiveImport, RefusesAnUnknownTagListingTheAvailableOnes) {
  DockerFixture f;
  expect_refused(craft("tags.tar", f.items(f.manifest(json::array({"example/app:1.0", "example/app:2.0"})))), "",
                 "example/app:3.0", Errc::kNotFound,
                 {"no image tagged 'example/app:3.0'", "(available: example/app:1.0, example/app:2.0)"});
  expect_refused(craft("oci-tags.tar", oci_items("layer", "layer")), "", "t2", Errc::kNotFound,
                 {"no image tagged 't2'", "(available: t1)"});
}

TEST_F(ArchiveImport, OciArchiveBlobsMustMatchTheirNames) {
  // A good one first: the hand-made oci-archive converts.
  std::string layer(200000, 'L');
  auto good = archive_to_layout(craft("good.tar", oci_items(layer, layer)), "oci-archive", "t1", work_, "v1");
  ASSERT_TRUE(good.ok()) << good.error().describe();
  expect_blobs_match_names(*good);
  remove_tree(*good);

  // A streamed layer with other content of the same size.
  std::string other(200000, 'M');
  expect_refused(craft("bad-layer.tar", oci_items(layer, other)), "", "t1", Errc::kIntegrity,
                 {"blobs/sha256/" + hex_of(sha256_digest(layer)), "does not match its name"});
  // A layer that looks like JSON takes the in-memory path: the same check.
  expect_refused(craft("bad-json.tar", oci_items("{\"a\":1}", "{\"a\":2}")), "", "t1", Errc::kIntegrity,
                 {"does not match its name"});
  // Size disagreeing with the descriptor.
  expect_refused(craft("bad-size.tar", oci_items(layer, layer + "x")), "", "t1", Errc::kIntegrity,
                 {"200001 bytes, the descriptor says 200000"});
}

TEST_F(ArchiveImport, RefusesTruncatedAndNonTarInput) {
  DockerFixture f;
  std::string archive = craft("trunc.tar", f.items(f.manifest()));
  std::string bytes = slurp(archive);
  spit(archive, bytes.substr(0, 150000));  // in the middle of aaa/layer.tar's data
  expect_refused(archive, "", "", Errc::kIntegrity, {"truncated"});

  std::string junk = root_ + "/junk.tar";
  spit(junk, std::string(4096, '\x42'));
  auto r = archive_to_layout(junk, "", "", work_, "v1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().describe().find(junk), std::string::npos) << r.error().describe();
  EXPECT_TRUE(list_dir(work_).empty());

  auto missing = archive_to_layout(root_ + "/nope.tar", "", "", work_, "v1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// resolve_archive_inputs

TEST_F(ArchiveImport, ResolvesArchiveComponentsOfASpec) {
  DockerFixture f;
  craft("app.tar", f.items(f.manifest()));
  json missing = f.manifest();
  missing[0]["Layers"] = {"gone/layer.tar"};
  craft("broken.tar", f.items(missing));
  auto spec = bundle::parse_bundle_spec(R"(bundle: {name: t, version: 1}
components:
  - {type: oci-image, name: app, ref: "1.0", archive: app.tar, format: docker-archive}
  - {type: oci-image, name: plain, ref: "2.0", layout: somewhere}
)", "bundle.yaml", root_);
  ASSERT_TRUE(spec.ok()) << spec.error().describe();
  ASSERT_TRUE(resolve_archive_inputs(*spec, work_).ok());
  const auto& app = spec->components[0];
  EXPECT_TRUE(app.archive.empty());
  EXPECT_TRUE(app.format.empty());
  EXPECT_EQ(app.tag, "1.0");
  EXPECT_EQ(dirname_of(app.layout), work_);
  EXPECT_TRUE(bundle::load_oci_image(app.layout, app.tag).ok());
  EXPECT_EQ(spec->components[1].layout, root_ + "/somewhere");  // untouched

  auto bad = bundle::parse_bundle_spec(R"(bundle: {name: t, version: 1}
components:
  - {type: oci-image, name: broken, ref: "1.0", archive: broken.tar}
)", "bundle.yaml", root_);
  ASSERT_TRUE(bad.ok()) << bad.error().describe();
  Status st = resolve_archive_inputs(*bad, work_);
  ASSERT_FALSE(st.ok());
  std::string msg = st.error().describe();
  EXPECT_EQ(msg.rfind("bundle.yaml:3:", 0), 0u) << msg;
  EXPECT_NE(msg.find("component 'broken': " + root_ + "/broken.tar (docker-archive): manifest.json names layer "
                     "'gone/layer.tar'"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace airlock::images
