// End to end: `airlock images list|push|export` against a real registry (Debian's
// docker-registry, CNCF distribution 2.8, started per test by registry_harness), with skopeo as
// the independent checker: what airlock pushed or exported must be what the signed bundle holds,
// digest for digest. Also: the harness itself (suite RegistryHarness), so that a broken harness
// is not mistaken for a broken product.
//
// Needs docker-registry and skopeo (tests skip with the reason otherwise), openssl (TLS) and
// htpasswd (apache2-utils, basic auth). The big-blob tests need disk: about 1.5 GiB for the
// resume test and about 8 GiB (at peak) for ImagesE2E.Slow2GiBBlobPushAndExport under $TMPDIR
// and /var/tmp (skopeo unpacks oci-archives there).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cli_harness.h"
#include "tests/e2e/registry_harness.h"
#include "tests/e2e/tar_craft.h"

namespace airlock::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kImage = "example/busybox-httpd";  // the example bundle's image
constexpr const char* kRef = "1.35";
constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kGzipLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr auto kCommandLimit = 300s;  // any one command on the small example
constexpr auto kBigCommandLimit = 1200s;
constexpr uint64_t kBigLayer = (300ull << 20) + 12345;  // the resume tests' layer

// ---- small helpers ----------------------------------------------------------------------------

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool icontains(const std::string& s, const std::string& needle) { return contains(lower(s), lower(needle)); }

std::string show(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "\n--- stderr:\n" + r.err;
}

// Exit code `code`, and every needle somewhere in stderr; on failure shows the whole run.
::testing::AssertionResult exited(const RunResult& r, int code, const std::vector<std::string>& err_has = {}) {
  bool ok = r.exit_code == code;
  for (const auto& n : err_has) ok = ok && icontains(r.err, n);
  if (ok) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure() << "wanted exit " << code;
  for (const auto& n : err_has) f << " and stderr containing \"" << n << "\" (any case)";
  return f << "\ngot " << show(r);
}

json parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) ADD_FAILURE() << "not one JSON document:\n" << text;
  return j;
}

std::string hex_of(const std::string& digest) { return digest.substr(digest.find(':') + 1); }

std::string sha256_hex(const std::string& data) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* x = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) out += {x[md[i] >> 4], x[md[i] & 15]};
  return out;
}

std::string hex_of_md(const unsigned char* md, unsigned n) {
  static const char* x = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) out += {x[md[i] >> 4], x[md[i] & 15]};
  return out;
}

