// zstd driven directly (libarchive only frames the tar): compression of payloads we store, and
// capped decompression of blobs whose digest already matched (windowLog <= 27, output must equal
// the signed content size exactly: the decompression-bomb cap of docs/bundle-format.md §C.5).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock::bundle {

inline constexpr int kMaxWindowLog = 27;

struct CompressResult {
  std::string content_digest;  // of the input
  uint64_t content_size = 0;
  std::string blob_digest;     // of the compressed output
  uint64_t blob_size = 0;
};

// Compresses src into dst_fd. nbWorkers is always >= 1: zstd's output then does not depend on
// the worker count, so bundles are reproducible on any machine.
Result<CompressResult> compress_file(const std::string& src, int dst_fd, const std::string& dst_name,
                                     int level, int workers);

// True when the first bytes are a format that is already compressed (gzip, zstd, xz, bzip2,
// lz4, zip, Debian ar packages, rpm): storing such payloads as they are saves CPU for no loss.
bool looks_compressed(std::string_view head);

// Checks a zstd frame header: window within 2^27, declared content size (if any) == expected.
Status check_frame_header(std::string_view head, uint64_t expected_size, std::string_view what);

// Decompresses src_fd to dst_fd; fails as soon as output would exceed expected_size, and when
// it ends short or with trailing data. Returns the sha256 digest of the output.
Result<std::string> decompress_fd(int src_fd, int dst_fd, uint64_t expected_size, std::string_view what);

}  // namespace airlock::bundle
