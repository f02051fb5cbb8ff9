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

// out: a file path (written under a temporary name, then renamed) or "-" for stdout.
Status export_image(const BundleImages& bundle, const Image& image, const std::string& out, const ExportOptions& opts);
// The same stream into any sink (a pipe to `docker load`, ...).
Status write_image_archive(const BundleImages& bundle, const Image& image, bundle::ByteSink& sink,
                           const ExportOptions& opts);

}  // namespace airlock::images
