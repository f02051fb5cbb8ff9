// The connected side of image transport: pull an image from a registry (OCI distribution API)
// into an OCI layout directory that `bundle create` packs, keeping every digest as the
// registry has it (no recompression). A platform filter picks manifests out of an index.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bundle/spec.h"
#include "images/registry_client.h"

namespace airlock::images {

struct ImageReference {
  std::string host;  // "registry.example.com:5000"
  std::string repository;
  std::string tag;     // empty when only a digest is given
  std::string digest;  // "sha256:..." or empty
  std::string reference() const { return digest.empty() ? tag : digest; }
};

// "host[:port]/path[:tag][@sha256:...]"; without a host part the image is on Docker Hub.
Result<ImageReference> parse_image_reference(std::string_view text);

// Does "os/arch[/variant]" match an OCI platform object?
bool platform_matches(const nlohmann::json& platform, const std::string& wanted);

// Pulls into a fresh layout directory under work_dir; its index.json names the image out_tag.
// platforms: keep only these from an index (one left: that manifest becomes the image).
Result<std::string> pull_to_layout(const RegistryOptions& registry, const ImageReference& ref,
                                   const std::vector<std::string>& platforms, const std::string& work_dir,
                                   const std::string& out_tag);

// For every oci-image component with `image:` set: pulls it and points c.layout at the result.
// `registry` holds the connection settings (TLS, credentials); its host is taken from each image.
Status resolve_registry_inputs(bundle::BundleSpec& spec, const RegistryOptions& registry, const std::string& work_dir);

}  // namespace airlock::images
