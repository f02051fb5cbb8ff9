// Reading an OCI image layout on the connected side (bundle create): pick an image by tag from
// index.json and walk index -> manifests -> config and layers, giving every blob the image needs.
// Layers are not read here; their digests are checked while they are copied into the bundle.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"

namespace airlock::bundle {

struct OciImage {
  Descriptor root;                // the index or manifest the tag points at
  std::vector<Descriptor> blobs;  // closure including root, each digest once, sorted by digest
  nlohmann::json platforms = nlohmann::json::array();
};

bool is_index_media_type(std::string_view mt);
bool is_manifest_media_type(std::string_view mt);

// Children of an index (manifests) or a manifest (config + layers), from its JSON bytes.
Result<std::vector<Descriptor>> oci_children(std::string_view json_bytes, std::string_view media_type,
                                             std::string_view what);

// tag empty: the layout must hold exactly one image.
Result<OciImage> load_oci_image(const std::string& layout_dir, std::string_view tag);

}  // namespace airlock::bundle
