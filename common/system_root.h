// SystemRoot: the probe's only way to see the machine. A narrow read-only view of a root
// directory (/sys, /proc, /etc... addressed by root-relative paths such as "sys/bus/pci/devices"),
// with three implementations: HostRoot (the live machine, prefix "/"), DirRoot (a captured tree on
// disk; symlinks are resolved inside the tree, absolute targets re-rooted, ".." clamped at the
// root, so nothing escapes it) and MemRoot (an in-memory tree for tests that records every path
// read). Errors carry the errno so facts can say ENOENT, EACCES, EINVAL. RecordingRoot wraps
// another root and remembers every path it touched, for `airlock-node capture`; a captured tree
// carries the errors and statvfs answers the host gave (in airlock-capture/), so DirRoot replays
// them.
#pragma once

#include <sys/statvfs.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock {

// "ENOENT", "EACCES", ... for the errno values a probe meets; "errno N" for others.
std::string errno_name(int err);
// The short reason a fact could not be read: errno_name when the error carries one, else the
// error code's name ("limit", "parse", ...).
std::string error_reason(const Error& e);

// The errno for a name errno_name() returns ("EACCES" -> EACCES); 0 for unknown names.
int errno_from_name(std::string_view name);

// What statvfs says about one mounted filesystem, in bytes and inodes.
struct FsStats {
  uint64_t size_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t available_bytes = 0;  // free to unprivileged users
  uint64_t inodes = 0;
  uint64_t inodes_free = 0;
  uint64_t inodes_available = 0;
};

// The statvfs(3) function HostRoot calls; tests inject slow or failing ones.
using StatvfsFn = int (*)(const char* path, struct statvfs* out);

// Runs fn(path) on a detached thread and waits at most `timeout`. A call that does not return
// in time (a hung NFS server) is abandoned, never joined: the thread keeps only shared state
// alive and exits whenever the kernel answers. Timeout = an error with errno ETIMEDOUT.
Result<FsStats> statvfs_with_timeout(const std::string& path, std::chrono::milliseconds timeout,
                                     StatvfsFn fn);

// Normalises a root-relative path: strips leading '/', collapses "//" and ".", resolves ".."
// lexically without climbing above the root. "a/./b/../c" -> "a/c"; "/../x" -> "x"; "" = root.
std::string normalize_rel(std::string_view rel);

// The error for a failed operation on a root-relative path: "WHAT REL" (REL "/" for the root)
// carrying errno `err`.
Error rel_error(int err, const std::string& what, const std::string& rel);

class SystemRoot {
 public:
  static constexpr uint64_t kDefaultMaxRead = 4ull << 20;
  virtual ~SystemRoot() = default;

  // Whole content of a regular file (following links inside the root). kLimit when larger.
  virtual Result<std::string> read_file(std::string_view rel,
                                        uint64_t max_bytes = kDefaultMaxRead) const = 0;
  // The raw target of a symlink (as stored; may be relative or absolute). EINVAL if not a link.
  virtual Result<std::string> read_link(std::string_view rel) const = 0;
  // Sorted entry names of a directory (no "." or ".."), following links inside the root.
  virtual Result<std::vector<std::string>> list_dir(std::string_view rel) const = 0;
  virtual bool exists(std::string_view rel) const;
  // The canonical root-relative path with every symlink resolved inside the root
  // ("sys/bus/pci/devices/0000:00:02.0" -> "sys/devices/pci0000:00/0000:00:02.0").
  virtual Result<std::string> real_path(std::string_view rel) const;
  // Space and inodes of the filesystem holding rel, answering within `timeout` (ETIMEDOUT
  // otherwise). Roots that cannot know report ENOTSUP.
  virtual Result<FsStats> statvfs(std::string_view rel, std::chrono::milliseconds timeout) const;
  // For messages: "/" or the captured directory.
  virtual std::string describe() const = 0;

 protected:
  friend class RecordingRoot;
  // readlink on a path whose every component is already resolved (no links in its parents).
  virtual Result<std::string> read_link_resolved(const std::string& resolved) const = 0;
};

// The live machine. real_path() is resolved component by component like DirRoot's.
class HostRoot : public SystemRoot {
 public:
  // fn: the statvfs to call (default ::statvfs); tests inject a slow one.
  explicit HostRoot(StatvfsFn fn = nullptr) : statvfs_fn_(fn) {}
  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
  Result<FsStats> statvfs(std::string_view rel, std::chrono::milliseconds timeout) const override;
  std::string describe() const override { return "/"; }

 protected:
  Result<std::string> read_link_resolved(const std::string& resolved) const override;

 private:
  StatvfsFn statvfs_fn_;
};

