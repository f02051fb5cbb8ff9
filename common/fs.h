// Small POSIX file helpers: an owning fd, bounded whole-file reads, full writes, atomic
// replace (temp file, fsync, rename, fsync dir), private staging directories and cleanup.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

Result<UniqueFd> open_read(const std::string& path);
// Reads a whole file; fails with kLimit when it is larger than max_bytes.
Result<std::string> read_file(const std::string& path, uint64_t max_bytes = 64ull << 20);
Status write_all(int fd, const void* data, size_t len, const std::string& what);
// Writes the file under a temporary name in the same directory, fsyncs, renames over path.
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// Creates a fresh mode-0700 directory next to `near` (same filesystem), e.g. "DIR.staging-XXXXXX".
Result<std::string> make_staging_dir(const std::string& near);
// Removes a tree without following symlinks. Best effort; used for cleanup.
void remove_tree(const std::string& path);
Status fsync_path(const std::string& path);
std::string dirname_of(const std::string& path);
std::string basename_of(const std::string& path);
// Joins a relative path onto a base directory (absolute rel is returned unchanged).
std::string join_path(const std::string& base, const std::string& rel);
bool path_exists(const std::string& path);
Result<uint64_t> file_size(const std::string& path);

}  // namespace airlock
