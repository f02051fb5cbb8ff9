// docker-archive / oci-archive to OCI image layout, reading the tar at most twice and never
// extracting it. Pass 1 checks every entry (type allowlist, safe names, in-archive symlinks, no
// duplicates) and keeps small members that look like JSON in memory (manifests, indexes,
// configs; 4 MiB each, 64 MiB in all). The image is then chosen and planned from those; pass 2
// streams the layers it needs into blobs/sha256 while hashing them, so memory stays bounded
// whatever the layer sizes. Output files are created with O_EXCL|O_NOFOLLOW relative to the
// directory fds of a fresh mkdtemp directory; on any error that directory is removed.
#include "images/archive_import.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "bundle/manifest.h"
#include "bundle/oci_layout.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/sha256.h"
#include "images/archive_scan.h"

namespace airlock::images {
namespace {

using bundle::Descriptor;
using namespace archive_scan;

constexpr const char* kRefName = "org.opencontainers.image.ref.name";
constexpr const char* kContainerdName = "io.containerd.image.name";
constexpr const char* kOciIndexType = "application/vnd.oci.image.index.v1+json";
constexpr const char* kOciLayoutText = "{\"imageLayoutVersion\":\"1.0.0\"}";
// docker-archive images get an OCI manifest: skopeo's oci: transport (1.9) skips index entries of
// any other type and treats a Docker config as an opaque artifact. The config and layer bytes are
// kept as they are; a Docker image config is a valid OCI image config.
constexpr const char* kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciConfigType = "application/vnd.oci.image.config.v1+json";
constexpr const char* kOciLayerType = "application/vnd.oci.image.layer.v1.tar";
constexpr const char* kOciGzipLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kDockerArchive = "docker-archive";
constexpr std::string_view kOciArchive = "oci-archive";


// ---------------------------------------------------------------------------------------------
// Writing

// A fresh layout directory (mkdtemp under work_dir); every file is created with
// O_CREAT|O_EXCL|O_NOFOLLOW relative to the directory's own fd.
class LayoutWriter {
 public:
  static Result<LayoutWriter> create(const std::string& work_dir) {
    std::string tmpl = join_path(work_dir, "layout-XXXXXX");
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) return sys_error("cannot create a directory in " + work_dir);
    LayoutWriter w;
    w.path_ = name.data();
    Status st = w.open_dirs();
    if (!st.ok()) {
      remove_tree(w.path_);
      return st.error();
    }
    return w;
  }

  const std::string& path() const { return path_; }
  void discard() { remove_tree(path_); }

  Status write_top(const std::string& name, std::string_view data) {
    return write_new(root_.get(), name, data, path_ + "/" + name);
  }

  // Writes a blob from memory under its digest (once per digest).
  Result<std::string> write_blob(std::string_view data) {
    std::string digest = sha256_digest(data);
    if (written_.count(digest)) return digest;
    std::string hex(digest_hex(digest));
    TRY_STATUS(write_new(sha_.get(), hex, data, path_ + "/blobs/sha256/" + hex));
    written_.insert(digest);
    return digest;
  }

