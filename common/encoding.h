// Hex and base64 (RFC 4648 standard alphabet, padded, as minisign writes it) through libsodium,
// plus human-readable byte sizes ("1.5 GiB") and size parsing ("4G", "700M") for options.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock {

std::string hex_encode(const void* data, size_t len);
std::string base64_encode(const void* data, size_t len);
// Strict: rejects characters outside the alphabet, bad padding and trailing garbage.
Result<std::string> base64_decode(std::string_view text);

std::string human_bytes(uint64_t n);
// "4G", "700M", "512k", "1024" (binary multiples); rejects anything else.
Result<uint64_t> parse_size(std::string_view text);

}  // namespace airlock
