// SystemRoot implementations: the live host, a captured directory tree (links resolved inside
// it) and an in-memory tree for tests. See system_root.h.
#include "common/system_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <sstream>
#include <system_error>
#include <thread>

#include "common/fs.h"

namespace airlock {
namespace {

constexpr int kMaxLinks = 40;

std::vector<std::string> split_components(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join_rel(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a + "/" + b;
}

std::string parent_of(const std::string& rel) {
  size_t k = rel.rfind('/');
  return k == std::string::npos ? std::string() : rel.substr(0, k);
}

std::string leaf_of(const std::string& rel) {
  size_t k = rel.rfind('/');
  return k == std::string::npos ? rel : rel.substr(k + 1);
}


// Reads an open fd to EOF with a cap. sysfs files report st_size 4096, so no fstat sizing.
Result<std::string> read_fd(int fd, const std::string& rel, uint64_t max_bytes) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return rel_error(errno, "read", rel);
    }
    if (n == 0) break;
    if (out.size() + static_cast<uint64_t>(n) > max_bytes) {
      return make_error(Errc::kLimit,
                        rel + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::vector<std::string>> list_path(const std::string& path, const std::string& rel,
                                           bool nofollow) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
  if (fd < 0) return rel_error(errno, "list", rel);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int e = errno;
    ::close(fd);
    return rel_error(e, "list", rel);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* ent = ::readdir(d)) {
    std::string n = ent->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> readlink_path(const std::string& path, const std::string& rel) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return rel_error(errno, "readlink", rel);
  if (static_cast<size_t>(n) >= sizeof buf) return rel_error(ENAMETOOLONG, "readlink", rel);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Error rel_error(int err, const std::string& what, const std::string& rel) {
  return sys_error(what + " " + (rel.empty() ? "/" : rel), err);
}

std::string errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EIO: return "EIO";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EBUSY: return "EBUSY";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTSUP: return "ENOTSUP";  // == EOPNOTSUPP on Linux
    case ENODATA: return "ENODATA";
    default: return "errno " + std::to_string(err);
  }
}

int errno_from_name(std::string_view name) {
  static const int kKnown[] = {ENOENT, EACCES,  EPERM,     EINVAL,       ENOTDIR,
                               EISDIR, ELOOP,   EIO,       ENODEV,       ENXIO,
                               EBUSY,  EAGAIN,  ETIMEDOUT, ENAMETOOLONG, ENOTSUP,
                               ENODATA};
  for (int e : kKnown) {
    if (errno_name(e) == name) return e;
  }
  if (name.rfind("errno ", 0) == 0) {
    int v = 0;
    for (char c : name.substr(6)) {
      if (c < '0' || c > '9' || v > 100000) return 0;
      v = v * 10 + (c - '0');
    }
    return v;
  }
  return 0;
}

Result<FsStats> statvfs_with_timeout(const std::string& path, std::chrono::milliseconds timeout,
                                     StatvfsFn fn) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int rc = -1;
    int err = 0;
    struct statvfs st {};
  };
  auto sh = std::make_shared<Shared>();
  try {
    std::thread([sh, path, fn] {
      struct statvfs st {};
      int rc = fn(path.c_str(), &st);
      int err = rc == 0 ? 0 : errno;
      std::lock_guard<std::mutex> lock(sh->mu);
      sh->rc = rc;
      sh->err = err;
      sh->st = st;
      sh->done = true;
      sh->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return sys_error("statvfs " + path + ": cannot start a worker thread", e.code().value());
  }
  std::unique_lock<std::mutex> lock(sh->mu);
  if (!sh->cv.wait_for(lock, timeout, [&] { return sh->done; })) {
    return sys_error("statvfs " + path + ": no answer within " +
                         std::to_string(timeout.count()) + " ms",
                     ETIMEDOUT);
  }
  if (sh->rc != 0) return sys_error("statvfs " + path, sh->err == 0 ? EIO : sh->err);
  const struct statvfs& st = sh->st;
  uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
  FsStats out;
  out.size_bytes = static_cast<uint64_t>(st.f_blocks) * unit;
  out.free_bytes = static_cast<uint64_t>(st.f_bfree) * unit;
  out.available_bytes = static_cast<uint64_t>(st.f_bavail) * unit;
  out.inodes = st.f_files;
  out.inodes_free = st.f_ffree;
  out.inodes_available = st.f_favail;
  return out;
}

std::string error_reason(const Error& e) {
  const Error* inner = &e;
  while (inner->cause) inner = inner->cause.get();
  if (inner->sys_errno != 0) return errno_name(inner->sys_errno);
  if (e.sys_errno != 0) return errno_name(e.sys_errno);
  return errc_name(e.root_code());
}

std::string normalize_rel(std::string_view rel) {
  std::vector<std::string> out;
  for (auto& c : split_components(rel)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  std::string s;
  for (auto& c : out) s = join_rel(s, c);
  return s;
}

bool SystemRoot::exists(std::string_view rel) const { return real_path(rel).ok(); }

Result<FsStats> SystemRoot::statvfs(std::string_view rel, std::chrono::milliseconds) const {
  return rel_error(ENOTSUP, "statvfs", normalize_rel(rel));
}

Result<std::string> SystemRoot::real_path(std::string_view rel) const {
  std::deque<std::string> todo;
  for (auto& c : split_components(rel)) todo.push_back(std::move(c));
  std::vector<std::string> done;
  std::string cur;
  int links = 0;
  auto rebuild = [&] {
    cur.clear();
    for (auto& c : done) cur = join_rel(cur, c);
  };
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == "." || c.empty()) continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      rebuild();
      continue;
    }
    std::string cand = join_rel(cur, c);
    auto target = read_link_resolved(cand);
    if (target.ok()) {
      if (++links > kMaxLinks) return rel_error(ELOOP, "resolve", std::string(rel));
      const std::string& t = target.value();
      if (!t.empty() && t[0] == '/') {
        done.clear();  // absolute target: re-rooted at the root, never the host's "/"
        rebuild();
      }
      auto parts = split_components(t);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (target.error().sys_errno != EINVAL) {
      return target.error().wrap("resolve " + std::string(rel));
    }
    done.push_back(std::move(c));
    cur = std::move(cand);
  }
  return cur;
}

// ---- HostRoot --------------------------------------------------------------------------------

Result<std::string> HostRoot::read_file(std::string_view rel, uint64_t max_bytes) const {
  std::string r = normalize_rel(rel);
  int fd = ::open(("/" + r).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return rel_error(errno, "open", r);
  UniqueFd owned(fd);
  return read_fd(fd, r, max_bytes);
}

Result<std::string> HostRoot::read_link(std::string_view rel) const {
  std::string r = normalize_rel(rel);
  return readlink_path("/" + r, r);
}

Result<std::string> HostRoot::read_link_resolved(const std::string& resolved) const {
  return readlink_path("/" + resolved, resolved);
}

Result<std::vector<std::string>> HostRoot::list_dir(std::string_view rel) const {
  std::string r = normalize_rel(rel);
  return list_path("/" + r, r, false);
}

Result<FsStats> HostRoot::statvfs(std::string_view rel, std::chrono::milliseconds timeout) const {
  return statvfs_with_timeout("/" + normalize_rel(rel), timeout,
                              statvfs_fn_ ? statvfs_fn_ : &::statvfs);
}

// ---- DirRoot ---------------------------------------------------------------------------------

DirRoot::DirRoot(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

const DirRoot::CaptureMeta& DirRoot::meta() const {
  std::call_once(meta_once_, [this] {
    auto split_tab = [](const std::string& line, std::string* a, std::string* b) {
      size_t t = line.find('\t');
      if (t == std::string::npos) return false;
      *a = line.substr(0, t);
      *b = line.substr(t + 1);
      return true;
    };
    // Plain files only (O_NOFOLLOW): the metadata never comes through a link in the tree.
    auto read_meta = [this](const char* rel) -> std::string {
      int fd = ::open((dir_ + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return {};
      UniqueFd owned(fd);
      auto r = read_fd(fd, rel, 64ull << 20);
      return r.ok() ? *r : std::string();
    };
    std::istringstream errs(read_meta(kCaptureErrors));
    for (std::string line, op, rest, name, path; std::getline(errs, line);) {
      if (!split_tab(line, &op, &rest) || !split_tab(rest, &name, &path)) continue;
      if (int e = errno_from_name(name)) meta_.errors[op + "\t" + normalize_rel(path)] = e;
    }
    std::istringstream sv(read_meta(kCaptureStatvfs));
    for (std::string line, path, rest; std::getline(sv, line);) {
      if (!split_tab(line, &path, &rest)) continue;
      std::istringstream in(rest);
      std::string word;
      in >> word;
      if (word == "error") {
        std::string name;
        in >> name;
        int e = errno_from_name(name);
        meta_.statvfs.insert_or_assign(
            path, Result<FsStats>(rel_error(e ? e : EIO, "statvfs (captured)", path)));
        continue;
      }
      FsStats st;
      std::istringstream nums(rest);
      if (nums >> st.size_bytes >> st.free_bytes >> st.available_bytes >> st.inodes >>
          st.inodes_free >> st.inodes_available) {
        meta_.statvfs.insert_or_assign(path, Result<FsStats>(st));
      }
    }
  });
  return meta_;
}

int DirRoot::recorded_error(const char* op, const std::string& resolved) const {
  const auto& errs = meta().errors;
  auto it = errs.find(std::string(op) + "\t" + resolved);
  return it == errs.end() ? 0 : it->second;
}

Result<FsStats> DirRoot::statvfs(std::string_view rel, std::chrono::milliseconds) const {
  std::string r = normalize_rel(rel);
  const auto& sv = meta().statvfs;
  auto it = sv.find(r);
  if (it == sv.end()) return rel_error(ENOTSUP, "statvfs", r);
  return it->second;
}

Result<std::string> DirRoot::read_link_resolved(const std::string& resolved) const {
  if (int e = recorded_error("readlink", resolved)) return rel_error(e, "readlink", resolved);
  return readlink_path(dir_ + "/" + resolved, resolved);
}

Result<std::string> DirRoot::read_file(std::string_view rel, uint64_t max_bytes) const {
  TRY_ASSIGN(std::string r, real_path(rel));
  if (int e = recorded_error("read", r)) return rel_error(e, "open", std::string(rel));
  int fd = ::open((dir_ + "/" + r).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return rel_error(errno, "open", std::string(rel));
  UniqueFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    return rel_error(EISDIR, "read", std::string(rel));
  }
  return read_fd(fd, r, max_bytes);
}

Result<std::string> DirRoot::read_link(std::string_view rel) const {
  std::string n = normalize_rel(rel);
  TRY_ASSIGN(std::string parent, real_path(parent_of(n)));
  return read_link_resolved(join_rel(parent, leaf_of(n)));
}

Result<std::vector<std::string>> DirRoot::list_dir(std::string_view rel) const {
  TRY_ASSIGN(std::string r, real_path(rel));
  if (int e = recorded_error("list", r)) return rel_error(e, "list", std::string(rel));
  return list_path(r.empty() ? dir_ : dir_ + "/" + r, std::string(rel), true);
}

// ---- MemRoot ---------------------------------------------------------------------------------

void MemRoot::add_parents(const std::string& rel) {
  std::string p = parent_of(rel);
  while (!p.empty()) {
    nodes_.emplace(p, Node{Kind::kDir, {}});
    p = parent_of(p);
  }
}

void MemRoot::add_file(std::string_view rel, std::string content) {
  std::string r = normalize_rel(rel);
  add_parents(r);
  nodes_[r] = Node{Kind::kFile, std::move(content)};
}

void MemRoot::add_link(std::string_view rel, std::string target) {
  std::string r = normalize_rel(rel);
  add_parents(r);
  nodes_[r] = Node{Kind::kLink, std::move(target)};
}

void MemRoot::add_dir(std::string_view rel) {
  std::string r = normalize_rel(rel);
  add_parents(r);
  nodes_.emplace(r, Node{Kind::kDir, {}});
}

void MemRoot::set_error(std::string_view rel, int err) { errors_[normalize_rel(rel)] = err; }

void MemRoot::set_statvfs(std::string_view rel, FsStats stats) {
  statvfs_[normalize_rel(rel)] = stats;
}

void MemRoot::set_statvfs_error(std::string_view rel, int err) {
  statvfs_errors_[normalize_rel(rel)] = err;
}

Result<FsStats> MemRoot::statvfs(std::string_view rel, std::chrono::milliseconds) const {
  std::string r = normalize_rel(rel);
  if (auto e = statvfs_errors_.find(r); e != statvfs_errors_.end()) {
    return rel_error(e->second, "statvfs", r);
  }
  if (auto it = statvfs_.find(r); it != statvfs_.end()) return it->second;
  return rel_error(ENOTSUP, "statvfs", r);
}

Result<const MemRoot::Node*> MemRoot::lookup(const std::string& resolved) const {
  auto e = errors_.find(resolved);
  if (e != errors_.end()) return rel_error(e->second, "open", resolved);
  if (resolved.empty()) {
    static const Node kRoot{Kind::kDir, {}};
    return &kRoot;
  }
  auto it = nodes_.find(resolved);
  if (it == nodes_.end()) return rel_error(ENOENT, "open", resolved);
  return &it->second;
}

Result<std::string> MemRoot::read_link_resolved(const std::string& resolved) const {
  TRY_ASSIGN(const Node* n, lookup(resolved));
  if (n->kind != Kind::kLink) return rel_error(EINVAL, "readlink", resolved);
  return n->data;
}

Result<std::string> MemRoot::read_file(std::string_view rel, uint64_t max_bytes) const {
  std::string n = normalize_rel(rel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (seen_.insert(n).second) files_read_.push_back(n);
  }
  auto e = errors_.find(n);
  if (e != errors_.end()) return rel_error(e->second, "open", n);
  TRY_ASSIGN(std::string r, real_path(n));
  TRY_ASSIGN(const Node* node, lookup(r));
  if (node->kind == Kind::kDir) return rel_error(EISDIR, "read", n);
  if (node->data.size() > max_bytes) {
    return make_error(Errc::kLimit,
                      n + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  return node->data;
}

Result<std::string> MemRoot::read_link(std::string_view rel) const {
  std::string n = normalize_rel(rel);
  TRY_ASSIGN(std::string parent, real_path(parent_of(n)));
  return read_link_resolved(join_rel(parent, leaf_of(n)));
}

Result<std::vector<std::string>> MemRoot::list_dir(std::string_view rel) const {
  TRY_ASSIGN(std::string r, real_path(rel));
  TRY_ASSIGN(const Node* node, lookup(r));
  if (node->kind != Kind::kDir) return rel_error(ENOTDIR, "list", r);
  std::string prefix = r.empty() ? "" : r + "/";
  std::vector<std::string> out;
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string rest = it->first.substr(prefix.size());
    if (!rest.empty() && rest.find('/') == std::string::npos) out.push_back(rest);
  }
  return out;
}

std::vector<std::string> MemRoot::files_read() const {
  std::lock_guard<std::mutex> lock(mu_);
  return files_read_;
}

}  // namespace airlock
