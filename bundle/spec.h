// bundle.yaml: what an operator writes to describe a bundle. Parsed with yaml-cpp; every error
// is "file:line:col: message" pointing at the offending node. Paths are relative to the file.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"

namespace airlock::bundle {

struct ComponentSpec {
  std::string type;
  std::string name;
  std::string version;
  std::string ref;         // oci-image: the tag recorded in the bundle
  std::string layout;      // oci-image: OCI layout directory (absolute after parsing)
  std::string tag;         // oci-image: ref.name inside the layout (default: ref, or the only image)
  std::string archive;     // oci-image: a docker-archive or oci-archive tar (absolute after parsing)
  std::string format;      // oci-image with archive: docker-archive | oci-archive (empty: detect)
  std::string image;       // oci-image: pull from a registry at create time (host/repo:tag or @sha256:...)
  std::vector<std::string> platforms;  // oci-image: keep only these (os/arch[/variant]); empty: all
  std::string source;      // file-like: the payload (absolute after parsing)
  std::string media_type;  // file-like: defaults by type
  std::string compress = "auto";  // auto | always | never
  nlohmann::json install = nlohmann::json::object();
  std::string where;       // "bundle.yaml:12:5" for later errors about this component
};

struct BundleSpec {
  BundleInfo info;
  std::optional<int64_t> expires_in_days;
  std::vector<ComponentSpec> components;
};

Result<BundleSpec> parse_bundle_spec(const std::string& text, const std::string& file_name,
                                     const std::string& base_dir);
Result<BundleSpec> load_bundle_spec(const std::string& path);

}  // namespace airlock::bundle
