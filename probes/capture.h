// `airlock-node capture`: turns what a probe run read through a RecordingRoot into a
// .tar.zst that unpacks to a tree `probe --root` reads the same way: regular files with the
// content the probe saw, symlinks as symlinks (sysfs is mostly links), listed directories even
// when empty, plus airlock-capture/ (the errors and statvfs answers DirRoot replays, and the
// facts the capture run itself produced). The tar is pax (POSIX.1-2001) written here, so the
// static binary needs only libzstd, not libarchive and its dependencies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/system_root.h"

namespace airlock::probes {

// A minimal pax tar writer into memory: regular files, directories and symlinks, owned by
// 0:0, long names and link targets in pax extended headers. Deterministic for equal input.
class TarWriter {
 public:
  explicit TarWriter(int64_t mtime_s) : mtime_s_(mtime_s) {}
  void add_dir(std::string_view path);
  void add_file(std::string_view path, std::string_view content);
  void add_link(std::string_view path, std::string_view target);
  // The archive with its end-of-archive blocks; the writer is done after this.
  std::string finish();

 private:
  void add(char type, std::string_view path, std::string_view link, std::string_view content,
           unsigned mode);
  std::string out_;
  int64_t mtime_s_;
};

// One pax record "LEN key=value\n" (LEN counts the whole record, itself included).
std::string pax_record(std::string_view key, std::string_view value);

// zstd-compresses data (one frame, with its content size and checksum).
Result<std::string> zstd_compress(std::string_view data, int level);

struct CaptureSummary {
  size_t files = 0;
  size_t links = 0;
  size_t dirs = 0;
  uint64_t tar_bytes = 0;
  uint64_t zst_bytes = 0;
};

// Command output a probe run collected (CollectOptions::command_outputs): file name under
// airlock-capture/commands -> content.
using CommandOutputs = std::map<std::string, std::string>;

// The capture archive (uncompressed tar) of what `rec` recorded, with facts_json stored as
// airlock-capture/facts.json and each command output under airlock-capture/commands/.
std::string capture_tar(const RecordingRoot& rec, std::string_view facts_json, int64_t mtime_s,
                        CaptureSummary* summary, const CommandOutputs& commands = {});

// capture_tar, zstd-compressed, written atomically to out_path.
Result<CaptureSummary> write_capture(const RecordingRoot& rec, std::string_view facts_json,
                                     const std::string& out_path, int64_t mtime_s,
                                     const CommandOutputs& commands = {});

// True when path names a capture archive rather than a directory: a regular file starting with
// the zstd frame magic.
bool is_capture_archive(const std::string& path);

// Unpacks a capture archive (.tar.zst as `capture` writes it) into dir, which must exist and be
// empty and private to the caller (e.g. from mkdtemp). Safe against hostile archives: only
// regular files, directories and symlinks; no absolute names, no ".." components, nothing
// written through a symlink the archive made, no entry twice, sizes bounded (max_bytes of tar in
// all). Symlink targets are stored as they are: DirRoot resolves them inside the tree.
Status extract_capture(const std::string& archive, const std::string& dir,
                       uint64_t max_bytes = 2ull << 30);

}  // namespace airlock::probes
