// Encodings shared by signatures, digests and the CLI.
#include "common/encoding.h"

#include <sodium.h>

#include <cstdio>
#include <vector>

namespace airlock {

std::string hex_encode(const void* data, size_t len) {
  std::string out(len * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), static_cast<const unsigned char*>(data), len);
  out.pop_back();
  return out;
}

std::string base64_encode(const void* data, size_t len) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(len, variant), '\0');
  sodium_bin2base64(out.data(), out.size(), static_cast<const unsigned char*>(data), len, variant);
  out.pop_back();  // trailing NUL
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  std::string out(text.size(), '\0');
  size_t out_len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &out_len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return make_error(Errc::kParse, "invalid base64");
  }
  out.resize(out_len);
  return out;
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

Result<uint64_t> parse_size(std::string_view text) {
  if (text.empty()) return make_error(Errc::kInvalidArgument, "empty size");
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (value > (UINT64_MAX - 9) / 10) {
      return make_error(Errc::kInvalidArgument, "size too large: " + std::string(text));
    }
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return make_error(Errc::kInvalidArgument, "not a size: " + std::string(text));
  std::string_view suffix = text.substr(i);
  int shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "k" || suffix == "K" || suffix == "KiB") {
    shift = 10;
  } else if (suffix == "M" || suffix == "MiB") {
    shift = 20;
  } else if (suffix == "G" || suffix == "GiB") {
    shift = 30;
  } else if (suffix == "T" || suffix == "TiB") {
    shift = 40;
  } else {
    return make_error(Errc::kInvalidArgument,
                      "unknown size suffix in '" + std::string(text) + "' (use k, M, G or T)");
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) {
    return make_error(Errc::kInvalidArgument, "size too large: " + std::string(text));
  }
  return value << shift;
}

}  // namespace airlock
