// Reading a docker-archive / oci-archive tar safely (see archive_scan.h).
#include "images/archive_scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <vector>

namespace airlock::images::archive_scan {
namespace {

// The member a symlink points at, resolved lexically from the link's directory. The target must
// be relative and stay inside the archive.
Result<std::string> resolve_link_target(const std::string& link, std::string_view target) {
  const std::string label = member_label(link) + ": symlink to '" + std::string(target) + "'";
  if (target.empty()) return make_error(Errc::kUnsafe, member_label(link) + ": symlink with an empty target");
  if (target[0] == '/') {
    return make_error(Errc::kUnsafe, label + " is absolute (a link must stay inside the archive)");
  }
  if (target.size() > kMaxNameBytes) return make_error(Errc::kUnsafe, label + ": target too long");
  for (unsigned char c : target) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      return make_error(Errc::kUnsafe, member_label(link) + ": symlink target with a control character or backslash");
    }
  }
  std::vector<std::string_view> parts;
  std::string_view dir = link;
  size_t cut = dir.rfind('/');
  dir = cut == std::string_view::npos ? std::string_view() : dir.substr(0, cut);
  auto push_components = [&](std::string_view path) -> bool {
    size_t start = 0;
    while (start <= path.size()) {
      size_t slash = path.find('/', start);
      if (slash == std::string_view::npos) slash = path.size();
      std::string_view part = path.substr(start, slash - start);
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      start = slash + 1;
    }
    return true;
  };
  push_components(dir);
  if (!push_components(target)) return make_error(Errc::kUnsafe, label + " escapes the archive");
  if (parts.empty()) return make_error(Errc::kUnsafe, label + " points at the archive root");
  std::string out;
  for (auto p : parts) out += (out.empty() ? "" : "/") + std::string(p);
  return out;
}

bool starts_like_json(std::string_view data) {
  for (char c : data) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{' || c == '[';
  }
  return false;
}

}  // namespace

std::string member_label(std::string_view name) { return "member '" + std::string(name) + "'"; }

Result<std::string> normalize_name(std::string_view raw) {
  std::string_view n = raw;
  while (n.size() >= 2 && n.substr(0, 2) == "./") n.remove_prefix(2);
  if (n == ".") return std::string();
  if (!n.empty() && n.back() == '/' && n.size() > 1) n.remove_suffix(1);
  if (n.empty()) {
    if (raw.empty()) return make_error(Errc::kUnsafe, "member with an empty name");
    return std::string();
  }
  const std::string label = member_label(raw);
  if (n.size() > kMaxNameBytes) return make_error(Errc::kUnsafe, "member name longer than 4095 bytes");
  if (n[0] == '/') return make_error(Errc::kUnsafe, label + ": absolute path");
  for (unsigned char c : n) {
    if (c < 0x20 || c == 0x7f) return make_error(Errc::kUnsafe, "member name contains a control character");
    if (c == '\\') return make_error(Errc::kUnsafe, label + ": backslash in name");
  }
  size_t start = 0;
  while (start <= n.size()) {
    size_t slash = n.find('/', start);
    if (slash == std::string_view::npos) slash = n.size();
    std::string_view part = n.substr(start, slash - start);
    if (part == "..") return make_error(Errc::kUnsafe, label + ": path escapes the archive ('..' component)");
    if (part == "." || part.empty()) return make_error(Errc::kUnsafe, label + ": non-canonical path");
    start = slash + 1;
  }
  return std::string(n);
}

Pass::~Pass() {
  if (a_) archive_read_free(a_);
}

Status Pass::open(int fd) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return sys_error("cannot seek to the start of the archive");
  a_ = archive_read_new();
  if (!a_) return make_error(Errc::kInternal, "archive_read_new failed");
  archive_read_support_format_tar(a_);   // tar only: no zip, cpio, iso9660 parsers
  archive_read_support_filter_gzip(a_);  // docker save | gzip
  if (archive_read_open_fd(a_, fd, 64 * 1024) != ARCHIVE_OK) {
    return make_error(Errc::kParse, "not a tar archive: " + why());
  }
  return {};
}

Result<std::optional<Entry>> Pass::next() {
  for (;;) {
    struct archive_entry* e = nullptr;
    int rc = archive_read_next_header(a_, &e);
    if (rc == ARCHIVE_EOF) return std::optional<Entry>();
    if (rc != ARCHIVE_OK) {
      std::string where = last_.empty() ? "corrupt tar" : "corrupt or truncated tar after member '" + last_ + "'";
      return make_error(Errc::kIntegrity, where + ": " + why());
    }
    const char* raw_c = archive_entry_pathname(e);
    std::string raw = raw_c ? raw_c : "";
    last_ = raw;
    const std::string label = member_label(raw);
    if (archive_entry_hardlink(e) != nullptr) {
      return make_error(Errc::kUnsafe, label + ": hard link to '" + archive_entry_hardlink(e) +
                                           "' (only files, directories and symlinks are accepted)");
    }
    Entry out;
    switch (archive_entry_filetype(e)) {
      case AE_IFREG: out.kind = Kind::kFile; break;
      case AE_IFDIR: out.kind = Kind::kDir; break;
      case AE_IFLNK: out.kind = Kind::kSymlink; break;
      case AE_IFCHR:
      case AE_IFBLK: return make_error(Errc::kUnsafe, label + ": device node");
      case AE_IFIFO: return make_error(Errc::kUnsafe, label + ": FIFO");
      case AE_IFSOCK: return make_error(Errc::kUnsafe, label + ": socket");
      default: return make_error(Errc::kUnsafe, label + ": unsupported entry type");
    }
    TRY_ASSIGN(out.name, normalize_name(raw));
    if (out.name.empty()) {
      if (out.kind == Kind::kDir) continue;
      return make_error(Errc::kUnsafe, label + ": not a directory but named like the archive root");
    }
    if (archive_entry_sparse_count(e) > 0) return make_error(Errc::kUnsafe, label + ": sparse file");
    if (out.kind == Kind::kFile) {
      if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0) {
        return make_error(Errc::kUnsafe, label + ": no valid size");
      }
      out.size = static_cast<uint64_t>(archive_entry_size(e));
    } else if (out.kind == Kind::kSymlink) {
      const char* t = archive_entry_symlink(e);
      TRY_ASSIGN(out.link, resolve_link_target(out.name, t ? t : ""));
    }
    expected_offset_ = 0;
    return std::optional<Entry>(std::move(out));
  }
}

