// The capture archive: a small pax tar writer and the zstd framing around it. See capture.h.
#include "probes/capture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include "common/fs.h"
#include "probes/collect.h"

namespace airlock::probes {
namespace {

constexpr size_t kBlock = 512;

// Writes value as NUL-terminated, zero-padded octal into a field of `width` bytes.
void put_octal(char* field, size_t width, uint64_t value) {
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = '\0';
}

void put_str(char* field, size_t width, std::string_view s) {
  std::memcpy(field, s.data(), std::min(width, s.size()));
}

// True when s fits a ustar name/linkname field (< 100 bytes, ASCII).
bool fits_ustar(std::string_view s) {
  if (s.size() >= 100) return false;
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

std::string header(char type, std::string_view name, std::string_view link, uint64_t size,
                   unsigned mode, int64_t mtime_s) {
  char h[kBlock];
  std::memset(h, 0, sizeof h);
  put_str(h + 0, 100, name.substr(0, 99));
  put_octal(h + 100, 8, mode);
  put_octal(h + 108, 8, 0);
  put_octal(h + 116, 8, 0);
  put_octal(h + 124, 12, size);
  put_octal(h + 136, 12, static_cast<uint64_t>(mtime_s < 0 ? 0 : mtime_s));
  h[156] = type;
  put_str(h + 157, 100, link.substr(0, 99));
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  put_str(h + 265, 32, "root");
  put_str(h + 297, 32, "root");
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  return std::string(h, kBlock);
}

void pad(std::string& out) {
  size_t rem = out.size() % kBlock;
  if (rem) out.append(kBlock - rem, '\0');
}

}  // namespace

std::string pax_record(std::string_view key, std::string_view value) {
  size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

void TarWriter::add(char type, std::string_view path, std::string_view link,
                    std::string_view content, unsigned mode) {
  std::string pax;
  if (!fits_ustar(path)) pax += pax_record("path", path);
  if (!fits_ustar(link)) pax += pax_record("linkpath", link);
  if (!pax.empty()) {
    std::string base(path.substr(path.rfind('/') == std::string_view::npos ? 0
                                                                             : path.rfind('/') + 1));
    std::string xname = "PaxHeaders/" + base.substr(0, 80);
    out_ += header('x', xname, {}, pax.size(), 0644, mtime_s_);
    out_ += pax;
    pad(out_);
  }
  out_ += header(type, path, link, content.size(), mode, mtime_s_);
  out_.append(content);
  pad(out_);
}

void TarWriter::add_dir(std::string_view path) {
  add('5', std::string(path) + "/", {}, {}, 0755);
}

void TarWriter::add_file(std::string_view path, std::string_view content) {
  add('0', path, {}, content, 0644);
}

void TarWriter::add_link(std::string_view path, std::string_view target) {
  add('2', path, target, {}, 0777);
}

std::string TarWriter::finish() {
  out_.append(2 * kBlock, '\0');
  return std::move(out_);
}

Result<std::string> zstd_compress(std::string_view data, int level) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (!cctx) return make_error(Errc::kInternal, "zstd: cannot create a compression context");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) {
    return make_error(Errc::kInternal, std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

std::string capture_tar(const RecordingRoot& rec, std::string_view facts_json, int64_t mtime_s,
                        CaptureSummary* summary, const CommandOutputs& commands) {
  CaptureSummary s;
  TarWriter tar(mtime_s);
  for (const auto& [path, e] : rec.entries()) {
    if (path == kCaptureDir || path.rfind(std::string(kCaptureDir) + "/", 0) == 0) continue;
    switch (e.kind) {
      case RecordingRoot::Kind::kDir:
        tar.add_dir(path);
        ++s.dirs;
        break;
      case RecordingRoot::Kind::kLink:
        tar.add_link(path, e.data);
        ++s.links;
        break;
      case RecordingRoot::Kind::kFile:
        tar.add_file(path, e.data);
        ++s.files;
        break;
    }
  }
  tar.add_dir(kCaptureDir);
  tar.add_file(kCaptureErrors, rec.errors_file());
  tar.add_file(kCaptureStatvfs, rec.statvfs_file());
  tar.add_file(std::string(kCaptureDir) + "/facts.json", facts_json);
  if (!commands.empty()) {
    tar.add_dir(kCaptureCommands);
    for (const auto& [name, content] : commands) {
      tar.add_file(std::string(kCaptureCommands) + "/" + name, content);
    }
  }
  std::string out = tar.finish();
  s.tar_bytes = out.size();
  if (summary) *summary = s;
  return out;
}

Result<CaptureSummary> write_capture(const RecordingRoot& rec, std::string_view facts_json,
                                     const std::string& out_path, int64_t mtime_s,
                                     const CommandOutputs& commands) {
  CaptureSummary s;
  std::string tar = capture_tar(rec, facts_json, mtime_s, &s, commands);
  TRY_ASSIGN(std::string zst, zstd_compress(tar, 9));
  s.zst_bytes = zst.size();
  TRY_STATUS(write_file_atomic(out_path, zst, 0644));
  return s;
}

namespace {

// A NUL-terminated (or full-width) header field.
std::string field(const char* p, size_t width) {
  size_t n = 0;
  while (n < width && p[n] != '\0') ++n;
  return std::string(p, n);
}

std::optional<uint64_t> octal(const char* p, size_t width) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < width && (p[i] == ' ' || p[i] == '\0')) ++i;
  bool any = false;
  for (; i < width && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + static_cast<uint64_t>(p[i] - '0');
    any = true;
  }
  for (; i < width; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return std::nullopt;
  }
  if (!any) return std::nullopt;
  return v;
}

bool checksum_ok(const char* h) {
  auto want = octal(h + 148, 8);
  if (!want) return false;
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  }
  return sum == *want;
}

// pax records "LEN key=value\n" -> path / linkpath (others ignored).
Status parse_pax(std::string_view body, std::string* path, std::string* linkpath) {
  size_t i = 0;
  while (i < body.size()) {
    size_t sp = body.find(' ', i);
    if (sp == std::string_view::npos) return make_error(Errc::kParse, "capture: bad pax record");
    uint64_t len = 0;
    for (size_t k = i; k < sp; ++k) {
      if (body[k] < '0' || body[k] > '9') return make_error(Errc::kParse, "capture: bad pax length");
      len = len * 10 + static_cast<uint64_t>(body[k] - '0');
      if (len > body.size()) return make_error(Errc::kParse, "capture: bad pax length");
    }
    if (len <= sp - i + 1 || i + len > body.size() || body[i + len - 1] != '\n') {
      return make_error(Errc::kParse, "capture: bad pax record");
    }
    std::string_view rec = body.substr(sp + 1, i + len - 1 - (sp + 1));
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos) return make_error(Errc::kParse, "capture: bad pax record");
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") *path = std::string(value);
    if (key == "linkpath") *linkpath = std::string(value);
    i += len;
  }
  return Status{};
}

// A relative archive name made safe: no absolute path, no "..", no empty result; "./" and
// trailing "/" dropped. Empty when unsafe.
std::string safe_name(std::string_view name) {
  if (name.empty() || name[0] == '/' || name.find('\0') != std::string_view::npos) return "";
  std::string out;
  size_t i = 0;
  while (i <= name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string_view::npos) j = name.size();
    std::string_view c = name.substr(i, j - i);
    if (c == "..") return "";
    if (!c.empty() && c != ".") {
      if (!out.empty()) out += '/';
      out += c;
    }
    i = j + 1;
  }
  return out;
}

}  // namespace

