// images export: one image of a verified bundle as a stream that `docker load` (docker-archive,
// in the Docker >= 25 form: OCI layout plus manifest.json) or `ctr images import` / skopeo
// (oci-archive) accept, written straight from the bundle file to a file or stdout. Every blob
// is hashed again as it is written, so media changed after verification cannot slip through.
#pragma once

#include <string>

#include "bundle/parts.h"
#include "images/bundle_images.h"

namespace airlock::images {

enum class ExportFormat { kDockerArchive, kOciArchive };

Result<ExportFormat> parse_export_format(const std::string& text);

struct ExportOptions {
  ExportFormat format = ExportFormat::kDockerArchive;
  std::string platform;  // os/arch[/variant] for an image index (docker-archive needs one manifest)
  bool progress = false;
};

// What a docker-archive of `image` holds apart from the blob bytes: its small members and its
// blobs in order (config, layers, manifest). A node that already has the blobs can assemble the
// same archive itself (the install engine's `images` step does).
struct DockerArchiveLayout {
  std::string index_json;     // index.json (with its newline)
  std::string manifest_json;  // manifest.json (Docker's, with RepoTags; with its newline)
  std::vector<bundle::Descriptor> blobs;
  bundle::Descriptor manifest;  // the image manifest chosen (for an index: by platform)
  std::string config_digest;    // = the image id docker and podman give the loaded image
};
Result<DockerArchiveLayout> docker_archive_layout(const Image& image, const std::string& platform);

// out: a file path (written under a temporary name, then renamed) or "-" for stdout.
Status export_image(const BundleImages& bundle, const Image& image, const std::string& out, const ExportOptions& opts);
// The same stream into any sink (a pipe to `docker load`, ...).
Status write_image_archive(const BundleImages& bundle, const Image& image, bundle::ByteSink& sink,
                           const ExportOptions& opts);

}  // namespace airlock::images
