// Reading a docker-archive / oci-archive tar safely, for archive_import.cc: member names
// normalized and checked, one libarchive pass at a time (tar only, every entry checked before
// it is handed out: no hard links, devices, FIFOs, sparse files, absolute or escaping names or
// symlinks), and pass 1's member table with the small JSON-looking members kept in memory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct archive;

namespace airlock::images::archive_scan {

constexpr uint64_t kMaxJson = 4ull << 20;        // one JSON member: manifest, index, config
constexpr uint64_t kMaxJsonTotal = 64ull << 20;  // all JSON-looking members kept in memory
constexpr size_t kMaxMembers = 1000000;
constexpr size_t kMaxNameBytes = 4095;
constexpr int kMaxLinkHops = 16;

std::string member_label(std::string_view name);  // "member 'NAME'"

// A member name as the archive's own path: "./" prefixes and a directory's trailing "/" removed.
// Empty for the archive root ("." or "./"). Rejects absolute names, "..", "." and empty
// components, backslashes, control characters and over-long names.
Result<std::string> normalize_name(std::string_view raw);


enum class Kind { kFile, kDir, kSymlink };

struct Entry {
  std::string name;  // normalized
  Kind kind = Kind::kFile;
  uint64_t size = 0;
  std::string link;  // symlinks: the resolved in-archive target
};

// One pass over the archive with libarchive: tar only (gzip-compressed tar accepted), every entry
// checked before it is handed out.
class Pass {
 public:
  Pass() = default;
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;
  ~Pass();

  Status open(int fd);
  // The next checked entry (the root directory entry is skipped), or nullopt at the end.
  Result<std::optional<Entry>> next();
  // The next block of the current member's data; empty at its end.
  Result<std::string_view> read_block();

 private:
  std::string why() const;

  struct ::archive* a_ = nullptr;
  std::string last_;
  int64_t expected_offset_ = 0;
};

struct Member {
  Kind kind = Kind::kFile;
  uint64_t size = 0;
  std::string link;
};

struct Scan {
  std::map<std::string, Member> members;
  std::map<std::string, std::string> json;  // small regular members whose data starts like JSON
  uint64_t json_bytes = 0;
};

// Pass 1: every entry checked, the member table, and the small JSON-looking members' bytes.
Result<Scan> scan_archive(int fd);
// Follows in-archive symlinks from `name` to the regular member holding the data. `what` starts
// the message when it is missing ("manifest.json names layer").
Result<std::string> regular_member(const Scan& s, const std::string& name, const std::string& what);
// The bytes of a small JSON member, following symlinks.
Result<std::string> json_member(const Scan& s, const std::string& name);

}  // namespace airlock::images::archive_scan
