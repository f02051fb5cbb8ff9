// The images inside a verified bundle, with random access to their blobs by digest. Opening it
// runs the full streaming verification first (signatures, every size and digest), then reads
// blobs straight from the bundle file at the offsets found: no extraction to a temp directory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/manifest.h"
#include "bundle/parts.h"
#include "bundle/verify.h"
#include "common/result.h"

namespace airlock::images {

struct ImageNode {  // one manifest or index of an image, children first in `order`
  bundle::Descriptor descriptor;
  std::string bytes;  // the JSON document
};

struct Image {
  const bundle::Component* component = nullptr;
  std::vector<ImageNode> manifests;          // children before parents; the root is last
  std::vector<bundle::Descriptor> blobs;     // configs and layers, each once
  uint64_t bytes = 0;                        // all blobs of the image, manifests included
};

class BundleImages {
 public:
  static Result<BundleImages> open(const std::string& path, const bundle::VerifyOptions& opts);
  // The images of `manifest` over blobs already verified and stored as one file each
  // (path_of: digest -> path, "" when there is none), e.g. a bundle extracted by `airlock
  // install`: no second verification pass. Every manifest read is hashed again (export hashes
  // every blob it writes; a registry checks the digest of every blob pushed to it); a blob
  // without a file is an error naming it.
  using BlobPathFn = std::function<std::string(const std::string& digest)>;
  static BundleImages from_files(bundle::Manifest manifest, BlobPathFn path_of);

  const bundle::VerifyResult& verified() const { return verified_; }
  std::vector<Image> images() const;
  // An image by component name or "name:ref"; the error lists the images there are.
  Result<Image> find(std::string_view ref) const;

  uint64_t blob_size(const std::string& digest) const;
  // Reads [offset, offset+len) of a blob's stored bytes.
  Status read_blob(const std::string& digest, uint64_t offset, char* buf, size_t len) const;
  Result<std::string> read_small_blob(const std::string& digest) const;

 private:
  Result<Image> image_of(const bundle::Component& c) const;
  bundle::VerifyResult verified_;
  std::optional<bundle::PartsPread> file_;
  BlobPathFn path_of_;  // from_files
};

// "registry.local:5000/team/app" -> "team/app": a first path part with '.' or ':' or equal to
// "localhost" names a registry host. The prefix, if any, is put in front ("site/team/app").
std::string repository_for(std::string_view component_name, std::string_view prefix);

}  // namespace airlock::images
