// SystemRoot: the probe's only way to see the machine. A narrow read-only view of a root
// directory (/sys, /proc, /etc... addressed by root-relative paths such as "sys/bus/pci/devices"),
// with three implementations: HostRoot (the live machine, prefix "/"), DirRoot (a captured tree on
// disk; symlinks are resolved inside the tree, absolute targets re-rooted, ".." clamped at the
// root, so nothing escapes it) and MemRoot (an in-memory tree for tests that records every path
// read). Errors carry the errno so facts can say ENOENT, EACCES, EINVAL.
#pragma once

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

// Normalises a root-relative path: strips leading '/', collapses "//" and ".", resolves ".."
// lexically without climbing above the root. "a/./b/../c" -> "a/c"; "/../x" -> "x"; "" = root.
std::string normalize_rel(std::string_view rel);

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
  // For messages: "/" or the captured directory.
  virtual std::string describe() const = 0;

 protected:
  // readlink on a path whose every component is already resolved (no links in its parents).
  virtual Result<std::string> read_link_resolved(const std::string& resolved) const = 0;
};

// The live machine. real_path() is resolved component by component like DirRoot's.
class HostRoot : public SystemRoot {
 public:
  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
  std::string describe() const override { return "/"; }

 protected:
  Result<std::string> read_link_resolved(const std::string& resolved) const override;
};

// A captured tree at `dir`. Every access first resolves the path inside the tree, then opens the
// resolved path with O_NOFOLLOW, so links pointing outside (absolute or via "..") stay inside.
class DirRoot : public SystemRoot {
 public:
  explicit DirRoot(std::string dir);
  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
  std::string describe() const override { return dir_; }

 protected:
  Result<std::string> read_link_resolved(const std::string& resolved) const override;

 private:
  std::string dir_;
};

// An in-memory tree for unit tests. Directories are implied by their contents or added
// explicitly; set_error makes a path fail with the given errno (e.g. EACCES).
class MemRoot : public SystemRoot {
 public:
  void add_file(std::string_view rel, std::string content);
  void add_link(std::string_view rel, std::string target);
  void add_dir(std::string_view rel);
  void set_error(std::string_view rel, int err);

  Result<std::string> read_file(std::string_view rel,
                                uint64_t max_bytes = kDefaultMaxRead) const override;
  Result<std::string> read_link(std::string_view rel) const override;
  Result<std::vector<std::string>> list_dir(std::string_view rel) const override;
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
  mutable std::mutex mu_;
  mutable std::vector<std::string> files_read_;
  mutable std::set<std::string> seen_;
};

}  // namespace airlock
