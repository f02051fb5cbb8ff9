// Head reading and the t-of-n signature check (docs/bundle-format.md §B "Verifying").
#include "bundle/head.h"

#include <set>

#include "common/sha256.h"

namespace airlock::bundle {
namespace {

constexpr uint64_t kSigMax = 16 * 1024;

Result<std::string> read_member(TarReader& tar, const MemberHeader& m) {
  std::string out;
  out.reserve(m.size);
  for (;;) {
    TRY_ASSIGN(std::string_view block, tar.read_block());
    if (block.empty()) break;
    out.append(block);
  }
  if (out.size() != m.size) return make_error(Errc::kIntegrity, "member '" + m.name + "': truncated");
  return out;
}

bool is_signature_member(const std::string& name) {
  return name.size() == 12 + 16 + 8 && name.rfind("bundle.json.", 0) == 0 &&
         name.compare(name.size() - 8, 8, ".minisig") == 0;
}

}  // namespace

Result<BundleHead> read_head(TarReader& tar) {
  BundleHead head;
  TRY_ASSIGN(auto first, tar.next());
  if (!first) return make_error(Errc::kIntegrity, "empty archive: bundle.json is missing");
  if (first->name.rfind("trust/", 0) == 0) {
    return make_error(Errc::kUnsupported, "member '" + first->name +
                                              "': trust/ key delegation is not supported by this verifier yet");
  }
  if (first->name != kManifestName) {
    return make_error(Errc::kIntegrity, "bundle.json must be the first member, found '" + first->name + "'");
  }
  if (first->size > kManifestMaxBytes) {
    return make_error(Errc::kLimit, "bundle.json: " + std::to_string(first->size) + " bytes exceeds the 16 MiB cap");
  }
  TRY_ASSIGN(head.manifest_bytes, read_member(tar, *first));
  head.manifest_digest = sha256_digest(head.manifest_bytes);
  std::set<std::string> seen;
  for (;;) {
    TRY_ASSIGN(auto m, tar.next());
    if (!m) break;
    if (!is_signature_member(m->name)) {
      if (m->name == kManifestName) return make_error(Errc::kIntegrity, "duplicate member 'bundle.json'");
      if (m->name.rfind("bundle.json.", 0) == 0) {
        return make_error(Errc::kIntegrity, "member '" + m->name + "': not a valid signature member name");
      }
      head.pending = m;
      break;
    }
    if (!seen.insert(m->name).second) return make_error(Errc::kIntegrity, "duplicate member '" + m->name + "'");
    if (m->size > kSigMax) return make_error(Errc::kLimit, "member '" + m->name + "': signature larger than 16 KiB");
    TRY_ASSIGN(std::string text, read_member(tar, *m));
    head.signatures.push_back({m->name, std::move(text)});
  }
  return head;
}

std::vector<Signer> list_signers(const BundleHead& head) {
  std::vector<Signer> out;
  for (const auto& s : head.signatures) {
    Signer signer;
    signer.member = s.member;
    auto sig = parse_signature(s.text, s.member);
    if (sig.ok()) {
      signer.key_id = key_id_hex(sig->key_id);
      signer.trusted_comment = sig->trusted_comment;
    }
    out.push_back(signer);
  }
  return out;
}

Result<SignatureCheck> check_signatures(const BundleHead& head, const std::vector<PublicKey>& keys,
                                        size_t threshold) {
  if (keys.empty()) return make_error(Errc::kInvalidArgument, "no public key given (--pub)");
  SignatureCheck check;
  std::set<std::string> valid_keys;  // distinct public keys, not key ids (ids can collide)
  for (const auto& s : head.signatures) {
    auto parsed = parse_signature(s.text, s.member);
    if (!parsed.ok()) {  // a malformed signature inside a bundle is a rejected bundle, not bad usage
      Error e = parsed.error();
      if (e.code == Errc::kParse) e.code = Errc::kSignature;
      return e;
    }
    const Signature& sig = *parsed;
    Signer signer{key_id_hex(sig.key_id), s.member, sig.trusted_comment, false};
    if (s.member != "bundle.json." + signer.key_id + ".minisig") {
      return make_error(Errc::kSignature, "member '" + s.member + "': holds a signature by key " + signer.key_id +
                                              " under another key's name");
    }
    for (const auto& k : keys) {
      if (k.key_id != sig.key_id) continue;
      TRY_STATUS(verify_signature(k, sig, head.manifest_bytes, s.member));
      signer.pinned = true;
      valid_keys.insert(std::string(k.pk.begin(), k.pk.end()));
    }
    check.signers.push_back(std::move(signer));
  }
  check.valid_pinned = valid_keys.size();
  if (check.valid_pinned < threshold) {
    std::string have;
    for (const auto& s : check.signers) have += (have.empty() ? "" : ", ") + s.key_id + (s.pinned ? "" : " (unknown key)");
    return make_error(Errc::kSignature, "signature threshold not met: " + std::to_string(check.valid_pinned) +
                                            " valid signature(s) by pinned keys, " + std::to_string(threshold) +
                                            " required (signatures present: " + (have.empty() ? "none" : have) + ")");
  }
  return check;
}

Status check_signer_comments(const std::vector<Signer>& signers, const Manifest& manifest) {
  for (const auto& s : signers) {
    if (s.pinned) TRY_STATUS(check_trusted_comment(s.trusted_comment, manifest, s.member));
  }
  return {};
}

Result<HeadInfo> load_head(const std::string& path, const std::vector<PublicKey>& keys, size_t threshold) {
  TRY_ASSIGN(auto tar, TarReader::open(path));
  HeadInfo info;
  TRY_ASSIGN(info.head, read_head(*tar));
  if (!keys.empty()) {
    TRY_ASSIGN(SignatureCheck check, check_signatures(info.head, keys, threshold));
    info.signers = check.signers;
    info.signatures_checked = true;
  } else {
    info.signers = list_signers(info.head);
  }
  TRY_ASSIGN(info.manifest, parse_manifest(info.head.manifest_bytes));
  if (info.signatures_checked) TRY_STATUS(check_signer_comments(info.signers, info.manifest));
  return info;
}

}  // namespace airlock::bundle
