// Release build (staging directory, fsync, rename or exchange), listing, removal and the
// atomic `current` switch.
#include "node/release.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <set>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "node/state.h"
#include "node/store.h"
#include "node/util.h"

namespace airlock::node {

namespace {

Status check_rel_path(const std::string& p, std::string_view what) {
  auto bad = [&](const char* why) {
    return make_error(Errc::kInvalidArgument,
                      std::string(what) + ": path '" + p + "' " + why);
  };
  if (p.empty()) return bad("is empty");
  if (p.size() > 4096) return bad("is too long");
  if (p[0] == '/') return bad("is absolute");
  if (p.find('\0') != std::string::npos) return bad("contains NUL");
  size_t start = 0;
  for (;;) {
    size_t slash = p.find('/', start);
    std::string comp = p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp.empty()) return bad("has an empty component");
    if (comp == "." || comp == "..") return bad("has a '.' or '..' component");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (p == kReleaseMeta) return bad("is reserved for airlock's own metadata");
  return {};
}

Result<unsigned> parse_mode(const nlohmann::json& v, const std::string& what) {
  if (!v.is_string()) return make_error(Errc::kParse, what + ": mode must be an octal string like \"0755\"");
  std::string s = v.get<std::string>();
  if (s.empty() || s.size() > 5) return make_error(Errc::kParse, what + ": bad mode '" + s + "'");
  unsigned m = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return make_error(Errc::kParse, what + ": bad mode '" + s + "'");
    m = m * 8 + static_cast<unsigned>(c - '0');
  }
  if (m > 07777) return make_error(Errc::kParse, what + ": bad mode '" + s + "'");
  return m;
}

std::string mode_string(unsigned m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", m);
  return buf;
}

bool pid_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Removes .NAME.tmp-PID / .NAME.old-PID directories left by builds that died.
void clean_stale(const std::string& releases) {
  DIR* d = ::opendir(releases.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() < 2 || n[0] != '.') continue;
    size_t pos = n.rfind(".tmp-");
    if (pos == std::string::npos || pos == 0) pos = n.rfind(".old-");
    if (pos == std::string::npos || pos == 0) continue;
    char* end = nullptr;
    long pid = std::strtol(n.c_str() + pos + 5, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (!pid_alive(pid)) stale.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : stale) remove_tree(join_path(releases, n));
}

// Copies src to a new file dst (mode 0600 until the caller sets it), fsynced.
Status copy_file(const std::string& src, const std::string& dst, unsigned mode) {
  TRY_ASSIGN(UniqueFd in, open_read(src));
  int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("create " + dst);
  UniqueFd out(fd);
  bool use_cfr = true;
  static thread_local char buf[1 << 17];
  for (;;) {
    if (use_cfr) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, fd, nullptr, 1 << 30, 0);
      if (n > 0) continue;
      if (n == 0) break;
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
        use_cfr = false;
        continue;
      }
      return sys_error("copy " + src + " to " + dst);
    }
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read " + src);
    }
    if (n == 0) break;
    TRY_STATUS(write_all(fd, buf, static_cast<size_t>(n), dst));
  }
  if (::fchmod(fd, mode) != 0) return sys_error("chmod " + dst);
  if (::fsync(fd) != 0) return sys_error("fsync " + dst);
  return {};
}

// The spec digest recorded in a release directory ("" when absent or unreadable).
std::string recorded_digest(const std::string& dir, std::vector<std::string>* blobs = nullptr) {
  auto text = read_file(join_path(dir, kReleaseMeta), 64ull << 20);
  if (!text.ok()) return "";
  auto doc = parse_json(*text, kReleaseMeta);
  if (!doc.ok() || !doc->is_object() || !(*doc)["spec_digest"].is_string()) return "";
  if (blobs && (*doc)["spec"].is_object() && (*doc)["spec"]["files"].is_array()) {
    for (const auto& f : (*doc)["spec"]["files"]) {
      if (f.is_object() && f.contains("blob") && f["blob"].is_string()) blobs->push_back(f["blob"].get<std::string>());
    }
  }
  return (*doc)["spec_digest"].get<std::string>();
}

Status check_release_exists(const Layout& l, const std::string& release) {
  TRY_STATUS(check_release_name(release));
  std::string dir = l.release_dir(release);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(Errc::kNotFound, "release " + release + " does not exist (" + dir + ")");
  }
  if (!path_exists(join_path(dir, kReleaseMeta))) {
    return make_error(Errc::kNotFound, "release " + release + " is not a complete airlock release (no " +
                                           std::string(kReleaseMeta) + " in " + dir + ")");
  }
  return {};
}