// sha256 of [offset, offset+len) of a file (len = UINT64_MAX: to the end), in 4 MiB reads.
std::string sha256_file(const std::string& path, uint64_t offset = 0, uint64_t len = UINT64_MAX) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(4 << 20);
  uint64_t done = 0;
  while (done < len) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), len - done));
    ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
    if (n <= 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  close(fd);
  unsigned char md[32];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  if (len != UINT64_MAX && done != len) return "short read of " + path;
  return hex_of_md(md, n);
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

uint64_t free_bytes(const std::string& dir) {
  struct statvfs s{};
  if (statvfs(dir.c_str(), &s) != 0) return 0;
  return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Members of a tar file, read header by header (the data is not loaded: for multi-GiB archives).
std::vector<tarcraft::RawMember> scan_tar_file(const std::string& path) {
  std::vector<tarcraft::RawMember> out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  uint64_t total = file_size(path), pos = 0, entry_start = 0;
  std::string pax_path;
  uint64_t pax_size = 0;
  bool have_pax_size = false, in_entry = false;
  char h[512];
  while (pos + 512 <= total && pread(fd, h, 512, static_cast<off_t>(pos)) == 512) {
    bool zero = true;
    for (int i = 0; i < 512 && zero; ++i) zero = h[i] == 0;
    if (zero) break;
    if (!in_entry) entry_start = pos;
    in_entry = true;
    std::string name(h, strnlen(h, 100));
    std::string prefix(h + 345, strnlen(h + 345, 155));
    if (!prefix.empty() && std::memcmp(h + 257, "ustar", 5) == 0) name = prefix + "/" + name;
    uint64_t size = tarcraft::parse_octal(h + 124, 12);
    char type = h[156];
    if (type == 'x' || type == 'g' || type == 'L') {
      std::string rec(size, '\0');
      if (pread(fd, rec.data(), size, static_cast<off_t>(pos + 512)) != static_cast<ssize_t>(size)) break;
      if (type == 'L') {
        pax_path = rec.substr(0, strnlen(rec.data(), rec.size()));
      } else if (type == 'x') {
        size_t p = 0;
        while (p < rec.size()) {
          size_t sp = rec.find(' ', p);
          if (sp == std::string::npos) break;
          uint64_t len = std::stoull(rec.substr(p, sp - p));
          if (len == 0) break;
          std::string kv = rec.substr(sp + 1, len - (sp - p) - 2);
          size_t eq = kv.find('=');
          if (kv.substr(0, eq) == "size") {
            pax_size = std::stoull(kv.substr(eq + 1));
            have_pax_size = true;
          } else if (kv.substr(0, eq) == "path") {
            pax_path = kv.substr(eq + 1);
          }
          p += len;
        }
      }
      pos += 512 + tarcraft::pad512(size);
      continue;
    }
    tarcraft::RawMember m;
    m.name = pax_path.empty() ? name : pax_path;
    while (m.name.rfind("./", 0) == 0) m.name = m.name.substr(2);
    m.type = type;
    m.size = have_pax_size ? pax_size : size;
    m.header_offset = entry_start;
    m.data_offset = pos + 512;
    out.push_back(m);
    pos += 512 + tarcraft::pad512(m.size);
    pax_path.clear();
    have_pax_size = false;
    in_entry = false;
  }
  close(fd);
  return out;
}

const tarcraft::RawMember* member(const std::vector<tarcraft::RawMember>& ms, const std::string& name) {
  for (const auto& m : ms) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string member_names(const std::vector<tarcraft::RawMember>& ms) {
  std::string s;
  for (const auto& m : ms) s += "  " + m.name + " (" + std::to_string(m.size) + ")\n";
  return s;
}

std::string read_member(const std::string& path, const tarcraft::RawMember& m) {
  std::string data(m.size, '\0');
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  ssize_t n = pread(fd, data.data(), data.size(), static_cast<off_t>(m.data_offset));
  close(fd);
  if (n != static_cast<ssize_t>(data.size())) return "";
  return data;
}

// ---- what the bundle holds --------------------------------------------------------------------

// One image of a bundle, read from an extracted copy (airlock bundle extract) so that the
// expectations come from the bundle's bytes, not from the code under test.
struct BundleImage {
  std::string digest;       // manifest digest
  std::string media_type;
  std::string manifest;     // raw bytes
  std::string config_digest;
  std::vector<std::string> layers;     // digests, in order
  std::vector<uint64_t> layer_sizes;
  std::vector<std::string> diff_ids;   // from the config
  uint64_t closure_bytes = 0;          // manifest + config + layers
  size_t blobs() const { return 1 + layers.size(); }  // what a push uploads: config + layers
};

BundleImage image_in_bundle(const std::string& bundle, const std::string& pub, const std::string& name) {
  BundleImage img;
  TempDir x;
  std::string dir = x / "x";
  auto r = airlock_bounded({"bundle", "extract", bundle, "-C", dir, "--pub", pub, "-q"}, kCommandLimit);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "bundle extract: " << show(r);
    return img;
  }
  json index = parse_json(read_all(dir + "/index.json"));
  for (const auto& m : index.value("manifests", json::array())) {
    if (m.value("annotations", json::object()).value("io.airlock.component", "") == name) {
      img.digest = m.value("digest", "");
      img.media_type = m.value("mediaType", "");
    }
  }
  if (img.digest.empty()) {
    ADD_FAILURE() << "no image " << name << " in the bundle's index.json: " << index.dump();
    return img;
  }
  img.manifest = read_all(dir + "/blobs/sha256/" + hex_of(img.digest));
  json man = parse_json(img.manifest);
  img.config_digest = man["config"].value("digest", "");
  img.closure_bytes = img.manifest.size() + man["config"].value("size", uint64_t{0});
  for (const auto& l : man.value("layers", json::array())) {
    img.layers.push_back(l.value("digest", ""));
    img.layer_sizes.push_back(l.value("size", uint64_t{0}));
    img.closure_bytes += l.value("size", uint64_t{0});
  }
  json cfg = parse_json(read_all(dir + "/blobs/sha256/" + hex_of(img.config_digest)));
  for (const auto& d : cfg["rootfs"].value("diff_ids", json::array())) img.diff_ids.push_back(d.get<std::string>());
  return img;
}

// ---- skopeo -----------------------------------------------------------------------------------

RunResult skopeo(std::vector<std::string> args, std::chrono::seconds limit = kCommandLimit) {
  args.insert(args.begin(), "skopeo");
  return run_bounded(args, limit);
}

RunResult skopeo_inspect(const Registry& reg, const std::string& image, bool raw = false) {
  std::vector<std::string> a = {"inspect"};
  auto f = reg.skopeo_flags();
  a.insert(a.end(), f.begin(), f.end());
  if (raw) a.push_back("--raw");
  a.push_back("docker://" + reg.host() + "/" + image);
  return skopeo(a);
}

// skopeo copy docker://HOST/image oci:dir:tag
RunResult skopeo_copy_to_oci(const Registry& reg, const std::string& image, const std::string& dir,
                             const std::string& tag) {
  std::vector<std::string> a = {"--insecure-policy", "copy", "-q"};
  auto f = reg.skopeo_flags("src-");
  a.insert(a.end(), f.begin(), f.end());
  a.push_back("docker://" + reg.host() + "/" + image);
  a.push_back("oci:" + dir + ":" + tag);
  return skopeo(a, kBigCommandLimit);
}

// An image in a local OCI layout (what skopeo copied): manifest digest, config, layer digests.
struct LayoutImage {
  std::string digest, config_digest;
  std::vector<std::string> layers;
};

LayoutImage image_in_layout(const std::string& dir, const std::string& tag) {
  LayoutImage img;
  json index = parse_json(read_all(dir + "/index.json"));
  for (const auto& m : index.value("manifests", json::array())) {
    if (m.value("annotations", json::object()).value("org.opencontainers.image.ref.name", "") == tag) {
      img.digest = m.value("digest", "");
    }
  }
  if (img.digest.empty()) {
    ADD_FAILURE() << "no tag " << tag << " in " << dir << "/index.json: " << index.dump();
    return img;
  }
  json man = parse_json(read_all(dir + "/blobs/sha256/" + hex_of(img.digest)));
  img.config_digest = man["config"].value("digest", "");
  for (const auto& l : man.value("layers", json::array())) img.layers.push_back(l.value("digest", ""));
  return img;
}

// sha256 of a gzip blob's decompressed bytes (what the config's diff_ids name).
std::string gunzip_sha256(const std::string& blob) {
  auto r = run({"sh", "-c", "gzip -dc \"$1\" | sha256sum", "sh", blob});
  return r.exit_code == 0 ? "sha256:" + r.out.substr(0, 64) : "gunzip failed: " + r.err;
}

// ---- airlock images ---------------------------------------------------------------------------

RunResult images(const std::vector<std::string>& args, std::chrono::seconds limit = kCommandLimit) {
  std::vector<std::string> a = {"images"};
  a.insert(a.end(), args.begin(), args.end());
  return airlock_bounded(a, limit);
}

std::vector<std::string> push_args(const std::string& bundle, const std::string& pub, const std::vector<std::string>& to,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"push", bundle, "--pub", pub};
  a.insert(a.end(), to.begin(), to.end());
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

RunResult push(const std::string& bundle, const std::string& pub, const Registry& reg,
               const std::vector<std::string>& extra = {}, std::chrono::seconds limit = kCommandLimit) {
  return images(push_args(bundle, pub, reg.push_flags(), extra), limit);
}

// "pushed N image(s): U blob(s) uploaded (X), S skipped" in stdout or stderr.
struct Summary {
  bool found = false;
  int images = -1, uploaded = -1, skipped = -1;
  std::string bytes;
};

Summary summary_of(const RunResult& r) {
  static const std::regex re(R"(pushed (\d+) image\(s\): (\d+) blob\(s\) uploaded \(([^)]*)\), (\d+) skipped)");
  Summary s;
  std::smatch m;
  std::string all = r.out + "\n" + r.err;
  // The last match: the summary ends the output.
  for (auto it = std::sregex_iterator(all.begin(), all.end(), re); it != std::sregex_iterator(); ++it) m = *it;
  if (m.empty()) return s;
  s.found = true;
  s.images = std::stoi(m[1]);
  s.uploaded = std::stoi(m[2]);
  s.bytes = m[3];
  s.skipped = std::stoi(m[4]);
  return s;
}

// Tags of a repository as the registry reports them (empty when it does not know the name).
std::vector<std::string> tags_of(const Registry& reg, const std::string& repo, int* status = nullptr) {
  HttpResponse r = reg.request("GET", "/v2/" + repo + "/tags/list");
  if (status) *status = r.status;
  std::vector<std::string> tags;
  if (r.status != 200) return tags;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j["tags"].is_array()) {
    for (const auto& t : j["tags"]) tags.push_back(t.get<std::string>());
  }
  return tags;
}

// Files named `data` under the registry's _uploads directories (upload sessions in progress).
uint64_t largest_upload(const std::string& storage, std::string* which = nullptr) {
  uint64_t best = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(storage, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    if (p.filename() != "data" || p.parent_path().parent_path().filename() != "_uploads") continue;
    uint64_t n = file_size(p.string());
    if (n > best) {
      best = n;
      if (which) *which = p.string();
    }
  }
  return best;
}

std::string registry_blob(const Registry& reg, const std::string& digest) {
  std::string hex = hex_of(digest);
  return reg.storage_dir() + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

// ---- generated images with one big layer ------------------------------------------------------

struct Generated {
  std::string yaml, layout;  // bundle.yaml and the OCI layout it points at
  std::string name, ref;
  std::string layer_digest, config_digest, manifest_digest, manifest;
  uint64_t layer_size = 0, config_size = 0;
};

// Deterministic incompressible bytes (xorshift64*), 8 at a time.
struct Noise {
  uint64_t s;
  explicit Noise(uint64_t seed) : s(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  void fill(char* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      s ^= s >> 12;
      s ^= s << 25;
      s ^= s >> 27;
      uint64_t v = s * 0x2545f4914f6cdd1dull;
      std::memcpy(p + i, &v, 8);
    }
    for (; i < n; ++i) p[i] = static_cast<char>(i * 131);
  }
};

const unsigned char kGzipHeader[10] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03};

// A layer of `size` bytes: a gzip member header, then noise (not a valid deflate stream: the
// registry and a push do not care, and skopeo copies gzip-typed blobs as they are).
std::string write_noise_layer(const std::string& path, uint64_t size, uint64_t seed) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  Noise noise(seed);
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  bool ok = true;
  while (done < size && ok) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    noise.fill(buf.data(), n);
    if (done == 0) std::memcpy(buf.data(), kGzipHeader, std::min<size_t>(n, sizeof kGzipHeader));
    EVP_DigestUpdate(ctx, buf.data(), n);
    ok = write(fd, buf.data(), n) == static_cast<ssize_t>(n);
    done += n;
  }
  ok = close(fd) == 0 && ok;
  unsigned char md[32];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  return ok ? hex_of_md(md, n) : "";
}

// CRC-32 (gzip's) of n zero bytes, with zlib's crc32_combine method: square the operator that
// feeds one zero bit into the register, and apply it for each set bit of the byte count.
uint32_t gf2_times(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  for (int i = 0; vec; vec >>= 1, ++i) {
    if (vec & 1) sum ^= mat[i];
  }
  return sum;
}

void gf2_square(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}

uint32_t crc32_of_zeros(uint64_t len) {
  uint32_t odd[32], even[32];
  odd[0] = 0xedb88320u;
  for (int n = 1; n < 32; ++n) odd[n] = 1u << (n - 1);
  gf2_square(even, odd);  // 2 zero bits
  gf2_square(odd, even);  // 4 zero bits
  uint32_t reg = 0xffffffffu;
  while (len) {
    gf2_square(even, odd);  // 8, 32, 128, ... zero bits (1, 4, 16, ... bytes)
    if (len & 1) reg = gf2_times(even, reg);
    len >>= 1;
    if (!len) break;
    gf2_square(odd, even);
    if (len & 1) reg = gf2_times(odd, reg);
    len >>= 1;
  }
  return reg ^ 0xffffffffu;
}

