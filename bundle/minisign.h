// minisign's key and signature formats, byte for byte (docs/bundle-format.md §B), so that stock
// `minisign -V` can audit a bundle and keys made by `minisign -G` work here. Only prehashed
// ("ED") signatures are produced or accepted; legacy "Ed" signatures are refused.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock::bundle {

using KeyId = std::array<uint8_t, 8>;

struct PublicKey {
  KeyId key_id{};
  std::array<uint8_t, 32> pk{};
};

// The secret half lives in sodium_malloc'd memory and is wiped on destruction.
class SecretKey {
 public:
  SecretKey();
  ~SecretKey();
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  SecretKey(SecretKey&& o) noexcept;
  SecretKey& operator=(SecretKey&& o) noexcept;

  KeyId key_id{};
  uint8_t* sk() { return sk_; }  // 64 bytes: seed || public key (libsodium layout)
  const uint8_t* sk() const { return sk_; }
  PublicKey public_key() const;

 private:
  uint8_t* sk_ = nullptr;
};

struct Signature {
  std::string untrusted_comment;
  KeyId key_id{};
  std::array<uint8_t, 64> sig{};
  std::string trusted_comment;
  std::array<uint8_t, 64> global_sig{};
};

// minisign's display form of a key id: %016X of the little-endian 64-bit value.
std::string key_id_hex(const KeyId& id);

struct KeyPair {
  PublicKey pub;
  SecretKey secret;
};
KeyPair generate_key_pair();

std::string format_public_key(const PublicKey& key);
Result<PublicKey> parse_public_key(std::string_view text, std::string_view what);

// With a passphrase: minisign's scrypt encryption (opslimit/memlimit as minisign uses).
// Without: the unencrypted form of `minisign -G -W`.
std::string format_secret_key(const SecretKey& key, const std::optional<std::string>& passphrase);
// True when the key file is encrypted and parse_secret_key needs a passphrase.
Result<bool> secret_key_is_encrypted(std::string_view text, std::string_view what);
Result<SecretKey> parse_secret_key(std::string_view text, std::string_view what,
                                   const std::optional<std::string>& passphrase);

// BLAKE2b-512 of a message, the prehash that "ED" signatures sign.
std::array<uint8_t, 64> blake2b_512(std::string_view message);

// The whole .minisig file text.
std::string sign_message(const SecretKey& key, std::string_view message,
                         std::string_view trusted_comment, std::string_view untrusted_comment);
Result<Signature> parse_signature(std::string_view text, std::string_view what);
// Checks the signature over the message and the global signature over sig || trusted comment.
// Errors name `what` and which of the two failed.
Status verify_signature(const PublicKey& key, const Signature& sig, std::string_view message,
                        std::string_view what);

}  // namespace airlock::bundle