// Where a capture keeps what a plain tree cannot hold, relative to the captured root:
// kCaptureErrors: "OP<TAB>ERRNAME<TAB>resolved path" lines (OP: read, readlink, list), the
// errors the host gave (EACCES, EINVAL...);
// kCaptureStatvfs: "path<TAB>size free available inodes ifree iavailable" or
// "path<TAB>error ERRNAME" lines, statvfs answers by normalised mount point.
inline constexpr const char* kCaptureDir = "airlock-capture";
inline constexpr const char* kCaptureErrors = "airlock-capture/errors";
inline constexpr const char* kCaptureStatvfs = "airlock-capture/statvfs";

// A captured tree at `dir`. Every access first resolves the path inside the tree, then opens the
// resolved path with O_NOFOLLOW, so links pointing outside (absolute or via "..") stay inside.
// When the tree is an airlock capture, the recorded errors and statvfs answers are replayed;
// otherwise statvfs reports ENOTSUP.
class DirRoot : public SystemRoot {
 public:
  explicit DirRoot(std::string dir);
  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
  Result<FsStats> statvfs(std::string_view rel, std::chrono::milliseconds timeout) const override;
  std::string describe() const override { return dir_; }

 protected:
  Result<std::string> read_link_resolved(const std::string& resolved) const override;

 private:
  struct CaptureMeta {
    std::map<std::string, int> errors;               // "OP<TAB>resolved path" -> errno
    std::map<std::string, Result<FsStats>> statvfs;  // mount point -> answer
  };
  const CaptureMeta& meta() const;
  // The errno recorded for an operation ("read", "readlink", "list") on a resolved path, or 0.
  int recorded_error(const char* op, const std::string& resolved) const;

  std::string dir_;
  mutable std::once_flag meta_once_;
  mutable CaptureMeta meta_;
};

// An in-memory tree for unit tests. Directories are implied by their contents or added
// explicitly; set_error makes a path fail with the given errno (e.g. EACCES).
class MemRoot : public SystemRoot {
 public:
  void add_file(std::string_view rel, std::string content);
  void add_link(std::string_view rel, std::string target);
  void add_dir(std::string_view rel);
  void set_error(std::string_view rel, int err);
  // What statvfs(rel) answers; unset paths report ENOTSUP.
  void set_statvfs(std::string_view rel, FsStats stats);
  void set_statvfs_error(std::string_view rel, int err);

  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
  Result<FsStats> statvfs(std::string_view rel, std::chrono::milliseconds timeout) const override;
  std::string describe() const override { return "<memory>"; }

  // Normalised paths passed to read_file, in first-read order without duplicates.
  std::vector<std::string> files_read() const;

 protected:
  Result<std::string> read_link_resolved(const std::string& resolved) const override;

 private:
  enum class Kind { kFile, kLink, kDir };
  struct Node {
    Kind kind = Kind::kDir;
    std::string data;  // file content or link target
  };
  Result<const Node*> lookup(const std::string& resolved) const;
  void add_parents(const std::string& rel);

  std::map<std::string, Node> nodes_;
  std::map<std::string, int> errors_;
  std::map<std::string, FsStats> statvfs_;
  std::map<std::string, int> statvfs_errors_;
  mutable std::mutex mu_;
  mutable std::vector<std::string> files_read_;
  mutable std::set<std::string> seen_;
};

// Wraps another root and records, under canonical (link-free) paths, everything reads went
// through: file contents as first read (later reads of the same file return that same
// content, so one capture is self-consistent), every symlink followed, every directory listed
// and the kind of each entry it listed, the errors met and the statvfs answers. Not
// thread-safe for concurrent collectors beyond its own mutex-guarded maps.
class RecordingRoot : public SystemRoot {
 public:
  enum class Kind { kFile, kLink, kDir };
  struct Entry {
    Kind kind = Kind::kFile;
    std::string data;       // file content or link target
    bool placeholder = false;  // listed or resolved through, never read: empty stand-in
  };

  explicit RecordingRoot(const SystemRoot& inner) : inner_(inner) {}

  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
  Result<FsStats> statvfs(std::string_view rel, std::chrono::milliseconds timeout) const override;
  std::string describe() const override { return inner_.describe(); }

  // Everything recorded, by canonical root-relative path; every parent of an entry is a
  // directory (implied parents are included as kDir). Placeholders for entries that were only
  // seen (listed, or passed through when resolving) get their kind from the inner root here.
  std::map<std::string, Entry> entries() const;
  // The kCaptureErrors and kCaptureStatvfs files' contents.
  std::string errors_file() const;
  std::string statvfs_file() const;

 protected:
  Result<std::string> read_link_resolved(const std::string& resolved) const override;

 private:
  void note_error(const char* op, const std::string& resolved, const Error& e) const;

  const SystemRoot& inner_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Entry> entries_;
  mutable std::map<std::string, Result<std::string>> links_;  // read_link_resolved memo
  mutable std::map<std::string, std::vector<std::string>> lists_;  // list_dir memo
  mutable std::set<std::string> seen_;  // existing non-links whose kind is not known yet
  mutable std::map<std::string, int> errors_;
  mutable std::map<std::string, Result<FsStats>> statvfs_;
};

}  // namespace airlock
