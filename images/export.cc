// docker-archive and oci-archive writers over the bundle's blobs.
#include "images/export.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "bundle/oci_layout.h"
#include "bundle/parts.h"
#include "bundle/tar_writer.h"
#include "common/progress.h"
#include "common/sha256.h"

namespace airlock::images {
namespace {

using bundle::Descriptor;

std::string platform_of(const nlohmann::json& p) {
  std::string s = p.value("os", std::string()) + "/" + p.value("architecture", std::string());
  if (p.contains("variant")) s += "/" + p.value("variant", std::string());
  return s;
}

// The single manifest to export from an image whose root may be an index.
Result<const ImageNode*> pick_manifest(const Image& img, const std::string& platform) {
  const ImageNode& root = img.manifests.back();
  if (bundle::is_manifest_media_type(root.descriptor.media_type)) return &root;
  auto index = nlohmann::json::parse(root.bytes);
  std::string want = platform.empty() ? "linux/amd64" : platform;
  std::string have;
  for (const auto& m : index["manifests"]) {
    std::string p = m.contains("platform") ? platform_of(m["platform"]) : "";
    have += (have.empty() ? "" : ", ") + (p.empty() ? "unknown" : p);
    if (p == want || (platform.empty() && index["manifests"].size() == 1)) {
      for (const auto& node : img.manifests) {
        if (node.descriptor.digest == m.value("digest", std::string())) return &node;
      }
    }
  }
  return make_error(Errc::kInvalidArgument, "image " + img.component->name + " has no " + want +
                                                " manifest (platforms: " + have + "); choose one with --platform");
}

Status copy_blob(const BundleImages& b, bundle::TarWriter& tar, const Descriptor& d, Progress& progress) {
  TRY_STATUS(tar.begin_member(bundle::blob_path(d.digest), d.size));
  std::vector<char> buf(1 << 20);
  Sha256 hash;
  for (uint64_t off = 0; off < d.size;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), d.size - off));
    TRY_STATUS(b.read_blob(d.digest, off, buf.data(), n));
    hash.update(buf.data(), n);
    TRY_STATUS(tar.write(buf.data(), n));
    off += n;
    progress.add(n);
  }
  if (hash.finish_digest() != d.digest) {
    return make_error(Errc::kIntegrity, "blob " + d.digest + " changed since the bundle was verified");
  }
  return {};
}

}  // namespace

Result<ExportFormat> parse_export_format(const std::string& text) {
  if (text == "docker-archive") return ExportFormat::kDockerArchive;
  if (text == "oci" || text == "oci-archive") return ExportFormat::kOciArchive;
  return make_error(Errc::kInvalidArgument, "unknown --format '" + text + "' (use docker-archive or oci)");
}

Result<DockerArchiveLayout> docker_archive_layout(const Image& img, const std::string& platform) {
  const bundle::Component& c = *img.component;
  TRY_ASSIGN(const ImageNode* m, pick_manifest(img, platform));
  TRY_ASSIGN(auto children, bundle::oci_children(m->bytes, m->descriptor.media_type, "image " + c.name));
  if (children.empty()) return make_error(Errc::kIntegrity, "image " + c.name + ": manifest " + m->descriptor.digest + " has no config");
  DockerArchiveLayout out;
  out.blobs = children;  // config, then layers
  out.blobs.push_back(m->descriptor);
  out.manifest = m->descriptor;
  out.config_digest = children[0].digest;
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 1; i < children.size(); ++i) layers.push_back(bundle::blob_path(children[i].digest));
  nlohmann::json docker_manifest = nlohmann::json::array(
      {{{"Config", bundle::blob_path(children[0].digest)}, {"RepoTags", {c.name + ":" + c.ref}}, {"Layers", layers}}});
  nlohmann::json index = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}};
  index["manifests"] = {{{"mediaType", m->descriptor.media_type},
                         {"digest", m->descriptor.digest},
                         {"size", m->descriptor.size},
                         {"annotations",
                          {{"io.containerd.image.name", c.name + ":" + c.ref},
                           {"org.opencontainers.image.ref.name", c.ref}}}}};
  out.index_json = index.dump() + "\n";
  out.manifest_json = docker_manifest.dump() + "\n";
  return out;
}

Status write_image_archive(const BundleImages& b, const Image& img, bundle::ByteSink& sink, const ExportOptions& opts) {
  const bundle::Component& c = *img.component;
  std::vector<Descriptor> blobs;  // what goes into blobs/sha256, in a fixed order
  nlohmann::json index = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}};
  std::string index_text;
  std::string docker_manifest;
  if (opts.format == ExportFormat::kDockerArchive) {
    TRY_ASSIGN(DockerArchiveLayout layout, docker_archive_layout(img, opts.platform));
    blobs = std::move(layout.blobs);
    docker_manifest = std::move(layout.manifest_json);
    index_text = std::move(layout.index_json);
  } else {
    for (const auto& node : img.manifests) blobs.push_back(node.descriptor);
    blobs.insert(blobs.end(), img.blobs.begin(), img.blobs.end());
    index["manifests"] = {{{"mediaType", c.descriptor->media_type},
                           {"digest", c.descriptor->digest},
                           {"size", c.descriptor->size},
                           {"annotations", {{"org.opencontainers.image.ref.name", c.ref}}}}};
    index_text = index.dump() + "\n";
  }
  uint64_t total = 0;
  for (const auto& d : blobs) total += d.size;
  Progress progress("export", total, opts.progress);
  bundle::TarWriter tar(sink, 0);
  TRY_STATUS(tar.add_member("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
  TRY_STATUS(tar.add_member("index.json", index_text));
  if (!docker_manifest.empty()) TRY_STATUS(tar.add_member("manifest.json", docker_manifest));
  std::set<std::string> written;
  for (const auto& d : blobs) {
    if (!written.insert(d.digest).second) continue;
    TRY_STATUS(copy_blob(b, tar, d, progress));
  }
  TRY_STATUS(tar.close());
  progress.finish();
  return {};
}

Status export_image(const BundleImages& b, const Image& img, const std::string& out, const ExportOptions& opts) {
  if (out == "-") {
    bundle::FdSink sink(STDOUT_FILENO, "standard output");
    ExportOptions quiet = opts;
    quiet.progress = false;
    return write_image_archive(b, img, sink, quiet);
  }
  bundle::PartsWriter file(out, 0);
  TRY_STATUS(write_image_archive(b, img, file, opts));
  auto committed = file.commit();
  if (!committed.ok()) return committed.error();
  return {};
}

}  // namespace airlock::images
