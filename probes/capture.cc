// The capture archive: a small pax tar writer and the zstd framing around it. See capture.h.
#include "probes/capture.h"

#include <zstd.h>

#include <cstdio>
#include <cstring>

#include "common/fs.h"

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
                        CaptureSummary* summary) {
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
  std::string out = tar.finish();
  s.tar_bytes = out.size();
  if (summary) *summary = s;
  return out;
}

Result<CaptureSummary> write_capture(const RecordingRoot& rec, std::string_view facts_json,
                                     const std::string& out_path, int64_t mtime_s) {
  CaptureSummary s;
  std::string tar = capture_tar(rec, facts_json, mtime_s, &s);
  TRY_ASSIGN(std::string zst, zstd_compress(tar, 9));
  s.zst_bytes = zst.size();
  TRY_STATUS(write_file_atomic(out_path, zst, 0644));
  return s;
}

}  // namespace airlock::probes
