// Hashing, validation and directory helpers for the node operations.
#include "node/util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "common/fs.h"

namespace airlock::node {

std::string Hasher::finish_digest() {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st_, out);
  static const char kHex[] = "0123456789abcdef";
  std::string s = "sha256:";
  for (unsigned char b : out) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

std::string digest_of(std::string_view data) {
  Hasher h;
  h.update(data);
  return h.finish_digest();
}

Result<std::string> digest_file(const std::string& path, uint64_t* size) {
  TRY_ASSIGN(UniqueFd fd, open_read(path));
  Hasher h;
  uint64_t total = 0;
  static thread_local char buf[1 << 17];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read " + path);
    }
    if (n == 0) break;
    h.update(buf, static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (size) *size = total;
  return h.finish_digest();
}

bool valid_digest(std::string_view d) {
  if (d.size() != 71 || d.substr(0, 7) != "sha256:") return false;
  for (char c : d.substr(7)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status check_release_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' && name[0] != '-';
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '+' || c == '-')) {
      ok = false;
    }
  }
  if (!ok) {
    return make_error(Errc::kInvalidArgument,
                      "release name '" + std::string(name) +
                          "': want 1..128 of [A-Za-z0-9._+-], not starting with '.' or '-'");
  }
  return {};
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open directory " + dir);
  UniqueFd guard(fd);
  if (::fsync(fd) != 0 && errno != EINVAL) return sys_error("fsync " + dir);
  return {};
}

Status make_dirs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return make_error(Errc::kIo, path + ": exists and is not a directory");
  }
  std::string parent = dirname_of(path);
  if (parent != path && !parent.empty()) TRY_STATUS(make_dirs(parent));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir " + path);
  return fsync_dir(parent);
}

int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace airlock::node
