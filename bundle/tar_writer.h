// Deterministic outer tar writer (libarchive pax_restricted, no filter): regular files only,
// mode 0644, uid/gid 0, no user/group names, mtime = SOURCE_DATE_EPOCH. Same inputs, same bytes.
#pragma once

#include <cstdint>
#include <string>

#include "bundle/parts.h"
#include "common/result.h"

struct archive;

namespace airlock::bundle {

class TarWriter {
 public:
  TarWriter(ByteSink& out, int64_t mtime);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  Status begin_member(const std::string& name, uint64_t size);
  Status write(const void* data, size_t len);
  Status add_member(const std::string& name, std::string_view bytes);
  // Writes the end-of-archive blocks.
  Status close();

 private:
  static long write_callback(struct archive*, void* self, const void* buf, size_t len);
  ByteSink& out_;
  int64_t mtime_;
  struct archive* a_;
  Error write_error_;
  bool has_error_ = false;
  bool closed_ = false;
};

}  // namespace airlock::bundle
