// POSIX implementations of the file helpers.
#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace airlock {

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<UniqueFd> open_read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("cannot open " + path);
  return UniqueFd(fd);
}

Result<std::string> read_file(const std::string& path, uint64_t max_bytes) {
  TRY_ASSIGN(UniqueFd fd, open_read(path));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read " + path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<uint64_t>(n) > max_bytes) {
      return make_error(Errc::kLimit,
                        path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status write_all(int fd, const void* data, size_t len, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write " + what);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

std::string dirname_of(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string basename_of(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

std::string join_path(const std::string& base, const std::string& rel) {
  if (rel.empty()) return base;
  if (rel[0] == '/' || base.empty()) return rel;
  return base.back() == '/' ? base + rel : base + "/" + rel;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Result<uint64_t> file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return sys_error("cannot stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

Status fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + path);
  UniqueFd guard(fd);
  if (::fsync(fd) != 0 && errno != EINVAL) return sys_error("fsync " + path);
  return {};
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmpl = path + ".tmp-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return sys_error("cannot create temporary file for " + path);
  UniqueFd guard(fd);
  std::string tmp(name.data());
  auto fail = [&](Error e) {
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(fd, mode) != 0) return fail(sys_error("chmod " + tmp));
  if (auto st = write_all(fd, data.data(), data.size(), tmp); !st.ok()) return fail(st.error());
  if (::fsync(fd) != 0) return fail(sys_error("fsync " + tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(sys_error("rename to " + path));
  return fsync_path(dirname_of(path));
}

Result<std::string> make_staging_dir(const std::string& near) {
  std::string base = near;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string tmpl = base + ".staging-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  if (::mkdtemp(name.data()) == nullptr) return sys_error("cannot create staging directory " + tmpl);
  return std::string(name.data());
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);  // does not follow symlinks
}

}  // namespace airlock