  // A temporary file in blobs/sha256 for a blob whose digest is not known yet.
  Result<UniqueFd> open_temp(std::string* name) {
    *name = ".tmp-" + std::to_string(temp_counter_++);
    int fd = ::openat(sha_.get(), name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return sys_error("cannot create " + path_ + "/blobs/sha256/" + *name);
    return UniqueFd(fd);
  }

  Status commit_temp(const std::string& name, const std::string& digest) {
    if (written_.count(digest)) {
      ::unlinkat(sha_.get(), name.c_str(), 0);
      return {};
    }
    std::string hex(digest_hex(digest));
    if (::renameat(sha_.get(), name.c_str(), sha_.get(), hex.c_str()) != 0) {
      return sys_error("cannot rename " + name + " to " + hex + " in " + path_ + "/blobs/sha256");
    }
    written_.insert(digest);
    return {};
  }

  void drop_temp(const std::string& name) { ::unlinkat(sha_.get(), name.c_str(), 0); }

 private:
  static Result<UniqueFd> open_dir(int at, const char* name, const std::string& what) {
    int fd = ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sys_error("cannot open " + what);
    return UniqueFd(fd);
  }

  Status open_dirs() {
    TRY_ASSIGN(root_, open_dir(AT_FDCWD, path_.c_str(), path_));
    if (::mkdirat(root_.get(), "blobs", 0755) != 0) return sys_error("cannot create " + path_ + "/blobs");
    TRY_ASSIGN(blobs_, open_dir(root_.get(), "blobs", path_ + "/blobs"));
    if (::mkdirat(blobs_.get(), "sha256", 0755) != 0) return sys_error("cannot create " + path_ + "/blobs/sha256");
    TRY_ASSIGN(sha_, open_dir(blobs_.get(), "sha256", path_ + "/blobs/sha256"));
    return {};
  }

  static Status write_new(int dirfd, const std::string& name, std::string_view data, const std::string& what) {
    int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return sys_error("cannot create " + what);
    UniqueFd guard(fd);
    return write_all(fd, data.data(), data.size(), what);
  }

  std::string path_;
  UniqueFd root_, blobs_, sha_;
  uint64_t temp_counter_ = 0;
  std::set<std::string> written_;
};

// One blob of the output: which member holds it, what it must be, and (after fulfil) what it is.
struct BlobJob {
  std::string member;                    // the regular member holding the bytes
  std::string expected;                  // the digest it must have; empty: computed
  std::optional<uint64_t> expected_size;
  std::string what;                      // names it in messages
  std::string digest;
  uint64_t size = 0;
  bool gzip = false;
};

Status settle(BlobJob& job, const std::string& digest, uint64_t size, std::string_view head) {
  if (job.expected_size && *job.expected_size != size) {
    return make_error(Errc::kIntegrity, job.what + ": " + std::to_string(size) + " bytes, the descriptor says " +
                                            std::to_string(*job.expected_size));
  }
  if (!job.expected.empty() && job.expected != digest) {
    return make_error(Errc::kIntegrity, job.what + ": content is " + digest + ", which does not match its name " +
                                            job.expected);
  }
  job.digest = digest;
  job.size = size;
  job.gzip = head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
             static_cast<unsigned char>(head[1]) == 0x8b;
  return {};
}

// Writes every job's blob: small members from memory, the rest streamed in pass 2 while hashed.
Status fulfil(const Scan& s, int fd, LayoutWriter& w, std::vector<BlobJob>& jobs) {
  std::map<std::string, std::vector<size_t>> stream;  // member -> jobs it serves
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto it = s.json.find(jobs[i].member);
    if (it == s.json.end()) {
      stream[jobs[i].member].push_back(i);
      continue;
    }
    TRY_STATUS(settle(jobs[i], sha256_digest(it->second), it->second.size(), it->second));
    TRY_ASSIGN(std::string digest, w.write_blob(it->second));
    (void)digest;
  }
  if (stream.empty()) return {};