std::string json_str(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : ""; }

}  // namespace

Result<ReleaseSpec> parse_spec(std::string_view text, std::string_view what) {
  TRY_ASSIGN(nlohmann::json doc, parse_json(text, what));
  std::string w(what);
  if (!doc.is_object() || !doc.contains("files") || !doc["files"].is_array()) {
    return make_error(Errc::kParse, w + ": want an object with a \"files\" array");
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() != "files") return make_error(Errc::kParse, w + ": unknown member \"" + it.key() + "\"");
  }
  ReleaseSpec spec;
  std::set<std::string> paths;
  size_t i = 0;
  for (const auto& f : doc["files"]) {
    std::string fw = w + ": files[" + std::to_string(i++) + "]";
    if (!f.is_object()) return make_error(Errc::kParse, fw + ": not an object");
    for (auto it = f.begin(); it != f.end(); ++it) {
      if (it.key() != "path" && it.key() != "blob" && it.key() != "mode") {
        return make_error(Errc::kParse, fw + ": unknown member \"" + it.key() + "\"");
      }
    }
    if (!f.contains("path") || !f["path"].is_string() || !f.contains("blob") || !f["blob"].is_string()) {
      return make_error(Errc::kParse, fw + ": \"path\" and \"blob\" strings are required");
    }
    SpecFile sf;
    sf.path = f["path"].get<std::string>();
    sf.blob = f["blob"].get<std::string>();
    TRY_STATUS(check_rel_path(sf.path, fw));
    if (!valid_digest(sf.blob)) {
      return make_error(Errc::kParse, fw + ": blob '" + sf.blob + "' is not sha256:<64 lowercase hex>");
    }
    if (f.contains("mode")) {
      TRY_ASSIGN(sf.mode, parse_mode(f["mode"], fw));
    }
    if (!paths.insert(sf.path).second) {
      return make_error(Errc::kInvalidArgument, fw + ": duplicate path '" + sf.path + "'");
    }
    spec.files.push_back(std::move(sf));
  }
  // A file may not also be a directory of another file ("bin" and "bin/agent").
  for (const auto& p : paths) {
    for (size_t pos = p.find('/'); pos != std::string::npos; pos = p.find('/', pos + 1)) {
      if (paths.count(p.substr(0, pos))) {
        return make_error(Errc::kInvalidArgument,
                          w + ": '" + p.substr(0, pos) + "' is both a file and the directory of '" + p + "'");
      }
    }
  }
  std::sort(spec.files.begin(), spec.files.end(),
            [](const SpecFile& a, const SpecFile& b) { return a.path < b.path; });
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : spec.files) {
    files.push_back({{"path", f.path}, {"blob", f.blob}, {"mode", mode_string(f.mode)}});
  }
  spec.canonical = {{"files", files}};
  spec.digest = digest_of(spec.canonical.dump());
  return spec;
}

