// Streaming zstd compression/decompression with hashing on the fly (bounded memory).
#include "bundle/zstd_codec.h"

#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader (stable since 1.3)
#include <zstd.h>

#include <memory>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"

namespace airlock::bundle {
namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

Result<size_t> read_some(int fd, void* buf, size_t len, const std::string& what) {
  for (;;) {
    ssize_t n = ::read(fd, buf, len);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return sys_error("read " + what);
  }
}

}  // namespace

bool looks_compressed(std::string_view h) {
  auto starts = [&](std::string_view magic) { return h.substr(0, magic.size()) == magic; };
  return starts("\x1f\x8b") ||                       // gzip
         starts("\x28\xb5\x2f\xfd") ||               // zstd
         starts("\xfd" "7zXZ\x00") ||                // xz
         starts("BZh") ||                            // bzip2
         starts("\x04\x22\x4d\x18") ||               // lz4
         starts("PK\x03\x04") ||                     // zip, jar, wheel
         starts("!<arch>\ndebian-binary") ||         // .deb (members are compressed)
         starts("\xed\xab\xee\xdb") ||               // rpm
         starts("\x89PNG") || starts("\xff\xd8\xff");  // images
}

Result<CompressResult> compress_file(const std::string& src, int dst_fd, const std::string& dst_name,
                                     int level, int workers) {
  TRY_ASSIGN(UniqueFd in, open_read(src));
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, workers < 1 ? 1 : workers);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  // Never emit a window the verifier (and libarchive) would refuse.
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, 0);
  TRY_ASSIGN(uint64_t total, file_size(src));
  ZSTD_CCtx_setPledgedSrcSize(cctx.get(), total);

  std::vector<char> inbuf(1 << 20), outbuf(ZSTD_CStreamOutSize() * 4);
  Sha256 content_hash, blob_hash;
  CompressResult r;
  for (;;) {
    TRY_ASSIGN(size_t n, read_some(in.get(), inbuf.data(), inbuf.size(), src));
    content_hash.update(inbuf.data(), n);
    r.content_size += n;
    const bool last = (n == 0);
    ZSTD_inBuffer input = {inbuf.data(), n, 0};
    bool finished = false;
    while (!finished) {
      ZSTD_outBuffer output = {outbuf.data(), outbuf.size(), 0};
      size_t rem = ZSTD_compressStream2(cctx.get(), &output, &input, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(rem)) {
        return make_error(Errc::kIo, "zstd compression of " + src + ": " + ZSTD_getErrorName(rem));
      }
      blob_hash.update(outbuf.data(), output.pos);
      r.blob_size += output.pos;
      TRY_STATUS(write_all(dst_fd, outbuf.data(), output.pos, dst_name));
      finished = last ? (rem == 0) : (input.pos == input.size);
    }
    if (last) break;
  }
  if (r.content_size != total) {
    return make_error(Errc::kIo, src + ": changed size while being read");
  }
  r.content_digest = content_hash.finish_digest();
  r.blob_digest = blob_hash.finish_digest();
  return r;
}

Status check_frame_header(std::string_view head, uint64_t expected_size, std::string_view what) {
  ZSTD_frameHeader fh{};
  size_t rc = ZSTD_getFrameHeader(&fh, head.data(), head.size());
  if (ZSTD_isError(rc) || rc != 0) {
    return make_error(Errc::kIntegrity, std::string(what) + ": not a zstd frame");
  }
  if (fh.windowSize > (1ull << kMaxWindowLog)) {
    return make_error(Errc::kLimit, std::string(what) + ": zstd window of " +
                                        std::to_string(fh.windowSize) + " bytes exceeds 2^27");
  }
  if (fh.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN && fh.frameContentSize != expected_size) {
    return make_error(Errc::kLimit, std::string(what) + ": zstd frame declares " +
                                        std::to_string(fh.frameContentSize) +
                                        " bytes but bundle.json says " + std::to_string(expected_size));
  }
  return {};
}

Result<std::string> decompress_fd(int src_fd, int dst_fd, uint64_t expected_size, std::string_view what) {
  const std::string w(what);
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxWindowLog);
  std::vector<char> inbuf(ZSTD_DStreamInSize() * 4), outbuf(ZSTD_DStreamOutSize() * 4);
  Sha256 hash;
  uint64_t produced = 0;
  size_t last_rc = 1;
  for (;;) {
    TRY_ASSIGN(size_t n, read_some(src_fd, inbuf.data(), inbuf.size(), w));
    if (n == 0) break;
    ZSTD_inBuffer input = {inbuf.data(), n, 0};
    while (input.pos < input.size) {
      if (last_rc == 0) return make_error(Errc::kIntegrity, w + ": trailing data after the zstd frame");
      ZSTD_outBuffer output = {outbuf.data(), outbuf.size(), 0};
      last_rc = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last_rc)) {
        return make_error(Errc::kIntegrity, w + ": zstd: " + ZSTD_getErrorName(last_rc));
      }
      produced += output.pos;
      if (produced > expected_size) {
        return make_error(Errc::kLimit, w + ": decompresses to more than the " +
                                            std::to_string(expected_size) + " bytes bundle.json declares");
      }
      hash.update(outbuf.data(), output.pos);
      if (dst_fd >= 0) TRY_STATUS(write_all(dst_fd, outbuf.data(), output.pos, w));
    }
  }
  if (last_rc != 0) return make_error(Errc::kIntegrity, w + ": truncated zstd frame");
  if (produced != expected_size) {
    return make_error(Errc::kIntegrity, w + ": decompressed to " + std::to_string(produced) +
                                            " bytes, bundle.json says " + std::to_string(expected_size));
  }
  return hash.finish_digest();
}

}  // namespace airlock::bundle
