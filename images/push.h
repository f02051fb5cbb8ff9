// images push: every image of a verified bundle (or one) into a registry, blobs streamed from
// the bundle file. Blobs the registry has are skipped (HEAD), blobs pushed to another repository
// in this run are mounted, the rest uploaded in resumable chunks; manifests go last, children
// before the indexes that name them, so a tag never points at something incomplete.
#pragma once

#include <string>
#include <vector>

#include "images/bundle_images.h"
#include "images/registry_client.h"

namespace airlock::images {

struct PushOptions {
  RegistryOptions registry;
  std::string prefix;
  std::string only;  // component name or name:ref; empty = all
  bool progress = false;
};

struct PushedImage {
  std::string repository;
  std::string tag;
  std::string digest;
};

struct PushResult {
  std::vector<PushedImage> images;
  uint64_t uploaded_blobs = 0, skipped_blobs = 0, mounted_blobs = 0;
  uint64_t uploaded_bytes = 0;
  bool resumed = false;
};

Result<PushResult> push_images(const BundleImages& bundle, PushOptions opts);

}  // namespace airlock::images
