// RecordingRoot: a SystemRoot that reads the host and keeps what it read (files, links,
// listings, errors, statvfs) so `airlock-node capture` can write it out as a directory tree that
// DirRoot replays. See system_root.h.
#include "common/system_root.h"

#include <cerrno>
#include <mutex>
#include <sstream>

#include "common/fs.h"

namespace airlock {
namespace {

// The errno an error carries (innermost first), 0 for non-system errors such as kLimit.
int errno_of(const Error& e) {
  const Error* inner = &e;
  while (inner->cause) inner = inner->cause.get();
  return inner->sys_errno != 0 ? inner->sys_errno : e.sys_errno;
}

bool printable_path(const std::string& p) {
  return p.find_first_of("\t\n") == std::string::npos;
}

constexpr uint64_t kMaxCapturedFile = 64ull << 20;

}  // namespace

void RecordingRoot::note_error(const char* op, const std::string& resolved, const Error& e) const {
  int err = errno_of(e);
  if (err == 0 || err == ENOENT) return;  // absence replays itself
  std::lock_guard<std::mutex> lock(mu_);
  errors_[std::string(op) + "\t" + resolved] = err;
}

Result<std::string> RecordingRoot::read_link_resolved(const std::string& resolved) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = links_.find(resolved); it != links_.end()) return it->second;
  }
  auto r = inner_.read_link_resolved(resolved);
  if (r.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_[resolved] = Entry{Kind::kLink, *r, false};
  } else if (errno_of(r.error()) == EINVAL) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!resolved.empty()) seen_.insert(resolved);
  } else {
    note_error("readlink", resolved, r.error());
  }
  std::lock_guard<std::mutex> lock(mu_);
  links_.insert_or_assign(resolved, r);
  return r;
}

Result<std::string> RecordingRoot::read_file(std::string_view rel, uint64_t max_bytes) const {
  std::string n = normalize_rel(rel);
  auto rp = real_path(n);
  if (!rp.ok()) return inner_.read_file(n, max_bytes);
  const std::string& r = *rp;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(r);
    if (it != entries_.end() && it->second.kind == Kind::kFile && !it->second.placeholder) {
      if (it->second.data.size() > max_bytes) {
        return make_error(Errc::kLimit, n + ": larger than the limit of " +
                                            std::to_string(max_bytes) + " bytes");
      }
      return it->second.data;
    }
    if (auto e = errors_.find("read\t" + r); e != errors_.end()) {
      return rel_error(e->second, "open", n);
    }
  }
  auto got = inner_.read_file(n, max_bytes);
  if (got.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_[r] = Entry{Kind::kFile, *got, false};
  } else if (errno_of(got.error()) == 0 && got.error().root_code() == Errc::kLimit) {
    // Keep the whole file so the replay hits the same limit.
    if (auto big = inner_.read_file(n, kMaxCapturedFile); big.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      entries_[r] = Entry{Kind::kFile, *big, false};
    }
  } else {
    note_error("read", r, got.error());
  }
  return got;
}

Result<std::string> RecordingRoot::read_link(std::string_view rel) const {
  std::string n = normalize_rel(rel);
  size_t k = n.rfind('/');
  std::string parent = k == std::string::npos ? std::string() : n.substr(0, k);
  std::string leaf = k == std::string::npos ? n : n.substr(k + 1);
  TRY_ASSIGN(std::string rp, real_path(parent));
  return read_link_resolved(rp.empty() ? leaf : rp + "/" + leaf);
}

Result<std::vector<std::string>> RecordingRoot::list_dir(std::string_view rel) const {
  std::string n = normalize_rel(rel);
  TRY_ASSIGN(std::string r, real_path(n));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = lists_.find(r); it != lists_.end()) return it->second;
    if (auto e = errors_.find("list\t" + r); e != errors_.end()) {
      return rel_error(e->second, "list", n);
    }
  }
  auto got = inner_.list_dir(n);
  if (!got.ok()) {
    note_error("list", r, got.error());
    return got;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!r.empty()) entries_[r] = Entry{Kind::kDir, {}, false};
    lists_.insert_or_assign(r, *got);
  }
  // Every listed entry must exist in the capture: links as links, others by kind (later).
  for (const auto& name : *got) {
    (void)read_link_resolved(r.empty() ? name : r + "/" + name);
  }
  return got;
}

Result<FsStats> RecordingRoot::statvfs(std::string_view rel,
                                       std::chrono::milliseconds timeout) const {
  std::string n = normalize_rel(rel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = statvfs_.find(n); it != statvfs_.end()) return it->second;
  }
  auto got = inner_.statvfs(n, timeout);
  std::lock_guard<std::mutex> lock(mu_);
  statvfs_.insert_or_assign(n, got);
  return got;
}

std::map<std::string, RecordingRoot::Entry> RecordingRoot::entries() const {
  std::map<std::string, Entry> out;
  std::set<std::string> seen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = entries_;
    seen = seen_;
  }
  auto has_descendant = [&](const std::string& p) {
    auto it = out.lower_bound(p + "/");
    return it != out.end() && it->first.compare(0, p.size() + 1, p + "/") == 0;
  };
  for (const auto& p : seen) {
    if (out.count(p) || has_descendant(p)) continue;
    // Seen but never read: an empty stand-in of the same kind (list_dir fails on files).
    bool is_dir = inner_.list_dir(p).ok();
    out[p] = Entry{is_dir ? Kind::kDir : Kind::kFile, {}, true};
  }
  std::vector<std::string> parents;
  for (const auto& [p, e] : out) {
    for (size_t k = p.rfind('/'); k != std::string::npos && k > 0; k = p.rfind('/', k - 1)) {
      parents.push_back(p.substr(0, k));
    }
  }
  for (const auto& p : parents) out.emplace(p, Entry{Kind::kDir, {}, true});
  return out;
}

std::string RecordingRoot::errors_file() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [key, err] : errors_) {
    size_t t = key.find('\t');
    std::string op = key.substr(0, t), path = key.substr(t + 1);
    if (!printable_path(path)) continue;
    out += op + "\t" + errno_name(err) + "\t" + path + "\n";
  }
  return out;
}

std::string RecordingRoot::statvfs_file() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [path, r] : statvfs_) {
    if (!printable_path(path)) continue;
    if (r.ok()) {
      const FsStats& s = *r;
      out += path + "\t" + std::to_string(s.size_bytes) + " " + std::to_string(s.free_bytes) +
             " " + std::to_string(s.available_bytes) + " " + std::to_string(s.inodes) + " " +
             std::to_string(s.inodes_free) + " " + std::to_string(s.inodes_available) + "\n";
    } else {
      int err = errno_of(r.error());
      out += path + "\terror " + (err ? errno_name(err) : std::string("EIO")) + "\n";
    }
  }
  return out;
}

}  // namespace airlock