Result<BuildResult> build_release(const Layout& l, const std::string& release,
                                  const ReleaseSpec& spec, const BuildOptions& opts) {
  TRY_STATUS(check_release_name(release));
  BuildResult r;
  r.spec_digest = spec.digest;
  r.files = spec.files.size();
  std::string releases = l.releases_dir();
  TRY_STATUS(make_dirs(releases));
  clean_stale(releases);
  std::string final_dir = l.release_dir(release);
  bool exists = path_exists(final_dir);
  if (exists) {
    std::string have = recorded_digest(final_dir);
    if (have == spec.digest) return r;  // already built: changed = false
    if (!opts.replace) {
      return make_error(Errc::kIntegrity,
                        "release " + release + " already exists with another spec (" +
                            (have.empty() ? std::string("no readable ") + kReleaseMeta : have) +
                            ", want " + spec.digest + "); pass --replace to rebuild it");
    }
  }
  // Every blob first: a missing one fails before anything is written.
  for (const auto& f : spec.files) {
    struct stat st;
    std::string bp = blob_path(l, f.blob);
    if (::stat(bp.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return make_error(Errc::kNotFound, "release " + release + ": blob " + f.blob + " for " +
                                             f.path + " is not in the content store (" + bp + ")");
    }
  }

  std::string tmp = join_path(releases, "." + release + ".tmp-" + std::to_string(::getpid()));
  remove_tree(tmp);
  if (::mkdir(tmp.c_str(), 0755) != 0) return sys_error("mkdir " + tmp);
  auto fail = [&](Error e) -> Error {
    remove_tree(tmp);
    return e.wrap("release " + release);
  };
  std::vector<std::string> dirs = {tmp};
  std::set<std::string> made;
  for (const auto& f : spec.files) {
    // Parent directories inside the staging tree.
    for (size_t pos = f.path.find('/'); pos != std::string::npos; pos = f.path.find('/', pos + 1)) {
      std::string d = join_path(tmp, f.path.substr(0, pos));
      if (made.insert(d).second) {
        if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return fail(sys_error("mkdir " + d));
        dirs.push_back(d);
      }
    }
    std::string src = blob_path(l, f.blob);
    std::string dst = join_path(tmp, f.path);
    struct stat st;
    if (::stat(src.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return fail(make_error(Errc::kNotFound, "blob " + f.blob + " for " + f.path +
                                                  " is not in the content store (" + src + ")"));
    }
    if (opts.verify) {
      auto d = digest_file(src);
      if (!d.ok()) return fail(d.error());
      if (*d != f.blob) {
        return fail(make_error(Errc::kIntegrity, "blob " + f.blob + " for " + f.path +
                                                     " is corrupt in the store (it hashes to " + *d + ")"));
      }
    }
    bool linked = false;
    if ((st.st_mode & 07777) == f.mode) {
      if (::link(src.c_str(), dst.c_str()) == 0) {
        linked = true;
      } else if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EOPNOTSUPP) {
        return fail(sys_error("link " + src + " to " + dst));
      }
    }
    if (linked) {
      ++r.linked;
    } else {
      if (auto st2 = copy_file(src, dst, f.mode); !st2.ok()) return fail(st2.error());
      ++r.copied;
    }
    if (opts.after_file) {
      if (auto st2 = opts.after_file(f.path); !st2.ok()) return fail(st2.error());
    }
  }
  nlohmann::json meta = {{"schema", kReleaseSchema},
                         {"release", release},
                         {"spec_digest", spec.digest},
                         {"spec", spec.canonical},
                         {"built_at", format_rfc3339(static_cast<int64_t>(::time(nullptr)))}};
  if (auto st = write_file_atomic(join_path(tmp, kReleaseMeta), meta.dump(2) + "\n", 0444); !st.ok()) {
    return fail(st.error());
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (auto st = fsync_dir(*it); !st.ok()) return fail(st.error());
  }

  if (!exists) {
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
      int err = errno;
      // Lost a race with a concurrent build of the same release?
      if ((err == ENOTEMPTY || err == EEXIST) && recorded_digest(final_dir) == spec.digest) {
        remove_tree(tmp);
        r.linked = r.copied = 0;
        return r;
      }
      return fail(sys_error("rename " + tmp + " to " + final_dir, err));
    }
  } else {
    // Swap atomically; where the filesystem cannot, move the old one aside first.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
      remove_tree(tmp);  // now the old release
    } else if (errno == EINVAL || errno == ENOSYS) {
      std::string old = join_path(releases, "." + release + ".old-" + std::to_string(::getpid()));
      remove_tree(old);
      if (::rename(final_dir.c_str(), old.c_str()) != 0) return fail(sys_error("rename " + final_dir));
      if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
        int err = errno;
        ::rename(old.c_str(), final_dir.c_str());
        return fail(sys_error("rename " + tmp + " to " + final_dir, err));
      }
      remove_tree(old);
    } else {
      return fail(sys_error("exchange " + tmp + " with " + final_dir));
    }
    r.replaced = true;
  }
  TRY_STATUS(fsync_dir(releases));
  r.changed = true;
  return r;
}

Result<std::vector<ReleaseInfo>> list_releases(const Layout& l) {
  std::vector<ReleaseInfo> out;
  std::string releases = l.releases_dir();
  DIR* d = ::opendir(releases.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return sys_error("open " + releases);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.empty() || n[0] == '.') continue;
    names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    struct stat st;
    std::string dir = join_path(releases, n);
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    ReleaseInfo info;
    info.name = n;
    info.spec_digest = recorded_digest(dir, &info.blobs);
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::string> current_release(const Layout& l) {
  std::string link = l.current_link();
  char buf[4096];
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    if (errno == ENOENT) return std::string();
    return sys_error("readlink " + link);
  }
  std::string target(buf, static_cast<size_t>(n));
  if (target.rfind("releases/", 0) == 0) return target.substr(9);
  return basename_of(target);
}