bool is_capture_archive(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  UniqueFd f(fd);
  unsigned char m[4];
  if (::read(fd, m, sizeof m) != static_cast<ssize_t>(sizeof m)) return false;
  return m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd;
}

Status extract_capture(const std::string& archive, const std::string& dir, uint64_t max_bytes) {
  // Decompress the whole archive (captures are a few MB of tar); bounded by max_bytes.
  TRY_ASSIGN(std::string zst, read_file(archive, 1ull << 30));
  std::string tar;
  {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (!dctx) return make_error(Errc::kInternal, "zstd: cannot create a decompression context");
    ZSTD_inBuffer in{zst.data(), zst.size(), 0};
    std::string chunk(ZSTD_DStreamOutSize(), '\0');
    size_t ret = 1;
    while (in.pos < in.size) {
      ZSTD_outBuffer out{chunk.data(), chunk.size(), 0};
      ret = ZSTD_decompressStream(dctx, &out, &in);
      if (ZSTD_isError(ret)) {
        ZSTD_freeDCtx(dctx);
        return make_error(Errc::kParse, archive + ": zstd: " + ZSTD_getErrorName(ret));
      }
      tar.append(chunk.data(), out.pos);
      if (tar.size() > max_bytes) {
        ZSTD_freeDCtx(dctx);
        return make_error(Errc::kLimit, archive + ": more than " + std::to_string(max_bytes) +
                                            " bytes of tar");
      }
      if (out.pos == 0 && ret != 0 && in.pos == in.size) break;
    }
    ZSTD_freeDCtx(dctx);
    if (ret != 0) return make_error(Errc::kParse, archive + ": truncated zstd stream");
  }
  std::set<std::string> links, seen;
  std::string pax_path, pax_link;
  size_t off = 0;
  auto bad = [&](const std::string& what) {
    return make_error(Errc::kUnsafe, archive + ": " + what);
  };
  while (true) {
    if (off + kBlock > tar.size()) return bad("truncated tar (no end-of-archive blocks)");
    const char* h = tar.data() + off;
    if (std::all_of(h, h + kBlock, [](char c) { return c == '\0'; })) break;
    if (!checksum_ok(h)) return bad("bad tar header checksum at offset " + std::to_string(off));
    auto size = octal(h + 124, 12);
    if (!size) return bad("bad tar size at offset " + std::to_string(off));
    char type = h[156];
    size_t data = off + kBlock;
    if (*size > tar.size() || data + *size > tar.size()) return bad("truncated tar member");
    std::string_view body(tar.data() + data, *size);
    off = data + ((*size + kBlock - 1) / kBlock) * kBlock;
    if (type == 'x') {
      TRY_STATUS(parse_pax(body, &pax_path, &pax_link));
      continue;
    }
    if (type == 'g') continue;  // global pax header: nothing we use
    std::string raw = pax_path.empty() ? field(h, 100) : pax_path;
    if (pax_path.empty() && std::memcmp(h + 257, "ustar", 5) == 0 && h[345] != '\0') {
      raw = field(h + 345, 155) + "/" + raw;  // ustar prefix
    }
    std::string target = pax_link.empty() ? field(h + 157, 100) : pax_link;
    pax_path.clear();
    pax_link.clear();
    std::string name = safe_name(raw);
    if (name.empty()) {
      if (type == '5' && safe_name(raw + "x") == "x") continue;  // "./" itself
      return bad("unsafe member name '" + raw.substr(0, 200) + "'");
    }
    // Never write through a link this archive made.
    for (size_t k = name.find('/'); k != std::string::npos; k = name.find('/', k + 1)) {
      if (links.count(name.substr(0, k))) {
        return bad("member '" + name + "' lies below the symlink '" + name.substr(0, k) + "'");
      }
    }
    std::string full = dir + "/" + name;
    if (type == '5') {
      if (links.count(name)) return bad("directory '" + name + "' replaces a symlink");
      if (::mkdir(full.c_str(), 0755) != 0 && errno != EEXIST) {
        return sys_error("mkdir " + full);
      }
      struct stat st;
      if (::lstat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return bad("'" + name + "' is not a directory");
      }
      continue;
    }
    if (!seen.insert(name).second) return bad("member '" + name + "' appears twice");
    // Parents the archive did not list (it always does, but be lenient).
    for (size_t k = name.find('/'); k != std::string::npos; k = name.find('/', k + 1)) {
      std::string p = dir + "/" + name.substr(0, k);
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir " + p);
    }
    if (type == '0' || type == '\0') {
      int fd = ::open(full.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) return sys_error("create " + full);
      UniqueFd f(fd);
      TRY_STATUS(write_all(fd, body.data(), body.size(), full));
    } else if (type == '2') {
      if (target.empty()) return bad("symlink '" + name + "' without a target");
      if (::symlink(target.c_str(), full.c_str()) != 0) return sys_error("symlink " + full);
      links.insert(name);
    } else {
      return bad("member '" + name + "' of unsupported type '" + std::string(1, type) + "'");
    }
  }
  return Status{};
}

}  // namespace airlock::probes
