// libarchive reading over PartsReader, with the entry-type allowlist and raw header checks.
#include "bundle/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>

namespace airlock::bundle {
namespace {

constexpr size_t kMaxName = 255;

// ustar numeric field: octal text, or GNU base-256 when the top bit is set.
std::optional<uint64_t> parse_numeric(const char* p, size_t len) {
  if (static_cast<unsigned char>(p[0]) & 0x80) {
    uint64_t v = static_cast<unsigned char>(p[0]) & 0x7f;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(p[i]);
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return std::nullopt;
  }
  return v;
}

}  // namespace

Status check_member_name(std::string_view name) {
  const std::string quoted = "member '" + std::string(name) + "'";
  if (name.empty()) return make_error(Errc::kUnsafe, "member with an empty name");
  if (name.size() > kMaxName) return make_error(Errc::kUnsafe, "member name longer than 255 bytes");
  if (name[0] == '/') return make_error(Errc::kUnsafe, quoted + ": absolute path");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return make_error(Errc::kUnsafe, "member name contains a control character");
    if (c == '\\') return make_error(Errc::kUnsafe, quoted + ": backslash in name");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view part = name.substr(start, slash - start);
    if (part == "..") return make_error(Errc::kUnsafe, quoted + ": path escapes the bundle ('..' component)");
    if (part == "." || (part.empty() && slash != name.size())) {
      return make_error(Errc::kUnsafe, quoted + ": non-canonical path");
    }
    start = slash + 1;
  }
  return {};
}

TarReader::TarReader(PartsReader input) : input_(std::move(input)) {}

TarReader::~TarReader() {
  if (a_) archive_read_free(a_);
}

long TarReader::read_callback(struct archive* a, void* self_ptr, const void** buf) {
  auto* self = static_cast<TarReader*>(self_ptr);
  const char* data = nullptr;
  auto n = self->input_.next_chunk(&data);
  if (!n.ok()) {
    self->read_error_ = n.error();
    self->has_read_error_ = true;
    archive_set_error(a, EIO, "%s", n.error().describe().c_str());
    return -1;
  }
  *buf = data;
  return static_cast<long>(*n);
}

Result<std::unique_ptr<TarReader>> TarReader::open(const std::string& path) {
  TRY_ASSIGN(PartsReader input, PartsReader::open(path));
  std::unique_ptr<TarReader> r(new TarReader(std::move(input)));
  r->a_ = archive_read_new();
  archive_read_support_format_tar(r->a_);  // tar only: no other formats, no filters
  if (archive_read_open(r->a_, r.get(), nullptr, &TarReader::read_callback, nullptr) != ARCHIVE_OK) {
    if (r->has_read_error_) return r->read_error_;
    return make_error(Errc::kIntegrity, path + ": not a tar archive: " + archive_error_string(r->a_));
  }
  return r;
}

Status TarReader::check_raw_header(MemberHeader& m) {
  // Walk the raw header chain of this entry: optional pax 'x' header, then the ustar header.
  uint64_t pos = static_cast<uint64_t>(archive_read_header_position(a_));
  for (int hops = 0; hops < 4; ++hops) {
    char h[512];
    if (!input_.copy_raw(pos, sizeof h, h)) {
      return make_error(Errc::kLimit, "member '" + m.name + "': header too large to check");
    }
    char type = h[156];
    auto size = parse_numeric(h + 124, 12);
    if (!size) return make_error(Errc::kUnsafe, "member '" + m.name + "': malformed size field");
    if (type == 'x') {
      pos += 512 + ((*size + 511) / 512) * 512;
      continue;
    }
    if (type != '0' && type != '\0') {
      return make_error(Errc::kUnsafe, "member '" + m.name + "': tar header type '" +
                                           std::string(1, type) + "' is not allowed in a bundle");
    }
    if (m.size < (1ull << 33) && *size != m.size) {
      return make_error(Errc::kUnsafe, "member '" + m.name + "': PAX size " + std::to_string(m.size) +
                                           " disagrees with ustar size " + std::to_string(*size));
    }
    m.data_offset = pos + 512;
    return {};
  }
  return make_error(Errc::kUnsafe, "member '" + m.name + "': too many extended headers");
}

Result<std::optional<MemberHeader>> TarReader::next() {
  for (;;) {
    struct archive_entry* e = nullptr;
    int rc = archive_read_next_header(a_, &e);
    if (rc == ARCHIVE_EOF) return std::optional<MemberHeader>();
    if (has_read_error_) return read_error_;
    if (rc != ARCHIVE_OK) {
      const char* why = archive_error_string(a_);
      return make_error(Errc::kIntegrity, std::string("corrupt tar stream after member '") + current_ +
                                          "': " + (why ? why : "unknown error"));
    }
    const char* name_c = archive_entry_pathname(e);
    std::string name = name_c ? name_c : "";
    current_ = name;
    const std::string quoted = "member '" + name + "'";
    if (archive_entry_hardlink(e) != nullptr) {
      return make_error(Errc::kUnsafe, quoted + ": hard link to '" + archive_entry_hardlink(e) +
                                           "' (bundles hold only regular files)");
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        break;
      case AE_IFDIR: {
        std::string n = name;
        if (n == "blobs/" || n == "blobs/sha256/" || n == "trust/") continue;
        return make_error(Errc::kUnsafe, quoted + ": unexpected directory");
      }
      case AE_IFLNK:
        return make_error(Errc::kUnsafe, quoted + ": symbolic link to '" +
                                             std::string(archive_entry_symlink(e) ? archive_entry_symlink(e) : "") +
                                             "' (bundles hold only regular files)");
      case AE_IFCHR:
      case AE_IFBLK:
        return make_error(Errc::kUnsafe, quoted + ": device node");
      case AE_IFIFO:
        return make_error(Errc::kUnsafe, quoted + ": FIFO");
      default:
        return make_error(Errc::kUnsafe, quoted + ": unsupported entry type");
    }
    TRY_STATUS(check_member_name(name));
    if (archive_entry_sparse_count(e) > 0) return make_error(Errc::kUnsafe, quoted + ": sparse file");
    MemberHeader m{name, static_cast<uint64_t>(archive_entry_size(e))};
    if (archive_entry_size(e) < 0) return make_error(Errc::kUnsafe, quoted + ": negative size");
    TRY_STATUS(check_raw_header(m));
    expected_offset_ = 0;
    return std::optional<MemberHeader>(m);
  }
}

Result<std::string_view> TarReader::read_block() {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int rc = archive_read_data_block(a_, &buf, &size, &offset);
  if (rc == ARCHIVE_EOF) return std::string_view();
  if (has_read_error_) return read_error_;
  if (rc != ARCHIVE_OK) {
    const char* why = archive_error_string(a_);
    return make_error(Errc::kIntegrity, "member '" + current_ + "': truncated or unreadable: " +
                                            (why ? why : "unknown error"));
  }
  if (static_cast<uint64_t>(offset) != expected_offset_) {
    return make_error(Errc::kUnsafe, "member '" + current_ + "': sparse data");
  }
  expected_offset_ += size;
  return std::string_view(static_cast<const char*>(buf), size);
}

}  // namespace airlock::bundle
