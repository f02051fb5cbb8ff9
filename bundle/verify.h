// bundle verify and extract: one streaming pass. Signatures first, then each member's type,
// name, listing, size (before reading data) and sha256 (while copying it into a private
// staging directory when extracting). Nothing is decompressed or parsed before its digest
// matches; on any failure the staging directory is removed and nothing appears at the target.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bundle/head.h"
#include "bundle/manifest.h"
#include "bundle/minisign.h"
#include "common/result.h"

namespace airlock::bundle {

struct VerifyOptions {
  std::vector<PublicKey> keys;
  size_t threshold = 1;
  int64_t now = 0;             // the clock, read once at start
  bool allow_expired = false;  // accept expired metadata and implausible clocks (logged by the CLI)
  std::string extract_to;      // empty: verify only
  std::string only;            // extract one component (and what it needs)
  std::string base_path;       // delta bundles: the base bundle that supplies omitted blobs
  bool progress = false;
};

struct VerifyResult {
  Manifest manifest;
  std::string manifest_digest;
  std::vector<Signer> signers;
  uint64_t members = 0;
  uint64_t bytes = 0;
  std::vector<std::string> warnings;  // e.g. --allow-expired used
  std::map<std::string, uint64_t> data_offsets;  // member -> offset of its data in the bundle stream
};

Result<VerifyResult> verify_bundle(const std::string& path, const VerifyOptions& opts);

// Expiry and clock plausibility (threat 3). Returns a warning text when allow_expired let it pass.
Result<std::string> check_freshness(const Manifest& m, int64_t now, bool allow_expired);

}  // namespace airlock::bundle