  Pass pass;
  TRY_STATUS(pass.open(fd));
  std::set<std::string> done;
  for (;;) {
    TRY_ASSIGN(std::optional<Entry> e, pass.next());
    if (!e) break;
    if (e->kind != Kind::kFile) continue;
    auto it = stream.find(e->name);
    if (it == stream.end()) continue;
    if (!done.insert(e->name).second) {
      return make_error(Errc::kUnsafe, member_label(e->name) + ": appears twice in the archive");
    }
    std::string tmp;
    TRY_ASSIGN(UniqueFd out, w.open_temp(&tmp));
    Sha256 hash;
    uint64_t n = 0;
    std::string head;
    for (;;) {
      TRY_ASSIGN(std::string_view block, pass.read_block());
      if (block.empty()) break;
      if (head.size() < 2) head.append(block.substr(0, 2 - head.size()));
      hash.update(block);
      TRY_STATUS(write_all(out.get(), block.data(), block.size(), w.path() + "/blobs/sha256/" + tmp));
      n += block.size();
    }
    out.reset();
    if (n != e->size) {
      return make_error(Errc::kIntegrity, member_label(e->name) + ": " + std::to_string(n) +
                                              " bytes of data, header says " + std::to_string(e->size));
    }
    std::string digest = hash.finish_digest();
    for (size_t i : it->second) {
      Status st = settle(jobs[i], digest, n, head);
      if (!st.ok()) {
        w.drop_temp(tmp);
        return st.error();
      }
    }
    TRY_STATUS(w.commit_temp(tmp, digest));
  }
  for (const auto& [member, idx] : stream) {
    if (!done.count(member)) {
      return make_error(Errc::kIntegrity, member_label(member) + ": gone on the second read (did the archive change?)");
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Choosing the image

Result<Descriptor> parse_descriptor(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("mediaType") || !j.contains("digest") || !j.contains("size") ||
      !j["mediaType"].is_string() || !j["digest"].is_string() || !j["size"].is_number_unsigned()) {
    return make_error(Errc::kParse, what + ": descriptor needs mediaType, digest and size");
  }
  Descriptor d{j["mediaType"].get<std::string>(), j["digest"].get<std::string>(), j["size"].get<uint64_t>()};
  if (!is_valid_digest(d.digest)) return make_error(Errc::kUnsupported, what + ": unsupported digest '" + d.digest + "'");
  return d;
}

// "docker.io/library/x:latest", "library/x:latest", "x:latest" and "x" are the same image name.
std::string normalize_ref(std::string r) {
  for (std::string_view p : {"docker.io/", "index.docker.io/"}) {
    if (r.rfind(p, 0) == 0) r.erase(0, p.size());
  }
  if (r.rfind("library/", 0) == 0 && r.find('/', 8) == std::string::npos) r.erase(0, 8);
  size_t slash = r.rfind('/');
  size_t colon = r.rfind(':');
  if (r.find('@') == std::string::npos && (colon == std::string::npos || (slash != std::string::npos && colon < slash))) {
    r += ":latest";
  }
  return r;
}

// The tag part of "name:tag" (empty when there is none).
std::string tag_part(const std::string& r) {
  size_t slash = r.rfind('/');
  size_t colon = r.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return "";
  return r.substr(colon + 1);
}

// Picks one of `names_per_image` (each image's names) by `tag` with `matches`; empty tag: there
// must be exactly one image.
template <class Match>
Result<size_t> pick_image(const std::vector<std::vector<std::string>>& names_per_image, const std::string& tag,
                          const std::string& where, Match matches) {
  std::string available;
  std::vector<size_t> picked;
  for (size_t i = 0; i < names_per_image.size(); ++i) {
    const auto& names = names_per_image[i];
    if (names.empty()) available += std::string(available.empty() ? "" : ", ") + "(untagged)";
    for (const auto& n : names) available += (available.empty() ? "" : ", ") + n;
    bool hit = tag.empty();
    for (const auto& n : names) hit = hit || matches(n);
    if (hit) picked.push_back(i);
  }
  if (picked.size() == 1) return picked[0];
  if (names_per_image.empty()) return make_error(Errc::kNotFound, where + ": the archive holds no images");
  std::string list = " (available: " + available + ")";
  if (tag.empty()) {
    return make_error(Errc::kNotFound, where + ": the archive holds " + std::to_string(picked.size()) +
                                           " images; name one with 'tag:'" + list);
  }
  if (picked.empty()) return make_error(Errc::kNotFound, where + ": no image tagged '" + tag + "'" + list);
  return make_error(Errc::kNotFound, where + ": " + std::to_string(picked.size()) + " images match '" + tag +
                                         "'; name one exactly" + list);
}

std::string annotation(const nlohmann::json& entry, const char* key) {
  if (entry.is_object() && entry.contains("annotations") && entry["annotations"].is_object() &&
      entry["annotations"].contains(key) && entry["annotations"][key].is_string()) {
    return entry["annotations"][key].get<std::string>();
  }
  return "";
}

Status write_index(LayoutWriter& w, nlohmann::json entry, const std::string& out_tag) {
  if (!out_tag.empty()) {
    if (!entry.contains("annotations") || !entry["annotations"].is_object()) entry["annotations"] = nlohmann::json::object();
    entry["annotations"][kRefName] = out_tag;
  }
  nlohmann::json index = {{"schemaVersion", 2}, {"mediaType", kOciIndexType}, {"manifests", nlohmann::json::array({entry})}};
  TRY_STATUS(w.write_top("oci-layout", kOciLayoutText));
  return w.write_top("index.json", index.dump());
}

// ---------------------------------------------------------------------------------------------
// The two formats

Status import_oci(const Scan& s, int fd, LayoutWriter& w, const std::string& tag, const std::string& out_tag) {
  TRY_ASSIGN(std::string layout_text, json_member(s, "oci-layout"));
  TRY_ASSIGN(nlohmann::json layout, parse_json(layout_text, "oci-layout"));
  if (!layout.is_object() || !layout.contains("imageLayoutVersion") || layout["imageLayoutVersion"] != "1.0.0") {
    return make_error(Errc::kUnsupported, "oci-layout: imageLayoutVersion is not 1.0.0");
  }
  TRY_ASSIGN(std::string index_text, json_member(s, "index.json"));
  TRY_ASSIGN(nlohmann::json index, parse_json(index_text, "index.json"));
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) {
    return make_error(Errc::kParse, "index.json: no manifests array");
  }
  const auto& manifests = index["manifests"];
  std::vector<std::vector<std::string>> names;
  for (const auto& m : manifests) {
    std::vector<std::string> n;
    for (const char* key : {kRefName, kContainerdName}) {
      std::string v = annotation(m, key);
      if (!v.empty()) n.push_back(v);
    }
    names.push_back(n);
  }
  TRY_ASSIGN(size_t chosen, pick_image(names, tag, "index.json", [&](const std::string& n) {
               return n == tag || normalize_ref(n) == normalize_ref(tag);
             }));
  const nlohmann::json& entry = manifests[chosen];
  TRY_ASSIGN(Descriptor root, parse_descriptor(entry, "index.json"));

  std::vector<BlobJob> jobs;
  std::set<std::string> seen;
  std::vector<Descriptor> todo = {root};
  while (!todo.empty()) {
    Descriptor d = todo.back();
    todo.pop_back();
    if (!seen.insert(d.digest).second) continue;
    std::string name = bundle::blob_path(d.digest);
    TRY_ASSIGN(std::string real, regular_member(s, name, "the image needs blob"));
    uint64_t size = s.members.at(real).size;
    if (size != d.size) {
      return make_error(Errc::kIntegrity, member_label(name) + ": " + std::to_string(size) +
                                              " bytes, the descriptor says " + std::to_string(d.size));
    }
    if (bundle::is_index_media_type(d.media_type) || bundle::is_manifest_media_type(d.media_type)) {
      auto it = s.json.find(real);
      if (it == s.json.end()) {
        return make_error(d.size > kMaxJson ? Errc::kLimit : Errc::kParse,
                          member_label(name) + ": a manifest that is larger than 4 MiB or not JSON");
      }
      if (sha256_digest(it->second) != d.digest) {
        return make_error(Errc::kIntegrity, member_label(name) + ": content is " + sha256_digest(it->second) +
                                                ", which does not match its name " + d.digest);
      }
      TRY_ASSIGN(auto children, bundle::oci_children(it->second, d.media_type, name));
      for (auto& c : children) todo.push_back(c);
    } else if (d.media_type.find("manifest") != std::string::npos) {
      return bundle::oci_children("{}", d.media_type, name).error();  // schema1 or unknown manifest
    }
    jobs.push_back(BlobJob{real, d.digest, d.size, member_label(name), "", 0, false});
  }
  TRY_STATUS(fulfil(s, fd, w, jobs));
  return write_index(w, entry, out_tag);
}

Status import_docker(const Scan& s, int fd, LayoutWriter& w, const std::string& tag, const std::string& out_tag) {
  TRY_ASSIGN(std::string text, json_member(s, "manifest.json"));
  TRY_ASSIGN(nlohmann::json doc, parse_json(text, "manifest.json"));
  if (!doc.is_array()) return make_error(Errc::kParse, "manifest.json: not an array of images");
  std::vector<std::vector<std::string>> names;
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& img = doc[i];
    std::string where = "manifest.json: image " + std::to_string(i);
    if (!img.is_object() || !img.contains("Config") || !img["Config"].is_string() || !img.contains("Layers") ||
        !img["Layers"].is_array()) {
      return make_error(Errc::kParse, where + ": needs Config (a string) and Layers (an array)");
    }
    for (const auto& l : img["Layers"]) {
      if (!l.is_string()) return make_error(Errc::kParse, where + ": Layers holds a non-string");
    }
    std::vector<std::string> n;
    if (img.contains("RepoTags") && !img["RepoTags"].is_null()) {
      if (!img["RepoTags"].is_array()) return make_error(Errc::kParse, where + ": RepoTags is not an array");
      for (const auto& t : img["RepoTags"]) {
        if (!t.is_string()) return make_error(Errc::kParse, where + ": RepoTags holds a non-string");
        n.push_back(t.get<std::string>());
      }
    }
    names.push_back(n);
  }
  const bool bare_tag = tag.find('/') == std::string::npos && tag.find(':') == std::string::npos;
  TRY_ASSIGN(size_t chosen, pick_image(names, tag, "manifest.json", [&](const std::string& n) {
               return n == tag || normalize_ref(n) == normalize_ref(tag) || (bare_tag && tag_part(n) == tag);
             }));
  const auto& img = doc[chosen];

