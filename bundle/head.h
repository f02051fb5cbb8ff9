// The head of a bundle: bundle.json and its signature members, which come first in the tar.
// Reading it is cheap (no blob is touched): inspect, diff and delta creation use it alone;
// verify uses the same signature check before it reads any payload.
#pragma once

#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "bundle/minisign.h"
#include "bundle/tar_reader.h"
#include "common/result.h"

namespace airlock::bundle {

struct SignatureMember {
  std::string member;  // bundle.json.<KEYID>.minisig
  std::string text;
};

struct BundleHead {
  std::string manifest_bytes;
  std::string manifest_digest;  // sha256 of bundle.json
  std::vector<SignatureMember> signatures;
  // The first member after the head (already read by the tar reader), if any.
  std::optional<MemberHeader> pending;
};

struct Signer {
  std::string key_id;
  std::string member;
  std::string trusted_comment;
  bool pinned = false;  // made by one of the keys we were given
};

struct SignatureCheck {
  std::vector<Signer> signers;
  size_t valid_pinned = 0;  // distinct pinned public keys with a valid signature
};

// Reads bundle.json (first member, <= 16 MiB) and the signature members that follow it.
Result<BundleHead> read_head(TarReader& tar);

// Verifies every signature made by a pinned key (any bad one is an error naming its member),
// counts distinct pinned keys and enforces the threshold. Signatures by unknown keys are listed
// but never counted. Runs before bundle.json is parsed.
Result<SignatureCheck> check_signatures(const BundleHead& head, const std::vector<PublicKey>& keys,
                                        size_t threshold);

// Cross-checks the trusted comments of pinned signers with the parsed manifest.
Status check_signer_comments(const std::vector<Signer>& signers, const Manifest& manifest);

// Signers named by the signature members, without checking them (inspect without --pub).
std::vector<Signer> list_signers(const BundleHead& head);

// The head of the bundle at `path`, with its manifest parsed (signatures NOT checked unless keys
// are given, in which case check_signatures runs first).
struct HeadInfo {
  BundleHead head;
  Manifest manifest;
  std::vector<Signer> signers;
  bool signatures_checked = false;
};
Result<HeadInfo> load_head(const std::string& path, const std::vector<PublicKey>& keys, size_t threshold);

}  // namespace airlock::bundle