// A *valid* gzip file of exactly `total` bytes whose content is zeros (so an empty tar: a
// layer that any tool can decompress), made of stored deflate blocks and written sparse: only
// the 5-byte block headers and the trailer are written, every 64 KiB. Returns the diff_id (the
// sha256 of the decompressed zeros) in *diff_id; the file's own digest is hashed afterwards.
bool write_sparse_gzip_zeros(const std::string& path, uint64_t total, std::string* diff_id) {
  const uint64_t overhead = sizeof kGzipHeader + 8;
  if (total < overhead + 5) return false;
  uint64_t k = (total - overhead + 65539) / 65540;  // blocks: 5 + up to 65535 bytes each
  uint64_t u = total - overhead - 5 * k;            // decompressed size
  if (u > 65535 * k) return false;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ftruncate(fd, static_cast<off_t>(total)) == 0;
  ok = ok && pwrite(fd, kGzipHeader, sizeof kGzipHeader, 0) == sizeof kGzipHeader;
  uint64_t off = sizeof kGzipHeader, base = u / k, extra = u % k;
  for (uint64_t i = 0; i < k && ok; ++i) {
    uint16_t len = static_cast<uint16_t>(base + (i < extra ? 1 : 0));
    unsigned char h[5] = {static_cast<unsigned char>(i + 1 == k ? 1 : 0), static_cast<unsigned char>(len & 0xff),
                          static_cast<unsigned char>(len >> 8), static_cast<unsigned char>(~len & 0xff),
                          static_cast<unsigned char>((~len >> 8) & 0xff)};
    ok = pwrite(fd, h, 5, static_cast<off_t>(off)) == 5;
    off += 5 + len;
  }
  uint32_t crc = crc32_of_zeros(u), isize = static_cast<uint32_t>(u);
  unsigned char t[8];
  for (int i = 0; i < 4; ++i) {
    t[i] = static_cast<unsigned char>(crc >> (8 * i));
    t[4 + i] = static_cast<unsigned char>(isize >> (8 * i));
  }
  ok = ok && off + 8 == total && pwrite(fd, t, 8, static_cast<off_t>(off)) == 8;
  ok = close(fd) == 0 && ok;
  // diff_id: sha256 of u zero bytes.
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> zeros(4 << 20, 0);
  for (uint64_t done = 0; done < u;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), u - done));
    EVP_DigestUpdate(ctx, zeros.data(), n);
    done += n;
  }
  unsigned char md[32];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  *diff_id = "sha256:" + hex_of_md(md, n);
  return ok;
}

// An OCI layout (dir/oci) with one image of one layer (made by write_layer at the given path,
// returning its diff_id), and dir/bundle.yaml with it as the only component.
template <typename WriteLayer>
Generated generate_image(const std::string& dir, const std::string& name, const std::string& ref,
                         WriteLayer write_layer) {
  Generated g;
  g.name = name;
  g.ref = ref;
  g.layout = dir + "/oci";
  g.yaml = dir + "/bundle.yaml";
  fs::create_directories(g.layout + "/blobs/sha256");
  write_all(g.layout + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}\n");
  std::string tmp = g.layout + "/blobs/sha256/.layer";
  std::string diff_id = write_layer(tmp);
  if (diff_id.empty()) {
    ADD_FAILURE() << "could not write the layer " << tmp;
    return g;
  }
  g.layer_size = file_size(tmp);
  std::string hex = sha256_file(tmp);
  g.layer_digest = "sha256:" + hex;
  fs::rename(tmp, g.layout + "/blobs/sha256/" + hex);
  auto put = [&](const std::string& bytes) {
    std::string h = sha256_hex(bytes);
    write_all(g.layout + "/blobs/sha256/" + h, bytes);
    return "sha256:" + h;
  };
  std::string config = R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/true"]},)"
                       R"("rootfs":{"type":"layers","diff_ids":[")" + diff_id + R"("]}})";
  g.config_digest = put(config);
  g.config_size = config.size();
  g.manifest = std::string(R"({"schemaVersion":2,"mediaType":")") + kOciManifest +
               R"(","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + g.config_digest +
               R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[{"mediaType":")" + kGzipLayer +
               R"(","digest":")" + g.layer_digest + R"(","size":)" + std::to_string(g.layer_size) + "}]}";
  g.manifest_digest = put(g.manifest);
  write_all(g.layout + "/index.json",
            std::string(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)") +
                R"({"mediaType":")" + kOciManifest + R"(","digest":")" + g.manifest_digest + R"(","size":)" +
                std::to_string(g.manifest.size()) +
                R"(,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":")" +
                ref + "\"}}]}\n");
  write_all(g.yaml, "bundle:\n  name: e2e-big\n  version: 1\n  expires_in_days: 3650\n"
                    "components:\n  - type: oci-image\n    name: " + name + "\n    ref: \"" + ref +
                    "\"\n    layout: oci\n");
  return g;
}

RunResult create_bundle(const std::string& yaml, const std::string& out, const std::string& key) {
  return airlock_bounded({"bundle", "create", "-q", "-f", yaml, "-o", out, "--key", key + ".key"}, kBigCommandLimit);
}

// ---- a fake registry that answers badly -------------------------------------------------------

// Accepts connections on 127.0.0.1 and answers every request with `response`, then closes.
class FakeServer {
 public:
  explicit FakeServer(std::string response) : response_(std::move(response)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return port_ != 0; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      // Read the request head (bounded), answer, close.
      std::string req;
      char buf[4096];
      auto deadline = std::chrono::steady_clock::now() + 2s;
      while (!contains(req, "\r\n\r\n") && req.size() < 65536 && std::chrono::steady_clock::now() < deadline) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 50) <= 0) continue;
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      ++requests_;
      ssize_t ignored = send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      (void)ignored;
      shutdown(c, SHUT_RDWR);
      close(c);
    }
  }

  std::string response_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// ---- fixtures ---------------------------------------------------------------------------------

#define REQUIRE_REGISTRY(reg)                                                  \
  do {                                                                         \
    if (!(reg).ok()) GTEST_SKIP() << "the registry did not come up: " << (reg).error(); \
  } while (0)

class ImagesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (registry_binary().empty()) GTEST_SKIP() << "docker-registry is not installed (Debian package docker-registry)";
    if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed: nothing could check what airlock pushed";
    key_ = make_key(tmp_.path(), "ops");
    pub_ = key_ + ".pub";
    bundle_ = tmp_ / "example.airlock";
    create_example(bundle_, {key_});
  }
  std::string path(const std::string& rel) const { return tmp_ / rel; }
  // What the bundle holds for the example image (computed once per test).
  const BundleImage& example() {
    if (example_.digest.empty()) example_ = image_in_bundle(bundle_, pub_, kImage);
    return example_;
  }
  std::string image_ref() const { return std::string(kImage) + ":" + kRef; }

  // The bundle with one ~300 MiB layer (big_, described by g_); false when the disk is too full.
  bool make_big() {
    if (free_bytes(tmp_.path()) < (2ull << 30)) return false;
    g_ = generate_image(path("big"), "e2e/big", "1", [&](const std::string& p) {
      return write_noise_layer(p, kBigLayer, 42).empty() ? "" : "sha256:" + sha256_hex("diff-big");
    });
    EXPECT_EQ(g_.layer_size, kBigLayer);
    big_ = path("big.airlock");
    EXPECT_TRUE(exited(create_bundle(g_.yaml, big_, key_), 0));
    fs::remove_all(g_.layout);
    return true;
  }

  std::unique_ptr<Spawned> spawn_push(const Registry& reg, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"images"};
    for (const auto& a : push_args(big_, pub_, reg.push_flags(), extra)) args.push_back(a);
    return airlock_spawn(args, tmp_.path());
  }

  // Waits until an upload session has stored at least `bytes`; returns its data file ("" when
  // airlock ended first or nothing came within 300 s).
  static std::string wait_for_upload(const Registry& reg, Spawned& proc, uint64_t bytes) {
    std::string upload;
    auto deadline = std::chrono::steady_clock::now() + 300s;
    while (std::chrono::steady_clock::now() < deadline && proc.running()) {
      if (largest_upload(reg.storage_dir(), &upload) >= bytes) return upload;
      std::this_thread::sleep_for(1ms);
    }
    return "";
  }

  // Waits for airlock, then checks the image arrived whole; returns airlock's stdout + stderr.
  std::string finish(Registry& reg, Spawned& proc) {
    int code = proc.wait(std::chrono::milliseconds(kBigCommandLimit));
    std::string out = proc.out(), err = proc.err();
    EXPECT_EQ(code, 0) << "airlock " << (code < 0 ? "still running" : "failed") << "\n--- stdout:\n" << out
                       << "\n--- stderr:\n" << err << "\nregistry log:\n" << reg.log();
    auto inspected = skopeo_inspect(reg, g_.name + ":" + g_.ref);
    EXPECT_EQ(inspected.exit_code, 0) << show(inspected);
    EXPECT_EQ(parse_json(inspected.out).value("Digest", ""), g_.manifest_digest);
    std::string blob = registry_blob(reg, g_.layer_digest);
    EXPECT_EQ(file_size(blob), g_.layer_size);
    EXPECT_EQ("sha256:" + sha256_file(blob), g_.layer_digest);
    std::string pulled = path("pulled");
    auto copied = skopeo_copy_to_oci(reg, g_.name + ":" + g_.ref, pulled, "x");
    EXPECT_EQ(copied.exit_code, 0) << show(copied);
    if (copied.exit_code == 0) {
      EXPECT_EQ(image_in_layout(pulled, "x").layers, std::vector<std::string>{g_.layer_digest});
    }
    return "--- stdout:\n" + out + "\n--- stderr:\n" + err;
  }

  // The upload session (UUID) whose final PUT (with ?digest=) completed the layer, from the
  // registry's access log.
  std::string completing_session(const Registry& reg) const {
    std::string log = reg.log(), needle = "digest=sha256%3A" + hex_of(g_.layer_digest);
    std::string marker = "/v2/" + g_.name + "/blobs/uploads/";
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
      size_t bol = log.rfind('\n', at);
      bol = bol == std::string::npos ? 0 : bol + 1;
      size_t eol = log.find('\n', at);
      std::string line = log.substr(bol, eol == std::string::npos ? std::string::npos : eol - bol);
      size_t m = line.find(marker);
      if (m == std::string::npos || !contains(line, "\"PUT ") || !contains(line, "\" 201 ")) continue;
      size_t start = m + marker.size();
      return line.substr(start, line.find_first_of("?/ ", start) - start);
    }
    return "";
  }

  TempDir tmp_;
  std::string key_, pub_, bundle_;
  BundleImage example_;
  Generated g_;  // make_big()
  std::string big_;
};

