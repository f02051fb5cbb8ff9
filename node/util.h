// Small helpers shared by the node operations: SHA-256 (libsodium's, so the static airlock-node
// does not pull in the whole static libcrypto, which would nearly double it and bring
// getaddrinfo/dlopen along), digest and name validation, directory creation and fsync.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock::node {

class Hasher {
 public:
  Hasher() { crypto_hash_sha256_init(&st_); }
  void update(const void* data, size_t len) {
    crypto_hash_sha256_update(&st_, static_cast<const unsigned char*>(data), len);
  }
  void update(std::string_view s) { update(s.data(), s.size()); }
  // "sha256:<64 lowercase hex>".
  std::string finish_digest();

 private:
  crypto_hash_sha256_state st_;
};

std::string digest_of(std::string_view data);
// Streams a file through the hasher; *size gets its length when given.
Result<std::string> digest_file(const std::string& path, uint64_t* size = nullptr);
// "sha256:" + exactly 64 lowercase hex characters.
bool valid_digest(std::string_view d);
inline std::string_view hex_of(std::string_view d) { return d.substr(7); }

// A release name: 1..128 of [A-Za-z0-9._+-], not starting with '.' or '-'.
Status check_release_name(std::string_view name);

// mkdir -p with mode 0755 for the missing parts; fsyncs the parent of each directory it made.
Status make_dirs(const std::string& path);
// fsync of a directory (the entries just renamed or created in it).
Status fsync_dir(const std::string& dir);

// Milliseconds on the monotonic clock.
int64_t mono_ms();

}  // namespace airlock::node