Result<std::string_view> Pass::read_block() {
  for (;;) {
    const void* buf = nullptr;
    size_t size = 0;
    int64_t offset = 0;
    int rc = archive_read_data_block(a_, &buf, &size, &offset);
    if (rc == ARCHIVE_EOF) return std::string_view();
    if (rc != ARCHIVE_OK) {
      return make_error(Errc::kIntegrity, member_label(last_) + ": truncated or unreadable: " + why());
    }
    if (offset != expected_offset_) return make_error(Errc::kUnsafe, member_label(last_) + ": sparse data");
    expected_offset_ += static_cast<int64_t>(size);
    if (size > 0) return std::string_view(static_cast<const char*>(buf), size);
  }
}

std::string Pass::why() const {
  const char* s = archive_error_string(a_);
  return s ? s : "unknown error";
}

Result<Scan> scan_archive(int fd) {
  Pass pass;
  TRY_STATUS(pass.open(fd));
  Scan s;
  for (;;) {
    TRY_ASSIGN(std::optional<Entry> e, pass.next());
    if (!e) break;
    if (s.members.size() >= kMaxMembers) {
      return make_error(Errc::kLimit, "more than " + std::to_string(kMaxMembers) + " members");
    }
    auto [it, inserted] = s.members.emplace(e->name, Member{e->kind, e->size, e->link});
    if (!inserted) {
      if (it->second.kind == Kind::kDir && e->kind == Kind::kDir) continue;
      return make_error(Errc::kUnsafe, member_label(e->name) + ": appears twice in the archive");
    }
    if (e->kind != Kind::kFile || e->size == 0 || e->size > kMaxJson) continue;
    std::string data;
    bool json_like = false;
    for (;;) {
      TRY_ASSIGN(std::string_view block, pass.read_block());
      if (block.empty()) break;
      if (data.empty() && !json_like) {
        json_like = starts_like_json(block);
        if (!json_like) break;  // a layer: the next header skips the rest
      }
      if (data.size() + block.size() > e->size) {
        return make_error(Errc::kIntegrity, member_label(e->name) + ": more data than its header says");
      }
      data.append(block);
    }
    if (!json_like) continue;
    if (data.size() != e->size) {
      return make_error(Errc::kIntegrity, member_label(e->name) + ": " + std::to_string(data.size()) +
                                              " bytes of data, header says " + std::to_string(e->size));
    }
    s.json_bytes += data.size();
    if (s.json_bytes > kMaxJsonTotal) {
      return make_error(Errc::kLimit, "more than 64 MiB of JSON documents in the archive");
    }
    s.json.emplace(e->name, std::move(data));
  }
  // Nothing may live below a symlink or a file: such a path would only mean something on disk.
  for (const auto& [name, m] : s.members) {
    for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
      auto parent = s.members.find(name.substr(0, slash));
      if (parent != s.members.end() && parent->second.kind != Kind::kDir) {
        return make_error(Errc::kUnsafe, member_label(name) + ": lies below '" + parent->first +
                                             "', which is not a directory");
      }
    }
  }
  return s;
}

Result<std::string> regular_member(const Scan& s, const std::string& name, const std::string& what) {
  std::string cur = name;
  for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
    auto it = s.members.find(cur);
    if (it == s.members.end()) {
      std::string msg = what + " '" + name + "', which is not in the archive";
      if (cur != name) msg += " (its symlink target '" + cur + "' is missing)";
      return make_error(Errc::kNotFound, msg);
    }
    switch (it->second.kind) {
      case Kind::kFile: return cur;
      case Kind::kDir: return make_error(Errc::kParse, what + " '" + name + "', which is a directory");
      case Kind::kSymlink: cur = it->second.link; break;
    }
  }
  return make_error(Errc::kUnsafe, what + " '" + name + "': too many symlinks (a loop?)");
}

Result<std::string> json_member(const Scan& s, const std::string& name) {
  if (!s.members.count(name)) return make_error(Errc::kNotFound, "no '" + name + "' in the archive");
  TRY_ASSIGN(std::string real, regular_member(s, name, "member"));
  auto it = s.json.find(real);
  if (it != s.json.end()) return it->second;
  if (s.members.at(real).size > kMaxJson) return make_error(Errc::kLimit, member_label(name) + ": larger than 4 MiB");
  return make_error(Errc::kParse, member_label(name) + ": not a JSON document");
}

}  // namespace airlock::images::archive_scan
