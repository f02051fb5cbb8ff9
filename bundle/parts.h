// The bytes of a bundle as one stream, whether it is one file, stdin, or parts written by
// `--split` (NAME.000, NAME.001, ...) for media with file-size caps. Reading keeps a short
// history of raw bytes so the tar reader can cross-check raw headers against libarchive.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/read_ahead.h"
#include "common/result.h"

namespace airlock::bundle {

// The files that make up the bundle at `path`: [path] itself, or path.000, path.001, ...
// ("-" is stdin). Accepts the first part's name too.
Result<std::vector<std::string>> bundle_parts(const std::string& path);

class PartsReader {
 public:
  static Result<PartsReader> open(const std::string& path);
  PartsReader(PartsReader&&) = default;
  PartsReader& operator=(PartsReader&&) = default;

  // Reads the next chunk (<= 1 MiB, read ahead on a second thread). The returned pointer stays valid until the chunk after the
  // next one is read. Returns 0 bytes at the end.
  Result<size_t> next_chunk(const char** data);
  // Copies raw bytes at an absolute stream offset if they are still in the history.
  bool copy_raw(uint64_t offset, size_t len, char* out) const;
  uint64_t total_size() const { return total_; }  // 0 when unknown (stdin)
  const std::string& name() const { return name_; }

 private:
  PartsReader() = default;
  struct Chunk {
    uint64_t offset = 0;
    std::vector<char> data;
  };
  std::string name_;
  std::vector<std::string> parts_;
  std::unique_ptr<ReadAhead> reader_;  // reads the parts on a second thread
  uint64_t position_ = 0;
  uint64_t total_ = 0;
  std::deque<Chunk> history_;
};

// Random access to the bundle stream by absolute offset, across parts (not for stdin).
class PartsPread {
 public:
  static Result<PartsPread> open(const std::string& path);
  // Reads exactly len bytes at offset (fails at the end of the stream).
  Status read_at(uint64_t offset, char* buf, size_t len) const;

 private:
  struct Part {
    UniqueFd fd;
    uint64_t start = 0, size = 0;
    std::string name;
  };
  std::vector<Part> parts_;
};

// Where a byte stream goes: a bundle file (PartsWriter), standard output, ...
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status write(const void* data, size_t len) = 0;
};

// Standard output (or any fd) as a sink.
class FdSink : public ByteSink {
 public:
  explicit FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Status write(const void* data, size_t len) override { return write_all(fd_, data, len, name_); }

 private:
  int fd_;
  std::string name_;
};

// Writes one stream into a single file or into parts of at most split_size bytes. Parts are
// written under temporary names and renamed into place by commit(); abandoned writers remove them.
class PartsWriter : public ByteSink {
 public:
  PartsWriter(std::string path, uint64_t split_size);
  ~PartsWriter() override;
  Status write(const void* data, size_t len) override;
  // fsync, rename into place; returns the final file names.
  Result<std::vector<std::string>> commit();
  uint64_t written() const { return written_; }

 private:
  Status open_next();
  std::string path_;
  uint64_t split_;
  UniqueFd fd_;
  uint64_t in_part_ = 0;
  uint64_t flushed_ = 0;  // bytes of this part handed to writeback
  uint64_t written_ = 0;
  std::vector<std::string> temp_names_;
  std::vector<std::string> final_names_;
  bool committed_ = false;
};

}  // namespace airlock::bundle
