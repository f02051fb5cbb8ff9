// The node content store: <prefix>/var/lib/airlock/blobs/sha256/<hex>, one read-only file per
// blob named by its digest. Blobs arrive under a temporary name and are renamed into place only
// once verified, so a name in the store is trusted (missing() re-hashes only when asked).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "node/layout.h"

namespace airlock::node {

// A digest the caller wants, with its size when known ("sha256:<hex>" or "sha256:<hex>=SIZE").
struct Want {
  std::string digest;
  std::optional<uint64_t> size;
};
Result<Want> parse_want(const std::string& arg);

std::string blob_path(const Layout& l, const std::string& digest);

struct MissingResult {
  std::vector<std::string> missing;  // in the order asked, each once
  std::vector<std::string> removed;  // present but wrong (size, digest, not a file): deleted
  size_t present = 0;
};
// Which of the wanted blobs the store lacks. A blob of the wrong size (when the size is given),
// the wrong content (verify) or not a regular file counts as missing and is removed.
Result<MissingResult> store_missing(const Layout& l, const std::vector<Want>& wants, bool verify);

struct PutResult {
  std::string digest;
  uint64_t size = 0;
  bool changed = false;  // false: the blob was already there (the input was read and dropped)
};
// Streams fd into the store: temporary file, sha256 (and size when given) checked, fsync,
// mode 0444, rename, fsync of the directory. Nothing is left behind on a mismatch.
Result<PutResult> store_put(const Layout& l, const Want& want, int fd);

struct GcResult {
  std::vector<std::string> removed;
  size_t kept = 0;
  uint64_t freed_bytes = 0;
};
// Removes every blob that is neither in keep nor named by a release's .airlock-release.json
// (releases hard-link blobs, so this frees no space they still use), and leftover temporary
// files older than an hour. dry_run: report only.
Result<GcResult> store_gc(const Layout& l, const std::vector<std::string>& keep, bool dry_run);

}  // namespace airlock::node
