// Registry -> OCI layout, with digest checks on every manifest and blob.
#include "images/pull.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>

#include "bundle/manifest.h"
#include "bundle/oci_layout.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace airlock::images {

Result<ImageReference> parse_image_reference(std::string_view text) {
  ImageReference r;
  std::string s(text);
  auto bad = [&](const std::string& why) {
    return make_error(Errc::kInvalidArgument, "image reference '" + std::string(text) + "': " + why);
  };
  auto at = s.find('@');
  if (at != std::string::npos) {
    r.digest = s.substr(at + 1);
    s.resize(at);
    if (!is_valid_digest(r.digest)) return bad("the digest must be sha256:<64 hex>");
  }
  auto slash = s.find('/');
  std::string first = slash == std::string::npos ? "" : s.substr(0, slash);
  if (!first.empty() && (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost")) {
    r.host = first;
    s = s.substr(slash + 1);
  } else {
    r.host = "registry-1.docker.io";
    if (s.find('/') == std::string::npos) s = "library/" + s;
  }
  auto colon = s.rfind(':');
  if (colon != std::string::npos) {
    r.tag = s.substr(colon + 1);
    s.resize(colon);
  }
  r.repository = s;
  if (r.repository.empty()) return bad("no repository");
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

bool platform_matches(const nlohmann::json& p, const std::string& wanted) {
  if (!p.is_object()) return false;
  std::string s = p.value("os", std::string()) + "/" + p.value("architecture", std::string());
  if (wanted.size() > s.size() && p.contains("variant")) s += "/" + p.value("variant", std::string());
  return s == wanted;
}

Result<std::string> pull_to_layout(const RegistryOptions& registry, const ImageReference& ref,
                                   const std::vector<std::string>& platforms, const std::string& work_dir,
                                   const std::string& out_tag) {
  RegistryOptions opts = registry;
  opts.host = ref.host;
  RegistryClient client(opts);
  TRY_ASSIGN(std::string dir, make_staging_dir(join_path(work_dir, "pulled")));
  for (const char* d : {"blobs", "blobs/sha256"}) {
    if (::mkdir(join_path(dir, d).c_str(), 0755) != 0) return sys_error("mkdir " + dir + "/" + d);
  }
  auto put_json = [&](const std::string& bytes) {
    return write_file_atomic(join_path(dir, bundle::blob_path(sha256_digest(bytes))), bytes);
  };
  const std::string what = ref.host + "/" + ref.repository + ":" + ref.reference();
  TRY_ASSIGN(auto root, client.get_manifest(ref.repository, ref.reference()));
  bundle::Descriptor top{root.media_type, root.digest, root.bytes.size()};
  std::vector<bundle::Descriptor> manifests;  // single-platform manifests to fetch
  if (bundle::is_index_media_type(root.media_type)) {
    auto index = nlohmann::json::parse(root.bytes, nullptr, false);
    if (!index.is_object() || !index.contains("manifests")) return make_error(Errc::kParse, what + ": malformed image index");
    nlohmann::json kept = nlohmann::json::array();
    std::string available;
    for (const auto& m : index["manifests"]) {
      std::string p = m.contains("platform") ? m["platform"].value("os", std::string()) + "/" +
                                                   m["platform"].value("architecture", std::string())
                                             : "unknown";
      available += (available.empty() ? "" : ", ") + p;
      bool keep = platforms.empty();
      for (const auto& w : platforms) keep = keep || (m.contains("platform") && platform_matches(m["platform"], w));
      if (keep) kept.push_back(m);
    }
    if (kept.empty()) return make_error(Errc::kNotFound, what + ": no manifest for the platforms asked (available: " + available + ")");
    for (const auto& m : kept) {
      manifests.push_back({m.value("mediaType", std::string()), m.value("digest", std::string()), m.value("size", uint64_t{0})});
    }
    if (kept.size() == 1 && !platforms.empty()) {
      top = manifests[0];  // one platform: the image is that manifest, with its original digest
    } else if (kept.size() != index["manifests"].size()) {
      index["manifests"] = kept;  // a subset: a new index (a new digest; the manifests keep theirs)
      std::string bytes = index.dump();
      TRY_STATUS(put_json(bytes));
      top = {root.media_type, sha256_digest(bytes), bytes.size()};
    } else {
      TRY_STATUS(put_json(root.bytes));
    }
  } else if (bundle::is_manifest_media_type(root.media_type)) {
    manifests.push_back(top);
  } else {
    return make_error(Errc::kUnsupported, what + ": unsupported manifest media type '" + root.media_type +
                                              "' (docker schema1 and unknown types are not supported)");
  }
  std::set<std::string> fetched;
  for (const auto& md : manifests) {
    std::string bytes = root.bytes;
    if (md.digest != root.digest) {
      TRY_ASSIGN(auto m, client.get_manifest(ref.repository, md.digest));
      bytes = m.bytes;
    }
    TRY_STATUS(put_json(bytes));
    TRY_ASSIGN(auto children, bundle::oci_children(bytes, md.media_type, what));
    for (const auto& ch : children) {
      if (!fetched.insert(ch.digest).second) continue;
      TRY_STATUS(client.get_blob(ref.repository, ch.digest, ch.size, join_path(dir, bundle::blob_path(ch.digest))));
    }
  }
  nlohmann::json index_json = {{"schemaVersion", 2},
                               {"manifests", {{{"mediaType", top.media_type}, {"digest", top.digest}, {"size", top.size},
                                               {"annotations", {{"org.opencontainers.image.ref.name", out_tag}}}}}}};
  TRY_STATUS(write_file_atomic(join_path(dir, "index.json"), index_json.dump()));
  TRY_STATUS(write_file_atomic(join_path(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}"));
  return dir;
}

Status resolve_registry_inputs(bundle::BundleSpec& spec, const RegistryOptions& registry, const std::string& work_dir) {
  for (auto& c : spec.components) {
    if (c.type != "oci-image" || c.image.empty() || !c.layout.empty()) continue;
    auto wrap = [&](const Error& e) { return e.wrap(c.where + ": component '" + c.name + "'"); };
    auto ref = parse_image_reference(c.image);
    if (!ref.ok()) return wrap(ref.error());
    auto dir = pull_to_layout(registry, *ref, c.platforms, work_dir, c.ref);
    if (!dir.ok()) return wrap(dir.error());
    c.layout = *dir;  // c.image stays: create records it as the image's source
    c.tag = c.ref;
    c.platforms.clear();
  }
  return {};
}

}  // namespace airlock::images