  std::vector<BlobJob> jobs;
  std::string config_raw = img["Config"].get<std::string>();
  TRY_ASSIGN(std::string config_name, normalize_name(config_raw));
  TRY_ASSIGN(std::string config_real, regular_member(s, config_name, "manifest.json names config"));
  auto cfg = s.json.find(config_real);
  if (cfg == s.json.end()) {
    return make_error(Errc::kParse, "config " + member_label(config_raw) + ": larger than 4 MiB or not JSON");
  }
  TRY_ASSIGN(nlohmann::json config, parse_json(cfg->second, "config " + member_label(config_raw)));
  if (!config.is_object()) return make_error(Errc::kParse, "config " + member_label(config_raw) + ": not a JSON object");
  jobs.push_back(BlobJob{config_real, "", std::nullopt, "config " + member_label(config_raw), "", 0, false});
  for (const auto& l : img["Layers"]) {
    std::string raw = l.get<std::string>();
    TRY_ASSIGN(std::string name, normalize_name(raw));
    TRY_ASSIGN(std::string real, regular_member(s, name, "manifest.json names layer"));
    jobs.push_back(BlobJob{real, "", std::nullopt, "layer " + member_label(raw), "", 0, false});
  }
  TRY_STATUS(fulfil(s, fd, w, jobs));

  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 1; i < jobs.size(); ++i) {
    layers.push_back({{"mediaType", jobs[i].gzip ? kOciGzipLayerType : kOciLayerType},
                      {"size", jobs[i].size},
                      {"digest", jobs[i].digest}});
  }
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kOciManifestType},
      {"config", {{"mediaType", kOciConfigType}, {"size", jobs[0].size}, {"digest", jobs[0].digest}}},
      {"layers", layers}};
  std::string manifest_bytes = manifest.dump();
  TRY_ASSIGN(std::string manifest_digest, w.write_blob(manifest_bytes));

  nlohmann::json entry = {{"mediaType", kOciManifestType},
                          {"digest", manifest_digest},
                          {"size", manifest_bytes.size()}};
  if (config.contains("os") && config["os"].is_string() && config.contains("architecture") &&
      config["architecture"].is_string()) {
    nlohmann::json platform = {{"os", config["os"]}, {"architecture", config["architecture"]}};
    if (config.contains("variant") && config["variant"].is_string()) platform["variant"] = config["variant"];
    entry["platform"] = platform;
  }
  return write_index(w, entry, out_tag);
}

}  // namespace

