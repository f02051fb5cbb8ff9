// libarchive in pass-through mode (bytes_per_block 0): our 1 MiB writes reach the file directly.
#include "bundle/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>

namespace airlock::bundle {

TarWriter::TarWriter(ByteSink& out, int64_t mtime) : out_(out), mtime_(mtime), a_(archive_write_new()) {
  archive_write_set_format_pax_restricted(a_);
  archive_write_add_filter_none(a_);
  archive_write_set_bytes_per_block(a_, 0);
  archive_write_open(a_, this, nullptr, &TarWriter::write_callback, nullptr);
}

TarWriter::~TarWriter() {
  if (!closed_) archive_write_fail(a_);
  archive_write_free(a_);
}

long TarWriter::write_callback(struct archive* a, void* self_ptr, const void* buf, size_t len) {
  auto* self = static_cast<TarWriter*>(self_ptr);
  auto st = self->out_.write(buf, len);
  if (!st.ok()) {
    self->write_error_ = st.error();
    self->has_error_ = true;
    archive_set_error(a, EIO, "%s", st.error().describe().c_str());
    return -1;
  }
  return static_cast<long>(len);
}

Status TarWriter::begin_member(const std::string& name, uint64_t size) {
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, static_cast<la_int64_t>(size));
  archive_entry_set_mtime(e, mtime_, 0);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  int rc = archive_write_header(a_, e);
  archive_entry_free(e);
  if (has_error_) return write_error_;
  if (rc != ARCHIVE_OK) {
    return make_error(Errc::kIo, "tar header for " + name + ": " + archive_error_string(a_));
  }
  return {};
}

Status TarWriter::write(const void* data, size_t len) {
  la_ssize_t n = archive_write_data(a_, data, len);
  if (has_error_) return write_error_;
  if (n < 0 || static_cast<size_t>(n) != len) {
    return make_error(Errc::kIo, std::string("tar write: ") + archive_error_string(a_));
  }
  return {};
}

Status TarWriter::add_member(const std::string& name, std::string_view bytes) {
  TRY_STATUS(begin_member(name, bytes.size()));
  return write(bytes.data(), bytes.size());
}

Status TarWriter::close() {
  int rc = archive_write_close(a_);
  closed_ = true;
  if (has_error_) return write_error_;
  if (rc != ARCHIVE_OK) return make_error(Errc::kIo, std::string("tar close: ") + archive_error_string(a_));
  return {};
}

}  // namespace airlock::bundle
