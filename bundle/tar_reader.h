// The one tar parser for bundles (libarchive, tar format only, no filters). It hands out members
// only after checking what docs/bundle-format.md §E demands of the outer tar: regular files
// only (no links, devices, FIFOs), safe names, no GNU/global/sparse header tricks, and a raw
// ustar size that agrees with libarchive's (pax) size. Data comes in zero-copy blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bundle/parts.h"
#include "common/result.h"

struct archive;

namespace airlock::bundle {

struct MemberHeader {
  std::string name;
  uint64_t size = 0;
  uint64_t data_offset = 0;  // where the member's data starts in the (concatenated) stream
};

// Rejects empty, absolute, "..", backslash, control characters and over-long names.
Status check_member_name(std::string_view name);

class TarReader {
 public:
  static Result<std::unique_ptr<TarReader>> open(const std::string& path);
  ~TarReader();

  // The next regular-file member, or nullopt at the end of the archive.
  Result<std::optional<MemberHeader>> next();
  // The next block of the current member's data; size 0 at its end.
  Result<std::string_view> read_block();
  uint64_t total_size() const { return input_.total_size(); }

 private:
  explicit TarReader(PartsReader input);
  static long read_callback(struct archive*, void* self, const void** buf);
  Status check_raw_header(MemberHeader& m);

  PartsReader input_;
  struct archive* a_ = nullptr;
  std::string current_;
  uint64_t expected_offset_ = 0;
  Error read_error_;
  bool has_read_error_ = false;
};

}  // namespace airlock::bundle
