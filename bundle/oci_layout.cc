// OCI image-layout walking with size and digest checks on every JSON document it reads.
#include "bundle/oci_layout.h"

#include <algorithm>
#include <map>

#include "common/fs.h"
#include "common/json.h"
#include "common/sha256.h"

namespace airlock::bundle {
namespace {

constexpr uint64_t kMaxJsonBlob = 4ull << 20;
constexpr const char* kRefName = "org.opencontainers.image.ref.name";

Result<Descriptor> parse_descriptor(const nlohmann::json& j, std::string_view what) {
  if (!j.is_object() || !j.contains("mediaType") || !j.contains("digest") || !j.contains("size") ||
      !j["mediaType"].is_string() || !j["digest"].is_string() || !j["size"].is_number_unsigned()) {
    return make_error(Errc::kParse, std::string(what) + ": descriptor needs mediaType, digest and size");
  }
  Descriptor d{j["mediaType"].get<std::string>(), j["digest"].get<std::string>(), j["size"].get<uint64_t>()};
  if (!is_valid_digest(d.digest)) {
    return make_error(Errc::kUnsupported, std::string(what) + ": unsupported digest '" + d.digest + "'");
  }
  return d;
}

}  // namespace

bool is_index_media_type(std::string_view mt) {
  return mt == "application/vnd.oci.image.index.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_media_type(std::string_view mt) {
  return mt == "application/vnd.oci.image.manifest.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.v2+json";
}

Result<std::vector<Descriptor>> oci_children(std::string_view bytes, std::string_view media_type,
                                             std::string_view what) {
  TRY_ASSIGN(nlohmann::json doc, parse_json(bytes, what));
  std::vector<Descriptor> out;
  if (is_index_media_type(media_type)) {
    if (!doc.contains("manifests") || !doc["manifests"].is_array()) {
      return make_error(Errc::kParse, std::string(what) + ": image index without manifests");
    }
    for (const auto& m : doc["manifests"]) {
      TRY_ASSIGN(Descriptor d, parse_descriptor(m, what));
      out.push_back(d);
    }
  } else if (is_manifest_media_type(media_type)) {
    if (!doc.contains("config")) return make_error(Errc::kParse, std::string(what) + ": manifest without config");
    TRY_ASSIGN(Descriptor cfg, parse_descriptor(doc["config"], what));
    out.push_back(cfg);
    if (doc.contains("layers")) {
      for (const auto& l : doc["layers"]) {
        TRY_ASSIGN(Descriptor d, parse_descriptor(l, what));
        out.push_back(d);
      }
    }
  } else if (media_type == "application/vnd.docker.distribution.manifest.v1+json" ||
             media_type == "application/vnd.docker.distribution.manifest.v1+prettyjws") {
    return make_error(Errc::kUnsupported, std::string(what) + ": docker schema1 manifests are not supported");
  } else {
    return make_error(Errc::kUnsupported, std::string(what) + ": unknown manifest media type '" +
                                              std::string(media_type) + "'");
  }
  return out;
}

Result<OciImage> load_oci_image(const std::string& dir, std::string_view tag) {
  TRY_ASSIGN(std::string layout, read_file(join_path(dir, "oci-layout"), 4096));
  TRY_ASSIGN(nlohmann::json lj, parse_json(layout, dir + "/oci-layout"));
  if (!lj.is_object() || lj.value("imageLayoutVersion", "") != "1.0.0") {
    return make_error(Errc::kUnsupported, dir + "/oci-layout: imageLayoutVersion is not 1.0.0");
  }
  TRY_ASSIGN(std::string index_text, read_file(join_path(dir, "index.json"), kMaxJsonBlob));
  TRY_ASSIGN(nlohmann::json index, parse_json(index_text, dir + "/index.json"));
  if (!index.contains("manifests") || !index["manifests"].is_array()) {
    return make_error(Errc::kParse, dir + "/index.json: no manifests array");
  }
  std::vector<nlohmann::json> picked;
  std::string tags;
  for (const auto& m : index["manifests"]) {
    std::string name;
    if (m.contains("annotations") && m["annotations"].contains(kRefName) && m["annotations"][kRefName].is_string()) {
      name = m["annotations"][kRefName].get<std::string>();
    }
    tags += (tags.empty() ? "" : ", ") + (name.empty() ? std::string("(untagged)") : name);
    if (tag.empty() || name == tag) picked.push_back(m);
  }
  if (picked.size() != 1) {
    std::string what = tag.empty() ? "the layout holds " + std::to_string(picked.size()) + " images; name one with 'tag:'"
                                   : "no single image tagged '" + std::string(tag) + "'";
    return make_error(Errc::kNotFound, dir + "/index.json: " + what + " (available: " + tags + ")");
  }
  OciImage img;
  TRY_ASSIGN(img.root, parse_descriptor(picked[0], dir + "/index.json"));
  if (picked[0].contains("platform")) img.platforms.push_back(picked[0]["platform"]);

  std::map<std::string, Descriptor> seen;
  std::vector<Descriptor> todo = {img.root};
  while (!todo.empty()) {
    Descriptor d = todo.back();
    todo.pop_back();
    if (seen.count(d.digest)) continue;
    seen[d.digest] = d;
    std::string path = join_path(dir, blob_path(d.digest));
    TRY_ASSIGN(uint64_t size, file_size(path));
    if (size != d.size) {
      return make_error(Errc::kIntegrity, path + ": " + std::to_string(size) + " bytes, descriptor says " +
                                              std::to_string(d.size));
    }
    if (!is_index_media_type(d.media_type) && !is_manifest_media_type(d.media_type)) {
      if (d.media_type.find("manifest") != std::string::npos) {
        return oci_children("{}", d.media_type, path).error();  // schema1 or unknown manifest
      }
      continue;  // config or layer: content is checked when copied
    }
    if (d.size > kMaxJsonBlob) return make_error(Errc::kLimit, path + ": manifest larger than 4 MiB");
    TRY_ASSIGN(std::string bytes, read_file(path, kMaxJsonBlob));
    if (sha256_digest(bytes) != d.digest) {
      return make_error(Errc::kIntegrity, path + ": content does not match its digest");
    }
    TRY_ASSIGN(auto children, oci_children(bytes, d.media_type, path));
    if (is_index_media_type(d.media_type)) {
      TRY_ASSIGN(nlohmann::json doc, parse_json(bytes, path));
      for (const auto& m : doc["manifests"]) {
        if (m.contains("platform")) img.platforms.push_back(m["platform"]);
      }
    }
    for (auto& c : children) todo.push_back(c);
  }
  for (auto& [digest, d] : seen) img.blobs.push_back(d);
  return img;
}

}  // namespace airlock::bundle
