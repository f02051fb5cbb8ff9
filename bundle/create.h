// bundle create: bundle.yaml -> resolve inputs -> hash every blob once -> zstd what is not
// already compressed -> signed bundle.json first, then oci-layout, index.json and the blobs in
// manifest order (docs/bundle-format.md §A.1). The output appears only when complete.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "bundle/minisign.h"
#include "bundle/spec.h"
#include "common/result.h"

namespace airlock::bundle {

// Identity of a source file when it was hashed: the copy into the bundle refuses a file that
// has changed since (size, inode or modification time), so the bytes written are the bytes hashed.
struct FileIdentity {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

struct BlobSource {
  std::string path;  // where the bytes are now
  uint64_t size = 0;
  FileIdentity identity;  // all zero: not checked (files written by the test or by create itself)
};

// Everything needed to write a bundle. plan_bundle fills it from a spec; tests may craft one.
struct BundlePlan {
  Manifest manifest;
  std::string oci_layout;
  std::string index_json;
  std::map<std::string, BlobSource> blobs;  // by member path (blobs/sha256/<hex>)
};

struct CreateOptions {
  int64_t source_date_epoch = 0;
  int level = 3;
  int workers = 2;
  std::string base_path;   // delta: omit blobs present in this bundle
  std::string work_dir;    // where compressed payloads are staged (removed by the caller)
  bool progress = false;
};

Result<BundlePlan> plan_bundle(const BundleSpec& spec, const CreateOptions& opts);

struct WriteResult {
  std::vector<std::string> files;  // the bundle file, or its parts
  uint64_t bytes = 0;
  std::string manifest_digest;
};

// Signs bundle.json with every key and writes the tar (split into parts when split_size > 0).
Result<WriteResult> write_bundle(const BundlePlan& plan, const std::vector<const SecretKey*>& keys,
                                 const std::string& out_path, uint64_t split_size, int64_t signature_time,
                                 bool progress);

// index.json of the bundle's OCI layout: one entry per oci-image component.
std::string make_index_json(const Manifest& m);

}  // namespace airlock::bundle