Result<bool> remove_release(const Layout& l, const std::string& release) {
  TRY_STATUS(check_release_name(release));
  TRY_ASSIGN(StateTxn t, begin_state(l));  // no switch or mark-good meanwhile
  TRY_ASSIGN(std::string cur, current_release(l));
  if (cur == release) return make_error(Errc::kInvalidArgument, "release " + release + " is current");
  if (json_str(t.doc()["last_known_good"]) == release) {
    return make_error(Errc::kInvalidArgument, "release " + release + " is the last known good one");
  }
  std::string dir = l.release_dir(release);
  if (!path_exists(dir)) return false;
  // Hide it first (one rename), then delete at leisure.
  std::string gone = join_path(l.releases_dir(), "." + release + ".old-" + std::to_string(::getpid()));
  remove_tree(gone);
  if (::rename(dir.c_str(), gone.c_str()) != 0) return sys_error("rename " + dir);
  TRY_STATUS(fsync_dir(l.releases_dir()));
  remove_tree(gone);
  if (json_str(t.doc()["previous"]) == release) {
    t.doc()["previous"] = nullptr;
    TRY_STATUS(t.commit());
  }
  return true;
}

namespace {

Result<SwitchResult> switch_locked(const Layout& l, StateTxn& t, const std::string& release) {
  TRY_STATUS(check_release_exists(l, release));
  SwitchResult r;
  r.release = release;
  TRY_ASSIGN(std::string cur, current_release(l));
  r.previous = cur;
  if (cur != release) {
    std::string link = l.current_link();
    std::string tmp = join_path(l.opt_dir(), ".current.tmp-" + std::to_string(::getpid()));
    ::unlink(tmp.c_str());
    if (::symlink(("releases/" + release).c_str(), tmp.c_str()) != 0) return sys_error("symlink " + tmp);
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return sys_error("rename " + tmp + " over " + link, err);
    }
    TRY_STATUS(fsync_dir(l.opt_dir()));
    r.changed = true;
  }
  auto& doc = t.doc();
  bool dirty = false;
  if (r.changed && !cur.empty()) {
    doc["previous"] = cur;
    dirty = true;
  }
  if (json_str(doc["current"]) != release) {
    doc["current"] = release;
    dirty = true;
  }
  if (r.changed) {
    auto& h = doc["history"];
    if (!h.is_array()) h = nlohmann::json::array();
    h.push_back({{"at", format_rfc3339(static_cast<int64_t>(::time(nullptr)))},
                 {"from", cur.empty() ? nlohmann::json() : nlohmann::json(cur)},
                 {"to", release}});
    while (h.size() > 50) h.erase(h.begin());
  }
  if (dirty || r.changed) TRY_STATUS(t.commit());
  return r;
}

}  // namespace

Result<SwitchResult> switch_release(const Layout& l, const std::string& release) {
  TRY_STATUS(check_release_name(release));
  TRY_ASSIGN(StateTxn t, begin_state(l));
  return switch_locked(l, t, release);
}

Result<SwitchResult> switch_to_last_good(const Layout& l) {
  TRY_ASSIGN(StateTxn t, begin_state(l));
  std::string lkg = json_str(t.doc()["last_known_good"]);
  if (lkg.empty()) return make_error(Errc::kNotFound, "no last_known_good release is recorded");
  return switch_locked(l, t, lkg);
}

Result<SwitchResult> switch_to_previous(const Layout& l) {
  TRY_ASSIGN(StateTxn t, begin_state(l));
  std::string prev = json_str(t.doc()["previous"]);
  if (prev.empty()) return make_error(Errc::kNotFound, "no previous release is recorded");
  return switch_locked(l, t, prev);
}

Result<bool> mark_good(const Layout& l, const std::string& release) {
  TRY_STATUS(check_release_exists(l, release));
  TRY_ASSIGN(StateTxn t, begin_state(l));
  if (json_str(t.doc()["last_known_good"]) == release) return false;
  t.doc()["last_known_good"] = release;
  TRY_STATUS(t.commit());
  return true;
}

}  // namespace airlock::node
