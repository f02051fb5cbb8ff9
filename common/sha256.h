// SHA-256 through OpenSSL libcrypto (SHA-NI where the CPU has it, ~7x libsodium's portable
// code). Digest strings are OCI style: "sha256:" followed by 64 lowercase hex characters.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<uint8_t, 32> finish();
  // finish() as "sha256:<hex>".
  std::string finish_digest();

 private:
  void* ctx_;  // EVP_MD_CTX
};

std::string sha256_digest(std::string_view data);
// Hashes a whole file with a streaming read (bounded memory).
Result<std::string> sha256_file(const std::string& path);

// True for "sha256:" + exactly 64 lowercase hex characters.
bool is_valid_digest(std::string_view digest);
// The 64-character hex part of a valid digest.
std::string_view digest_hex(std::string_view digest);

}  // namespace airlock