Result<std::string> archive_to_layout(const std::string& archive_path, const std::string& format,
                                      const std::string& tag, const std::string& work_dir,
                                      const std::string& out_tag) {
  if (!format.empty() && format != kDockerArchive && format != kOciArchive) {
    return make_error(Errc::kInvalidArgument, archive_path + ": unknown archive format '" + format +
                                                  "' (docker-archive or oci-archive)");
  }
  if (work_dir.empty()) return make_error(Errc::kInvalidArgument, "archive_to_layout: empty work_dir");
  int raw_fd = ::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw_fd < 0) return sys_error("cannot open image archive " + archive_path);
  UniqueFd fd(raw_fd);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_error("cannot stat " + archive_path);
  if (!S_ISREG(st.st_mode)) return make_error(Errc::kInvalidArgument, archive_path + ": not a regular file");

  auto scan = scan_archive(fd.get());
  if (!scan.ok()) return scan.error().wrap(archive_path);
  std::string fmt = format;
  if (fmt.empty()) {
    if (scan->members.count("oci-layout")) {
      fmt = kOciArchive;
    } else if (scan->members.count("manifest.json")) {
      fmt = kDockerArchive;
    } else {
      return make_error(Errc::kNotFound, archive_path +
                                             ": neither an oci-archive nor a docker-archive (no 'oci-layout' "
                                             "or 'manifest.json' member)");
    }
  }
  TRY_ASSIGN(LayoutWriter w, LayoutWriter::create(work_dir));
  Status done = fmt == kOciArchive ? import_oci(*scan, fd.get(), w, tag, out_tag)
                                   : import_docker(*scan, fd.get(), w, tag, out_tag);
  if (!done.ok()) {
    w.discard();
    return done.error().wrap(archive_path + " (" + fmt + ")");
  }
  return w.path();
}

Status resolve_archive_inputs(bundle::BundleSpec& spec, const std::string& work_dir) {
  for (auto& c : spec.components) {
    if (c.type != "oci-image" || c.archive.empty()) continue;
    auto layout = archive_to_layout(c.archive, c.format, c.tag, work_dir, c.ref);
    if (!layout.ok()) return layout.error().wrap(c.where + ": component '" + c.name + "'");
    c.layout = std::move(layout).value();
    c.tag = c.ref;
    c.archive.clear();
    c.format.clear();
  }
  return {};
}

}  // namespace airlock::images