// ---- 1. list ----------------------------------------------------------------------------------

TEST_F(ImagesE2E, ListShowsTheExampleImageWithItsDigest) {
  auto inspect = airlock_bounded({"bundle", "inspect", bundle_, "--pub", pub_, "--json"}, kCommandLimit);
  ASSERT_EQ(inspect.exit_code, 0) << show(inspect);
  json want;
  for (const auto& c : parse_json(inspect.out).value("components", json::array())) {
    if (c.value("name", "") == kImage) want = c;
  }
  ASSERT_TRUE(want.is_object()) << inspect.out;
  std::string digest = want.value("digest", "");
  ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << inspect.out;
  EXPECT_EQ(digest, example().digest) << "bundle inspect --json and the bundle's index.json disagree";

  auto text = images({"list", bundle_, "--pub", pub_});
  ASSERT_TRUE(exited(text, 0));
  int image_lines = 0;
  for (size_t start = 0; start < text.out.size();) {
    size_t nl = text.out.find('\n', start);
    std::string line = text.out.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.out.size() : nl + 1;
    if (!contains(line, kImage)) continue;
    ++image_lines;
    EXPECT_TRUE(contains(line, kRef)) << "no ref in: " << line;
    EXPECT_TRUE(contains(line, digest)) << "no manifest digest " << digest << " in: " << line;
  }
  EXPECT_EQ(image_lines, 1) << "wanted one line for " << kImage << ":\n" << text.out;

  auto js = images({"list", bundle_, "--pub", pub_, "--json"});
  ASSERT_TRUE(exited(js, 0));
  json j = parse_json(js.out);
  ASSERT_TRUE(j.is_object() && j["images"].is_array()) << js.out;
  ASSERT_EQ(j["images"].size(), 1u) << js.out;
  const json& im = j["images"][0];
  EXPECT_EQ(im.value("name", ""), kImage);
  EXPECT_EQ(im.value("ref", ""), kRef);
  EXPECT_EQ(im.value("digest", ""), digest);
  EXPECT_EQ(im.value("media_type", ""), kOciManifest);
  // Platforms are those bundle inspect records (from the layout's index descriptors; umoci's
  // example index has none).
  json want_platforms = json::array();
  for (const auto& p : want.value("platforms", json::array())) {
    want_platforms.push_back(p.value("os", "") + "/" + p.value("architecture", ""));
  }
  EXPECT_EQ(im["platforms"], want_platforms) << js.out;
  EXPECT_EQ(im.value("blobs", -1), want.value("blobs", -2)) << "blob count differs from bundle inspect's";
  EXPECT_EQ(im.value("bytes", uint64_t{0}), example().closure_bytes) << "bytes: manifest + config + layers";

  // A key that did not sign the bundle: rejected like verify rejects it.
  std::string other = make_key(tmp_.path(), "other");
  EXPECT_TRUE(exited(images({"list", bundle_, "--pub", other + ".pub"}), 1));

  // An image whose index descriptor names its platform lists it.
  Generated g = generate_image(path("small"), "e2e/small", "v1", [&](const std::string& p) {
    return write_noise_layer(p, 1 << 20, 7).empty() ? "" : "sha256:" + sha256_hex("diff-small");
  });
  std::string small = path("small.airlock");
  ASSERT_TRUE(exited(create_bundle(g.yaml, small, key_), 0));
  auto sj = images({"list", small, "--pub", pub_, "--json"});
  ASSERT_TRUE(exited(sj, 0));
  json sl = parse_json(sj.out);
  ASSERT_TRUE(sl["images"].is_array() && sl["images"].size() == 1) << sj.out;
  EXPECT_EQ(sl["images"][0]["platforms"], json::array({"linux/amd64"})) << sj.out;
  EXPECT_EQ(sl["images"][0].value("digest", ""), g.manifest_digest);
  EXPECT_EQ(sl["images"][0].value("bytes", uint64_t{0}), g.manifest.size() + g.config_size + g.layer_size);
  auto st = images({"list", small, "--pub", pub_});
  ASSERT_TRUE(exited(st, 0));
  EXPECT_TRUE(contains(st.out, "linux/amd64") && contains(st.out, g.manifest_digest)) << st.out;
}

// ---- 2. push over plain http --------------------------------------------------------------------

TEST_F(ImagesE2E, PushToPlainHttpRegistryThenRepushSkipsEveryBlob) {
  Registry reg;
  REQUIRE_REGISTRY(reg);
  const BundleImage& want = example();
  ASSERT_FALSE(want.layers.empty());

  auto first = push(bundle_, pub_, reg);
  ASSERT_TRUE(exited(first, 0)) << "registry log:\n" << reg.log();
  Summary s1 = summary_of(first);
  ASSERT_TRUE(s1.found) << "no summary line \"pushed N image(s): U blob(s) uploaded (X), S skipped\":\n" << show(first);
  EXPECT_EQ(s1.images, 1);
  EXPECT_EQ(s1.uploaded, static_cast<int>(want.blobs())) << show(first);
  EXPECT_EQ(s1.skipped, 0) << show(first);

  // skopeo sees the bundle's manifest, byte for byte (same digest), and can pull every blob.
  auto inspected = skopeo_inspect(reg, image_ref());
  ASSERT_EQ(inspected.exit_code, 0) << show(inspected) << "\nregistry log:\n" << reg.log();
  EXPECT_EQ(parse_json(inspected.out).value("Digest", ""), want.digest);
  auto raw = skopeo_inspect(reg, image_ref(), /*raw=*/true);
  ASSERT_EQ(raw.exit_code, 0) << show(raw);
  EXPECT_EQ(raw.out, want.manifest);
  std::string oci = path("pulled");
  auto copied = skopeo_copy_to_oci(reg, image_ref(), oci, "x");
  ASSERT_EQ(copied.exit_code, 0) << show(copied);
  LayoutImage got = image_in_layout(oci, "x");
  EXPECT_EQ(got.layers, want.layers);
  EXPECT_EQ(got.config_digest, want.config_digest);
  EXPECT_EQ(got.digest, want.digest);

  // Again: every blob is there (HEAD), nothing is uploaded.
  auto again = push(bundle_, pub_, reg);
  ASSERT_TRUE(exited(again, 0));
  Summary s2 = summary_of(again);
  ASSERT_TRUE(s2.found) << show(again);
  EXPECT_EQ(s2.images, 1);
  EXPECT_EQ(s2.uploaded, 0) << show(again);
  EXPECT_EQ(s2.skipped, static_cast<int>(want.blobs())) << show(again);

  auto js = push(bundle_, pub_, reg, {"--json"});
  ASSERT_TRUE(exited(js, 0));
  json j = parse_json(js.out);
  EXPECT_EQ(j.value("ok", false), true) << js.out;
  ASSERT_TRUE(j["images"].is_array() && j["images"].size() == 1) << js.out;
  EXPECT_EQ(j["images"][0].value("repository", ""), kImage);
  EXPECT_EQ(j["images"][0].value("tag", ""), kRef);
  EXPECT_EQ(j["images"][0].value("digest", ""), want.digest);
  EXPECT_EQ(j.value("uploaded_blobs", -1), 0) << js.out;
  EXPECT_EQ(j.value("skipped_blobs", -1), static_cast<int>(want.blobs())) << js.out;
  EXPECT_EQ(j.value("uploaded_bytes", -1), 0) << js.out;

  // --prefix: the same image under site/.
  auto prefixed = push(bundle_, pub_, reg, {"--prefix", "site", "--json"});
  ASSERT_TRUE(exited(prefixed, 0));
  json p = parse_json(prefixed.out);
  ASSERT_TRUE(p["images"].is_array() && p["images"].size() == 1) << prefixed.out;
  EXPECT_EQ(p["images"][0].value("repository", ""), std::string("site/") + kImage);
  EXPECT_EQ(p["images"][0].value("digest", ""), want.digest);
  auto at_site = skopeo_inspect(reg, std::string("site/") + image_ref());
  ASSERT_EQ(at_site.exit_code, 0) << show(at_site);
  EXPECT_EQ(parse_json(at_site.out).value("Digest", ""), want.digest);
  EXPECT_EQ(tags_of(reg, std::string("site/") + kImage), std::vector<std::string>{kRef});
}

