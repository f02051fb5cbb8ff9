// Content store operations: missing, put, gc.
#include "node/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <set>
#include <vector>

#include "common/fs.h"
#include "node/release.h"
#include "node/util.h"

namespace airlock::node {

Result<Want> parse_want(const std::string& arg) {
  Want w;
  auto eq = arg.find('=');
  w.digest = arg.substr(0, eq);
  if (!valid_digest(w.digest)) {
    return make_error(Errc::kInvalidArgument,
                      "'" + arg + "' is not a digest (want sha256:<64 lowercase hex>[=SIZE])");
  }
  if (eq != std::string::npos) {
    std::string s = arg.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || s[0] == '-') {
      return make_error(Errc::kInvalidArgument, "'" + arg + "': size is not a whole number");
    }
    w.size = v;
  }
  return w;
}

std::string blob_path(const Layout& l, const std::string& digest) {
  return join_path(l.blobs_dir(), std::string(hex_of(digest)));
}

namespace {

// Removes a bad blob (file or anything else squatting on its name).
Status remove_bad(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    remove_tree(path);
  } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return sys_error("remove bad blob " + path);
  }
  return {};
}

}  // namespace

Result<MissingResult> store_missing(const Layout& l, const std::vector<Want>& wants, bool verify) {
  MissingResult r;
  std::set<std::string> seen;
  bool removed_any = false;
  for (const Want& w : wants) {
    if (!seen.insert(w.digest).second) continue;
    std::string path = blob_path(l, w.digest);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR) return sys_error("stat " + path);
      r.missing.push_back(w.digest);
      continue;
    }
    bool bad = !S_ISREG(st.st_mode) || (w.size && static_cast<uint64_t>(st.st_size) != *w.size);
    if (!bad && verify) {
      auto d = digest_file(path);
      if (!d.ok()) return d.error().wrap("verify blob " + w.digest);
      bad = *d != w.digest;
    }
    if (bad) {
      TRY_STATUS(remove_bad(path));
      r.removed.push_back(w.digest);
      r.missing.push_back(w.digest);
      removed_any = true;
    } else {
      ++r.present;
    }
  }
  if (removed_any) TRY_STATUS(fsync_dir(l.blobs_dir()));
  return r;
}

Result<PutResult> store_put(const Layout& l, const Want& want, int in_fd) {
  PutResult r;
  r.digest = want.digest;
  TRY_STATUS(make_dirs(l.blobs_dir()));
  std::string final_path = blob_path(l, want.digest);
  static thread_local char buf[1 << 17];
  struct stat st;
  if (::lstat(final_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      (!want.size || static_cast<uint64_t>(st.st_size) == *want.size)) {
    // Already stored: drain the input so a writer on the other end of a pipe sees no EPIPE.
    for (;;) {
      ssize_t n = ::read(in_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
    }
    r.size = static_cast<uint64_t>(st.st_size);
    return r;
  }
  std::string tmpl = join_path(l.blobs_dir(), ".tmp-" + std::string(hex_of(want.digest)) + "-XXXXXX");
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return sys_error("create temporary blob in " + l.blobs_dir());
  UniqueFd guard(fd);
  std::string tmp(name.data());
  auto fail = [&](Error e) -> Error {
    ::unlink(tmp.c_str());
    return e;
  };
  Hasher h;
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(in_fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(sys_error("read standard input"));
    }
    if (n == 0) break;
    h.update(buf, static_cast<size_t>(n));
    if (auto st2 = write_all(fd, buf, static_cast<size_t>(n), tmp); !st2.ok()) {
      return fail(st2.error());
    }
    total += static_cast<uint64_t>(n);
  }
  std::string got = h.finish_digest();
  if (got != want.digest) {
    return fail(make_error(Errc::kIntegrity, "blob digest mismatch: got " + got + ", want " +
                                                 want.digest + " (" + std::to_string(total) +
                                                 " bytes read)"));
  }
  if (want.size && total != *want.size) {
    return fail(make_error(Errc::kIntegrity, "blob " + want.digest + ": got " +
                                                 std::to_string(total) + " bytes, want " +
                                                 std::to_string(*want.size)));
  }
  if (::fchmod(fd, 0444) != 0) return fail(sys_error("chmod " + tmp));
  if (::fsync(fd) != 0) return fail(sys_error("fsync " + tmp));
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return fail(sys_error("rename to " + final_path));
  }
  TRY_STATUS(fsync_dir(l.blobs_dir()));
  r.size = total;
  r.changed = true;
  return r;
}

Result<GcResult> store_gc(const Layout& l, const std::vector<std::string>& keep, bool dry_run) {
  GcResult r;
  std::set<std::string> keep_hex;
  for (const auto& d : keep) keep_hex.insert(std::string(hex_of(d)));
  TRY_ASSIGN(std::vector<ReleaseInfo> releases, list_releases(l));
  for (const auto& rel : releases) {
    for (const auto& d : rel.blobs) keep_hex.insert(std::string(hex_of(d)));
  }
  std::string dir = l.blobs_dir();
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return r;
    return sys_error("open " + dir);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  time_t now = ::time(nullptr);
  for (const auto& n : names) {
    std::string path = join_path(dir, n);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    bool is_tmp = n.rfind(".tmp-", 0) == 0;
    if (is_tmp) {
      if (now - st.st_mtime < 3600) continue;  // maybe a put still in progress
    } else if (valid_digest("sha256:" + n) && keep_hex.count(n)) {
      ++r.kept;
      continue;
    }
    if (!dry_run) {
      if (S_ISDIR(st.st_mode)) {
        remove_tree(path);
      } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return sys_error("remove " + path);
      }
    }
    if (!is_tmp) r.removed.push_back(valid_digest("sha256:" + n) ? "sha256:" + n : n);
    if (S_ISREG(st.st_mode) && st.st_nlink == 1) r.freed_bytes += static_cast<uint64_t>(st.st_size);
  }
  if (!dry_run && !names.empty()) TRY_STATUS(fsync_dir(dir));
  return r;
}

}  // namespace airlock::node