// Repository names: a leading registry host is dropped; --only pushes one image.
TEST_F(ImagesE2E, PushDropsRegistryHostFromNamesAndOnlySelectsOneImage) {
  Registry reg;
  REQUIRE_REGISTRY(reg);
  std::string layout = example_dir() + "/build/oci";
  std::string yaml = path("two.yaml");
  write_all(yaml, "bundle:\n  name: e2e-two\n  version: 1\n  expires_in_days: 3650\ncomponents:\n"
                  "  - type: oci-image\n    name: registry.example.com:5000/backend.ai/manager\n    ref: \"24.09\"\n"
                  "    layout: " + layout + "\n    tag: \"1.35\"\n"
                  "  - type: oci-image\n    name: localhost/tools/busybox\n    ref: \"1.35\"\n"
                  "    layout: " + layout + "\n    tag: \"1.35\"\n");
  std::string two = path("two.airlock");
  auto c = create_bundle(yaml, two, key_);
  ASSERT_TRUE(exited(c, 0));

  auto only = push(two, pub_, reg, {"--only", "localhost/tools/busybox:1.35", "--json"});
  ASSERT_TRUE(exited(only, 0)) << reg.log();
  json j = parse_json(only.out);
  ASSERT_TRUE(j["images"].is_array() && j["images"].size() == 1) << only.out;
  EXPECT_EQ(j["images"][0].value("repository", ""), "tools/busybox");
  EXPECT_EQ(j["images"][0].value("tag", ""), "1.35");
  EXPECT_EQ(tags_of(reg, "tools/busybox"), std::vector<std::string>{"1.35"});
  int status = 0;
  EXPECT_TRUE(tags_of(reg, "backend.ai/manager", &status).empty()) << "--only pushed another image too";

  auto all = push(two, pub_, reg, {"--json"});
  ASSERT_TRUE(exited(all, 0));
  json a = parse_json(all.out);
  std::set<std::string> repos;
  for (const auto& im : a.value("images", json::array())) repos.insert(im.value("repository", "") + ":" + im.value("tag", ""));
  EXPECT_EQ(repos, (std::set<std::string>{"backend.ai/manager:24.09", "tools/busybox:1.35"})) << all.out;
  auto mgr = skopeo_inspect(reg, "backend.ai/manager:24.09");
  ASSERT_EQ(mgr.exit_code, 0) << show(mgr);
  EXPECT_EQ(parse_json(mgr.out).value("Digest", ""), example().digest);

  // An --only that names no image: a usage error that lists the images.
  auto none = push(two, pub_, reg, {"--only", "nope/nothing"});
  EXPECT_TRUE(exited(none, 2, {"localhost/tools/busybox"}));
}

// ---- 3. TLS and basic auth --------------------------------------------------------------------

TEST_F(ImagesE2E, PushOverTlsWithCaAndCertificateErrorWithout) {
  Registry reg({.tls = true});
  REQUIRE_REGISTRY(reg);
  auto ok = push(bundle_, pub_, reg);
  ASSERT_TRUE(exited(ok, 0)) << "registry log:\n" << reg.log();
  auto inspected = skopeo_inspect(reg, image_ref());
  ASSERT_EQ(inspected.exit_code, 0) << show(inspected);
  EXPECT_EQ(parse_json(inspected.out).value("Digest", ""), example().digest);

  // Without --ca the self-signed chain is not trusted: an environment error naming the certificate.
  auto t0 = std::chrono::steady_clock::now();
  auto no_ca = images(push_args(bundle_, pub_, {"--registry", reg.host()}, {"--prefix", "noca"}));
  EXPECT_TRUE(exited(no_ca, 3, {"certificate"}));
  EXPECT_LT(seconds_since(t0), 60.0) << "a certificate error is not worth retrying for long";
  EXPECT_TRUE(tags_of(reg, std::string("noca/") + kImage).empty());

  // --insecure is plain http: a TLS registry does not speak it.
  auto plain = images(push_args(bundle_, pub_, {"--registry", reg.host(), "--insecure"}, {"--prefix", "plain"}));
  EXPECT_TRUE(exited(plain, 3, {reg.host()}));
  EXPECT_TRUE(tags_of(reg, std::string("plain/") + kImage).empty());
}

TEST_F(ImagesE2E, PushWithBasicAuthAndBadCredentialsExit2) {
  Registry reg({.tls = true, .basic_auth = true});
  REQUIRE_REGISTRY(reg);
  auto ok = push(bundle_, pub_, reg);
  ASSERT_TRUE(exited(ok, 0)) << "registry log:\n" << reg.log();
  auto inspected = skopeo_inspect(reg, image_ref());
  ASSERT_EQ(inspected.exit_code, 0) << show(inspected);
  EXPECT_EQ(parse_json(inspected.out).value("Digest", ""), example().digest);

  std::string wrong = path("wrong-password");
  write_all(wrong, "not-the-password\n");
  auto t0 = std::chrono::steady_clock::now();
  auto bad = images(push_args(bundle_, pub_,
                              {"--registry", reg.host(), "--ca", reg.ca_file(), "--user", reg.options().user,
                               "--password-file", wrong},
                              {"--prefix", "bad"}));
  EXPECT_TRUE(exited(bad, 2, {"authentication"}));
  EXPECT_LT(seconds_since(t0), 60.0);

  auto anonymous = images(push_args(bundle_, pub_, {"--registry", reg.host(), "--ca", reg.ca_file()}, {"--prefix", "anon"}));
  EXPECT_TRUE(exited(anonymous, 2, {"authentication"}));
  EXPECT_TRUE(tags_of(reg, std::string("bad/") + kImage).empty());
  EXPECT_TRUE(tags_of(reg, std::string("anon/") + kImage).empty());
}

// ---- 4. export --------------------------------------------------------------------------------

TEST_F(ImagesE2E, ExportDockerArchiveAndOciArchive) {
  const BundleImage& want = example();
  ASSERT_FALSE(want.layers.empty());
  std::string f = path("image.tar");
  auto ex = images({"export", bundle_, image_ref(), "--pub", pub_, "--format", "docker-archive", "-o", f});
  ASSERT_TRUE(exited(ex, 0));

  // The archive itself: manifest.json names the bundle's config and layers, stored by digest.
  auto members = scan_tar_file(f);
  const auto* mj = member(members, "manifest.json");
  ASSERT_NE(mj, nullptr) << "no manifest.json in the docker-archive:\n" << member_names(members);
  json manifest = parse_json(read_member(f, *mj));
  ASSERT_TRUE(manifest.is_array() && manifest.size() == 1) << manifest.dump();
  const json& m0 = manifest[0];
  EXPECT_EQ(m0.value("Config", ""), "blobs/sha256/" + hex_of(want.config_digest));
  EXPECT_EQ(m0.value("RepoTags", json::array()), json::array({image_ref()}));
  ASSERT_TRUE(m0["Layers"].is_array() && m0["Layers"].size() == want.layers.size()) << manifest.dump();
  for (const auto& l : m0["Layers"]) {
    const auto* lm = member(members, l.get<std::string>());
    ASSERT_NE(lm, nullptr) << "manifest.json names a missing layer " << l << ":\n" << member_names(members);
    std::string name = l.get<std::string>();
    EXPECT_EQ(sha256_file(f, lm->data_offset, lm->size), name.substr(name.rfind('/') + 1))
        << name << " is not stored under its digest";
  }

  auto inspected = skopeo({"inspect", "docker-archive:" + f});
  ASSERT_EQ(inspected.exit_code, 0) << show(inspected);
  json ij = parse_json(inspected.out);
  EXPECT_EQ(ij.value("Architecture", ""), "amd64");
  EXPECT_EQ(ij.value("Os", ""), "linux");
  auto raw = skopeo({"inspect", "--raw", "docker-archive:" + f});
  ASSERT_EQ(raw.exit_code, 0) << show(raw);
  EXPECT_EQ(parse_json(raw.out)["config"].value("digest", ""), want.config_digest);

  // Through skopeo into an OCI layout. skopeo reads docker-archive layers decompressed (their
  // digests become the config's diff_ids) and recompresses them for oci:, so the layers are
  // compared by content: the decompressed bytes must be the bundle's layers' decompressed bytes.
  std::string d = path("from-docker-archive");
  auto copied = skopeo({"--insecure-policy", "copy", "-q", "docker-archive:" + f, "oci:" + d + ":x"});
  ASSERT_EQ(copied.exit_code, 0) << show(copied);
  LayoutImage got = image_in_layout(d, "x");
  // (skopeo re-serialises the config when it turns the docker manifest into an OCI one, so the
  // config is compared by its diff_ids, not by digest.)
  json got_config = parse_json(read_all(d + "/blobs/sha256/" + hex_of(got.config_digest)));
  EXPECT_EQ(got_config["rootfs"].value("diff_ids", json::array()), json(want.diff_ids));
  ASSERT_EQ(got.layers.size(), want.layers.size());
  ASSERT_EQ(want.diff_ids.size(), want.layers.size());
  for (size_t i = 0; i < got.layers.size(); ++i) {
    EXPECT_EQ(gunzip_sha256(d + "/blobs/sha256/" + hex_of(got.layers[i])), want.diff_ids[i]) << "layer " << i;
  }
  // ... and the bundle's own layers decompress to those diff_ids (the comparison means something).
  {
    TempDir x;
    auto e = airlock_bounded({"bundle", "extract", bundle_, "-C", x / "b", "--pub", pub_, "-q"}, kCommandLimit);
    ASSERT_EQ(e.exit_code, 0) << show(e);
    for (size_t i = 0; i < want.layers.size(); ++i) {
      EXPECT_EQ(gunzip_sha256(x / ("b/blobs/sha256/" + hex_of(want.layers[i]))), want.diff_ids[i]);
    }
  }

  // oci-archive: skopeo sees the bundle's manifest digest.
  std::string g = path("image-oci.tar");
  auto exo = images({"export", bundle_, image_ref(), "--pub", pub_, "--format", "oci", "-o", g});
  ASSERT_TRUE(exited(exo, 0));
  auto oi = skopeo({"inspect", "oci-archive:" + g});
  ASSERT_EQ(oi.exit_code, 0) << show(oi);
  EXPECT_EQ(parse_json(oi.out).value("Digest", ""), want.digest);
  std::string od = path("from-oci-archive");
  auto oc = skopeo({"--insecure-policy", "copy", "-q", "oci-archive:" + g, "oci:" + od + ":x"});
  ASSERT_EQ(oc.exit_code, 0) << show(oc);
  LayoutImage og = image_in_layout(od, "x");
  EXPECT_EQ(og.layers, want.layers);
  EXPECT_EQ(og.digest, want.digest);

  // -o - writes the same bytes to stdout; the bare component name selects the same image.
  auto to_stdout = images({"export", bundle_, image_ref(), "--pub", pub_, "--format", "docker-archive", "-o", "-"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_TRUE(to_stdout.out == read_all(f)) << "-o - gave " << to_stdout.out.size() << " bytes, -o FILE "
                                            << file_size(f) << " bytes (or the same size, other bytes)";
  std::string h = path("by-name.tar");
  auto by_name = images({"export", bundle_, kImage, "--pub", pub_, "--format", "docker-archive", "-o", h});
  ASSERT_TRUE(exited(by_name, 0));
  EXPECT_TRUE(read_all(h) == read_all(f)) << "export by name and by name:ref differ";

  // Unknown REF: a usage error listing the images; no output file.
  std::string u = path("unknown.tar");
  auto unknown = images({"export", bundle_, "nope/nothing:1", "--pub", pub_, "--format", "oci", "-o", u});
  EXPECT_TRUE(exited(unknown, 2, {kImage}));
  EXPECT_FALSE(exists(u)) << "a failed export left " << u;
  auto wrong_ref = images({"export", bundle_, std::string(kImage) + ":9.99", "--pub", pub_, "--format", "oci", "-o", u});
  EXPECT_TRUE(exited(wrong_ref, 2, {kImage}));
}

// ---- 5. failures ------------------------------------------------------------------------------

TEST_F(ImagesE2E, PushToStoppedRegistryExits3Quickly) {
  Registry reg;
  REQUIRE_REGISTRY(reg);
  reg.stop();
  auto t0 = std::chrono::steady_clock::now();
  auto r = push(bundle_, pub_, reg);
  double took = seconds_since(t0);
  EXPECT_EQ(r.exit_code, 3) << show(r);
  EXPECT_TRUE(contains(r.err, reg.host()) || contains(r.err, kImage))
      << "the error names neither the registry nor the image:\n" << r.err;
  EXPECT_LT(took, 60.0) << "an unreachable registry took " << took << " s to report";
  RecordProperty("unreachable_ms", std::to_string(static_cast<long>(took * 1000)));
}

TEST_F(ImagesE2E, PushToServerAnsweringGarbageOr5xxExits3) {
  struct Case {
    const char* what;
    std::string response;
    int min_requests;  // a 503 is worth retrying
  };
  const std::vector<Case> cases = {
      {"garbage", "this is not HTTP at all\r\n\r\n", 1},
      {"503", "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n", 2},
      {"500 with a JSON error", "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                                "Content-Length: 60\r\nConnection: close\r\n\r\n"
                                "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"disk on fire\"}]}\n\n\n\n", 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    FakeServer server(c.response);
    ASSERT_TRUE(server.ok());
    auto t0 = std::chrono::steady_clock::now();
    auto r = images(push_args(bundle_, pub_, {"--registry", server.host(), "--insecure"}));
    double took = seconds_since(t0);
    EXPECT_EQ(r.exit_code, 3) << show(r);
    EXPECT_TRUE(contains(r.err, server.host()) || contains(r.err, kImage))
        << "the error names neither the registry nor the image:\n" << r.err;
    EXPECT_LT(took, 60.0);
    EXPECT_GE(server.requests(), c.min_requests) << "requests answered";
  }
}

TEST_F(ImagesE2E, TamperedBundleIsRejectedAndNothingIsPushed) {
  Registry reg;
  REQUIRE_REGISTRY(reg);
  const BundleImage& want = example();
  ASSERT_FALSE(want.layers.empty());
  std::string bytes = read_all(bundle_);
  auto members = tarcraft::scan_ustar(bytes);
  const auto& layer = tarcraft::find_member(members, "blobs/sha256/" + hex_of(want.layers[0]));
  ASSERT_GT(layer.size, 0u);
  bytes[layer.data_offset + layer.size / 2] ^= 0x01;
  std::string bad = path("tampered.airlock");
  write_all(bad, bytes);

  auto r = push(bad, pub_, reg);
  EXPECT_EQ(r.exit_code, 1) << show(r);
  auto inspected = skopeo_inspect(reg, image_ref());
  EXPECT_NE(inspected.exit_code, 0) << "a tag exists after pushing a tampered bundle:\n" << inspected.out;
  int status = 0;
  auto tags = tags_of(reg, kImage, &status);
  EXPECT_TRUE(tags.empty()) << "tags/list answered " << status;
  // Verification comes first: not even a blob of it reached the registry.
  EXPECT_FALSE(exists(registry_blob(reg, want.layers[0]))) << "the tampered layer was uploaded";
}

// ---- 6. interrupted pushes ---------------------------------------------------------------------
//
// docker-registry 2.8 keeps an upload session across a restart (fixed http.secret), but only
// while the bytes it stored equal the offset in the client's upload URL: a request cut in the
// middle of a chunk leaves extra bytes, and the registry then answers BLOB_UPLOAD_INVALID and
// drops the session, so the client must start that blob again. Hence two tests: the registry is
// stopped between two chunks (a real resume: the same upload session completes the blob), and
// it is killed in the middle of a chunk (the push must still complete).

TEST_F(ImagesE2E, InterruptedPushResumesAfterRegistryRestart) {
  if (!make_big()) GTEST_SKIP() << "needs 2 GiB free under " << tmp_.path();
  ASSERT_FALSE(HasFailure());
  constexpr uint64_t kChunk = 16ull << 20;
  Registry reg;
  REQUIRE_REGISTRY(reg);
  auto proc = spawn_push(reg, {"--chunk", "16M"});
  ASSERT_TRUE(proc->spawn_error().empty()) << proc->spawn_error();
  std::string upload = wait_for_upload(reg, *proc, kChunk / 2);
  ASSERT_FALSE(upload.empty()) << "the layer upload never started\n--- stdout:\n" << proc->out() << "\n--- stderr:\n"
                               << proc->err() << "\nregistry log:\n" << reg.log();
  std::string session = fs::path(upload).parent_path().filename().string();

  // Freeze airlock (SIGSTOP) at a chunk boundary: the registry has stored exactly k chunks and
  // acknowledged them. A freeze that lands after the next chunk began is undone (SIGCONT) and
  // tried again at the next boundary.
  uint64_t frozen_at = 0;
  auto deadline = std::chrono::steady_clock::now() + 300s;
  while (frozen_at == 0 && std::chrono::steady_clock::now() < deadline && proc->running()) {
    uint64_t n = file_size(upload);
    if (n >= kChunk && n % kChunk == 0 && n + kChunk < g_.layer_size) {
      ::kill(proc->pid(), SIGSTOP);
      std::this_thread::sleep_for(300ms);  // the registry finishes its answer to chunk k
      if (file_size(upload) == n) {
        frozen_at = n;
        break;
      }
      ::kill(proc->pid(), SIGCONT);
      while (file_size(upload) == n && proc->running()) std::this_thread::sleep_for(100us);
    }
    std::this_thread::sleep_for(20us);
  }
  ASSERT_GT(frozen_at, 0u) << "could not stop the push at a chunk boundary (last size " << file_size(upload) << ")\n"
                           << proc->err();
  // The registry goes away while airlock is frozen; airlock wakes up to a dead connection and a
  // refused one, and the registry is back a second later.
  reg.stop();
  ::kill(proc->pid(), SIGCONT);
  std::this_thread::sleep_for(1s);
  reg.start();
  ASSERT_TRUE(reg.ok()) << reg.error();

  std::string output = finish(reg, *proc);
  RecordProperty("interrupted_at_bytes", std::to_string(frozen_at));
  EXPECT_TRUE(icontains(output, "resum")) << "the output does not mention resuming (stopped at byte " << frozen_at
                                          << "):\n" << output;
  // The registry's own record: the upload session that was interrupted is the one that completed
  // the layer (nothing was started again from byte 0).
  EXPECT_EQ(completing_session(reg), session) << "the layer was not completed by the interrupted upload session "
                                              << session << " (stopped at byte " << frozen_at << ")\n" << output;
}

TEST_F(ImagesE2E, PushKilledMidChunkCompletesAfterRegistryRestart) {
  if (!make_big()) GTEST_SKIP() << "needs 2 GiB free under " << tmp_.path();
  ASSERT_FALSE(HasFailure());
  Registry reg;
  REQUIRE_REGISTRY(reg);
  auto proc = spawn_push(reg);
  ASSERT_TRUE(proc->spawn_error().empty()) << proc->spawn_error();
  // Some MiB into the layer, the registry goes away in the middle of a request.
  std::string upload = wait_for_upload(reg, *proc, 4u << 20);
  ASSERT_FALSE(upload.empty()) << "the layer upload never started\n--- stdout:\n" << proc->out() << "\n--- stderr:\n"
                               << proc->err() << "\nregistry log:\n" << reg.log();
  reg.stop();
  uint64_t at_stop = file_size(upload);
  ASSERT_LT(at_stop, g_.layer_size) << "the upload finished before the registry stopped: nothing was interrupted";
  std::this_thread::sleep_for(1s);
  reg.start();
  ASSERT_TRUE(reg.ok()) << reg.error();

  std::string output = finish(reg, *proc);
  RecordProperty("interrupted_at_bytes", std::to_string(at_stop));
  // airlock says what it did about the interrupted upload (resumed, or could not resume it).
  EXPECT_TRUE(icontains(output, "resum")) << "the output does not mention resuming (interrupted at " << at_stop
                                          << " bytes):\n" << output;
}

// ---- 7. a 2 GiB + 1 byte layer ------------------------------------------------------------------

TEST_F(ImagesE2E, Slow2GiBBlobPushAndExport) {
  constexpr uint64_t kLayer = (2ull << 30) + 1;
  // Peak: bundle 2 GiB + registry copy 2 GiB, later bundle + an export + skopeo's unpacked copy.
  if (free_bytes(tmp_.path()) < (10ull << 30)) GTEST_SKIP() << "needs 10 GiB free under " << tmp_.path();
  if (free_bytes("/var/tmp") < (3ull << 30)) GTEST_SKIP() << "needs 3 GiB free under /var/tmp (skopeo)";
  auto t0 = std::chrono::steady_clock::now();
  auto lap = [&](const char* what) {
    RecordProperty(std::string(what) + "_s", std::to_string(static_cast<long>(seconds_since(t0))));
  };

  Generated g = generate_image(path("huge"), "e2e/huge", "2g", [&](const std::string& p) {
    std::string diff_id;
    return write_sparse_gzip_zeros(p, kLayer, &diff_id) ? diff_id : "";
  });
  ASSERT_EQ(g.layer_size, kLayer);
  std::string huge = path("huge.airlock");
  auto c = create_bundle(g.yaml, huge, key_);
  ASSERT_TRUE(exited(c, 0));
  fs::remove_all(g.layout);
  lap("create");

  {
    Registry reg;
    REQUIRE_REGISTRY(reg);
    auto p = push(huge, pub_, reg, {"--json"}, kBigCommandLimit);
    ASSERT_TRUE(exited(p, 0)) << "registry log:\n" << reg.log();
    json j = parse_json(p.out);
    ASSERT_TRUE(j["images"].is_array() && j["images"].size() == 1) << p.out;
    EXPECT_EQ(j["images"][0].value("digest", ""), g.manifest_digest);
    EXPECT_EQ(j.value("uploaded_blobs", -1), 2);
    EXPECT_EQ(j.value("uploaded_bytes", uint64_t{0}), kLayer + g.config_size);
    lap("push");

    auto raw = skopeo_inspect(reg, g.name + ":" + g.ref, /*raw=*/true);
    ASSERT_EQ(raw.exit_code, 0) << show(raw);
    EXPECT_EQ("sha256:" + sha256_hex(raw.out), g.manifest_digest) << raw.out;
    json m = parse_json(raw.out);
    ASSERT_TRUE(m["layers"].is_array() && m["layers"].size() == 1) << raw.out;
    EXPECT_EQ(m["layers"][0].value("digest", ""), g.layer_digest);
    EXPECT_EQ(m["layers"][0].value("size", uint64_t{0}), kLayer);
    HttpResponse head = reg.request("HEAD", "/v2/" + g.name + "/blobs/" + g.layer_digest);
    EXPECT_EQ(head.status, 200) << head.error;
    EXPECT_EQ(head.headers["content-length"], std::to_string(kLayer));
    std::string blob = registry_blob(reg, g.layer_digest);
    ASSERT_EQ(file_size(blob), kLayer);
    EXPECT_EQ("sha256:" + sha256_file(blob), g.layer_digest) << "the registry holds other bytes";
    lap("registry_checked");
  }  // the registry and its 2 GiB go away

  {
    std::string f = path("huge-docker.tar");
    auto ex = images({"export", huge, g.name + ":" + g.ref, "--pub", pub_, "--format", "docker-archive", "-o", f},
                     kBigCommandLimit);
    ASSERT_TRUE(exited(ex, 0));
    auto members = scan_tar_file(f);
    const auto* mj = member(members, "manifest.json");
    ASSERT_NE(mj, nullptr) << member_names(members);
    json manifest = parse_json(read_member(f, *mj));
    ASSERT_TRUE(manifest.is_array() && manifest.size() == 1 && manifest[0]["Layers"].size() == 1) << manifest.dump();
    const auto* lm = member(members, manifest[0]["Layers"][0].get<std::string>());
    ASSERT_NE(lm, nullptr) << member_names(members);
    EXPECT_EQ(lm->size, kLayer);
    EXPECT_EQ("sha256:" + sha256_file(f, lm->data_offset, lm->size), g.layer_digest);
    // skopeo decompresses docker-archive layers to size them: this checks the gzip stream too.
    auto inspected = skopeo({"inspect", "--raw", "docker-archive:" + f}, kBigCommandLimit);
    ASSERT_EQ(inspected.exit_code, 0) << show(inspected);
    EXPECT_EQ(parse_json(inspected.out)["config"].value("digest", ""), g.config_digest);
    fs::remove(f);
    lap("docker_archive_checked");
  }
  {
    std::string o = path("huge-oci.tar");
    auto ex = images({"export", huge, g.name, "--pub", pub_, "--format", "oci", "-o", o}, kBigCommandLimit);
    ASSERT_TRUE(exited(ex, 0));
    auto members = scan_tar_file(o);
    const auto* lm = member(members, "blobs/sha256/" + hex_of(g.layer_digest));
    ASSERT_NE(lm, nullptr) << member_names(members);
    EXPECT_EQ(lm->size, kLayer);
    EXPECT_EQ("sha256:" + sha256_file(o, lm->data_offset, lm->size), g.layer_digest);
    auto raw = skopeo({"inspect", "--raw", "oci-archive:" + o}, kBigCommandLimit);
    ASSERT_EQ(raw.exit_code, 0) << show(raw);
    EXPECT_EQ("sha256:" + sha256_hex(raw.out), g.manifest_digest);
    fs::remove(o);
    lap("oci_archive_checked");
  }
}

// ---- the harness itself ------------------------------------------------------------------------

class RegistryHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    if (registry_binary().empty()) GTEST_SKIP() << "docker-registry is not installed (Debian package docker-registry)";
    if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  }
  // The example image, pushed by skopeo (not airlock), then read back.
  static void skopeo_round_trip(const Registry& reg, const std::string& repo) {
    std::string layout = example_dir() + "/build/oci";
    std::vector<std::string> a = {"--insecure-policy", "copy", "-q"};
    auto f = reg.skopeo_flags("dest-");
    a.insert(a.end(), f.begin(), f.end());
    a.push_back("oci:" + layout + ":1.35");
    a.push_back("docker://" + reg.host() + "/" + repo + ":1.35");
    auto c = skopeo(a);
    ASSERT_EQ(c.exit_code, 0) << show(c) << "\nregistry log:\n" << reg.log();
    json index = parse_json(read_all(layout + "/index.json"));
    std::string want = index["manifests"][0].value("digest", "");
    auto i = skopeo_inspect(reg, repo + ":1.35");
    ASSERT_EQ(i.exit_code, 0) << show(i);
    EXPECT_EQ(parse_json(i.out).value("Digest", ""), want);
  }
};

TEST_F(RegistryHarness, EachOptionServesSkopeo) {
  struct Case {
    const char* what;
    RegistryOptions opts;
  };
  for (const auto& c : {Case{"plain", {}}, Case{"tls", {.tls = true}}, Case{"auth", {.basic_auth = true}},
                        Case{"tls+auth", {.tls = true, .basic_auth = true}}}) {
    SCOPED_TRACE(c.what);
    Registry reg(c.opts);
    ASSERT_TRUE(reg.ok()) << reg.error();
    EXPECT_EQ(reg.host().rfind("127.0.0.1:", 0), 0u);
    skopeo_round_trip(reg, "harness/busybox");
    EXPECT_EQ(tags_of(reg, "harness/busybox"), std::vector<std::string>{"1.35"});
    if (c.opts.basic_auth) {
      EXPECT_EQ(reg.request("GET", "/v2/", /*auth=*/false).status, 401);
      EXPECT_EQ(reg.request("GET", "/v2/").status, 200);
      EXPECT_EQ(read_all(reg.password_file()), c.opts.password + "\n");
      auto wrong = skopeo({"inspect", c.opts.tls ? "--cert-dir=" + reg.cert_dir() : "--tls-verify=false", "--creds",
                           "tester:wrong", "docker://" + reg.host() + "/harness/busybox:1.35"});
      EXPECT_NE(wrong.exit_code, 0) << "wrong credentials accepted";
    }
    if (c.opts.tls) {
      EXPECT_TRUE(exists(reg.ca_file()));
      EXPECT_TRUE(exists(reg.cert_dir() + "/ca.crt"));
      // Without the CA, the certificate is not trusted.
      auto untrusted = skopeo({"inspect", "docker://" + reg.host() + "/harness/busybox:1.35"});
      EXPECT_NE(untrusted.exit_code, 0);
      EXPECT_TRUE(icontains(untrusted.err, "certificate")) << untrusted.err;
    }
    EXPECT_TRUE(contains(reg.log(), "/v2/")) << "no access log";
  }
}

TEST_F(RegistryHarness, RestartKeepsPortStorageAndUploadSessions) {
  Registry reg;
  ASSERT_TRUE(reg.ok()) << reg.error();
  skopeo_round_trip(reg, "harness/busybox");
  std::string host = reg.host();

  // An upload session started before the restart is still valid after it (fixed http.secret).
  HttpResponse started = reg.request("POST", "/v2/harness/upload/blobs/uploads/");
  ASSERT_EQ(started.status, 202) << started.body << started.error;
  std::string location = started.headers["location"];
  ASSERT_FALSE(location.empty());
  if (location.rfind("http", 0) == 0) location = location.substr(location.find('/', location.find("//") + 2));

  reg.stop();
  EXPECT_FALSE(reg.running());
  EXPECT_EQ(reg.request("GET", "/v2/").status, 0) << "still answering after stop()";
  reg.start();
  ASSERT_TRUE(reg.ok()) << reg.error();
  EXPECT_EQ(reg.host(), host);
  auto i = skopeo_inspect(reg, "harness/busybox:1.35");
  EXPECT_EQ(i.exit_code, 0) << show(i);
  HttpResponse status = reg.request("GET", location);
  EXPECT_EQ(status.status, 204) << status.body << "\nlog:\n" << reg.log();
  EXPECT_EQ(status.headers["range"], "0-0");
}

TEST(SpawnedProcess, RunsInBackgroundAndCanBeWaitedForOrKilled) {
  TempDir t;
  Spawned quick({"sh", "-c", "echo out; echo err >&2; exit 7"}, t / "o", t / "e");
  EXPECT_EQ(quick.wait(10s), 7);
  EXPECT_EQ(quick.out(), "out\n");
  EXPECT_EQ(quick.err(), "err\n");

  Spawned slow({"sleep", "30"}, t / "o2", t / "o2");
  EXPECT_TRUE(slow.running());
  EXPECT_EQ(slow.wait(100ms), -1);
  auto t0 = std::chrono::steady_clock::now();
  slow.kill(SIGTERM, 5000);
  EXPECT_LT(seconds_since(t0), 4.0);
  EXPECT_EQ(slow.exit_code(), 128 + SIGTERM);
  EXPECT_FALSE(slow.running());

  Spawned missing({"/nonexistent/binary"}, t / "o3", t / "o3");
  EXPECT_FALSE(missing.spawn_error().empty());

  t0 = std::chrono::steady_clock::now();
  auto r = run_bounded({"sleep", "30"}, 1s);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_TRUE(contains(r.err, "killed after 1 s"));
}

TEST(SparseGzip, CrcOfZerosAndStoredBlocksMakeAValidGzipFile) {
  // The 2 GiB generator, at a small size: gzip itself must accept the stream.
  TempDir t;
  for (uint64_t size : {uint64_t{23 + 0}, uint64_t{70000}, uint64_t{(1u << 20) + 1}, uint64_t{3 * 65540 + 18}}) {
    SCOPED_TRACE(size);
    std::string p = t / "z.gz", diff_id;
    ASSERT_TRUE(write_sparse_gzip_zeros(p, size, &diff_id));
    EXPECT_EQ(file_size(p), size);
    auto r = run({"sh", "-c", "gzip -dc \"$1\" | sha256sum", "sh", p});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ("sha256:" + r.out.substr(0, 64), diff_id);
  }
}

}  // namespace
}  // namespace airlock::test
