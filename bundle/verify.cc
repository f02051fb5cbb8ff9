// The verifier/extractor. See verify.h for the contract and docs/bundle-format.md §C/§E for why.
#include "bundle/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "bundle/oci_layout.h"
#include "bundle/tar_reader.h"
#include "bundle/zstd_codec.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/progress.h"
#include "common/sha256.h"

namespace airlock::bundle {
namespace {

constexpr uint64_t kMaxJsonBlob = 4ull << 20;
constexpr uint64_t kMaxJsonTotal = 64ull << 20;

// A mode-0700 directory beside the target that is removed unless committed.
class Staging {
 public:
  ~Staging() {
    if (!path_.empty() && !committed_) remove_tree(path_);
  }
  Status create(const std::string& target) {
    TRY_ASSIGN(path_, make_staging_dir(target));
    int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open " + path_);
    dirfd_ = UniqueFd(fd);
    for (const char* d : {"blobs", "blobs/sha256", "components"}) {
      if (::mkdirat(dirfd_.get(), d, 0755) != 0) return sys_error("mkdir " + path_ + "/" + d);
    }
    return {};
  }
  // O_EXCL|O_NOFOLLOW relative to the private directory: never through a link, never twice.
  Result<UniqueFd> create_file(const std::string& rel, mode_t mode) {
    int fd = ::openat(dirfd_.get(), rel.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return sys_error("create " + path_ + "/" + rel);
    ::fchmod(fd, mode);  // not subject to the umask: modes come from the manifest only
    return UniqueFd(fd);
  }
  Status write_file(const std::string& rel, std::string_view bytes) {
    TRY_ASSIGN(UniqueFd fd, create_file(rel, 0644));
    return write_all(fd.get(), bytes.data(), bytes.size(), path_ + "/" + rel);
  }
  Status commit(const std::string& target) {
    if (::syncfs(dirfd_.get()) != 0) return sys_error("sync " + path_);
    ::chmod(path_.c_str(), 0755);
    if (::rename(path_.c_str(), target.c_str()) != 0) return sys_error("rename " + path_ + " to " + target);
    committed_ = true;
    return fsync_path(dirname_of(target));
  }
  int dirfd() const { return dirfd_.get(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd dirfd_;
  bool committed_ = false;
};

Status check_target(const std::string& target) {
  struct stat st;
  if (::lstat(target.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("cannot inspect " + target);
  }
  if (!S_ISDIR(st.st_mode)) return make_error(Errc::kInvalidArgument, target + " exists and is not a directory");
  std::error_code ec;
  std::filesystem::directory_iterator it(target, ec);
  if (ec) return sys_error("cannot list " + target, ec.value());
  if (it != std::filesystem::directory_iterator()) {
    return make_error(Errc::kInvalidArgument, target + " exists and is not empty; extract into a new directory");
  }
  return {};
}

std::string component_file_name(const Component& c) {
  if (c.install.contains("path") && c.install["path"].is_string()) {
    std::string base = basename_of(c.install["path"].get<std::string>());
    if (check_member_name(base).ok() && !base.empty()) return base;
  }
  const std::string& mt = c.blob->media_type;
  if (mt.rfind("application/vnd.debian.binary-package", 0) == 0) return c.name + ".deb";
  if (mt.rfind("application/x-rpm", 0) == 0) return c.name + ".rpm";
  return c.name;
}

bool looks_like_json_object(std::string_view block) {
  size_t i = block.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && block[i] == '{';
}

mode_t component_mode(const Component& c) {
  if (c.install.contains("mode") && c.install["mode"].is_string()) {
    return static_cast<mode_t>(std::stoul(c.install["mode"].get<std::string>(), nullptr, 8) & 0777);
  }
  return 0644;
}

// The OCI graph under each image must be exactly the closure the component declares.
Status check_image_closure(const Manifest& m, const std::map<std::string, std::string>& json_blobs) {
  for (const auto& c : m.components) {
    if (c.type != "oci-image") continue;
    std::set<std::string> reached;
    bool partial = false;  // part of the graph lives in a delta's base
    std::vector<Descriptor> todo = {*c.descriptor};
    while (!todo.empty()) {
      Descriptor d = todo.back();
      todo.pop_back();
      if (!reached.insert(d.digest).second) continue;
      if (!is_index_media_type(d.media_type) && !is_manifest_media_type(d.media_type)) continue;
      auto it = json_blobs.find(d.digest);
      if (it == json_blobs.end()) {
        if (m.base && !m.find_file(blob_path(d.digest))) {
          partial = true;  // lives in the base bundle
          continue;
        }
        return make_error(Errc::kIntegrity, "image '" + c.name + "': manifest " + d.digest + " could not be read");
      }
      auto children = oci_children(it->second, d.media_type, "image '" + c.name + "' " + d.digest);
      if (!children.ok()) return children.error();
      for (auto& ch : *children) {
        const FileEntry* f = m.find_file(blob_path(ch.digest));
        if (f && f->size != ch.size) {
          return make_error(Errc::kIntegrity, "image '" + c.name + "': " + ch.digest + " has " +
                                                  std::to_string(f->size) + " bytes, its descriptor says " +
                                                  std::to_string(ch.size));
        }
        todo.push_back(ch);
      }
    }
    std::set<std::string> declared(c.closure.begin(), c.closure.end());
    for (const auto& d : reached) {
      if (!declared.count(d)) {
        return make_error(Errc::kIntegrity, "image '" + c.name + "': references " + d + ", which bundle.json does not list for it");
      }
    }
    for (const auto& d : declared) {
      if (!partial && !reached.count(d)) {
        return make_error(Errc::kIntegrity, "image '" + c.name + "': lists " + d + ", which no manifest of the image references");
      }
    }
  }
  return {};
}

}  // namespace

Result<std::string> check_freshness(const Manifest& m, int64_t now, bool allow_expired) {
  TRY_ASSIGN(int64_t created, parse_rfc3339(m.bundle.created));
  std::string warning;
  if (now + 86400 < created) {
    std::string msg = "clock implausible: it is " + format_rfc3339(now) + " but the bundle was created " + m.bundle.created;
    if (!allow_expired) return make_error(Errc::kExpired, msg + " (fix the clock, or pass --allow-expired)");
    warning = msg;
  }
  if (!m.bundle.expires.empty()) {
    TRY_ASSIGN(int64_t expires, parse_rfc3339(m.bundle.expires));
    if (now > expires) {
      std::string msg = "bundle " + m.bundle.name + " v" + std::to_string(m.bundle.version) + " expired at " + m.bundle.expires;
      if (!allow_expired) return make_error(Errc::kExpired, msg + " (pass --allow-expired to accept it anyway)");
      warning = msg;
    }
  }
  return warning;
}

namespace {

// What the member pass learns besides pass/fail: small JSON documents for the OCI closure check
// and the first bytes of zstd blobs, both looked at only after their digests matched.
struct StreamState {
  std::map<std::string, std::string> json_blobs;  // digest -> bytes
  std::map<std::string, std::string> zstd_heads;  // member -> first bytes
  uint64_t json_total = 0;
  std::map<std::string, uint64_t> data_offsets;
  uint64_t members = 0;
  uint64_t bytes = 0;
};

// Every member after the head: listed, once, with the listed size (checked before any data is
// read), then the listed digest. Members in `wanted` are copied into staging as they are hashed.
Status stream_members(TarReader& tar, std::optional<MemberHeader> member, const Manifest& m, Staging* staging,
                      const std::set<std::string>& wanted, Progress& prog, StreamState& st) {
  std::set<std::string> compressed;
  for (const auto& c : m.components) {
    if (c.content) compressed.insert(blob_path(c.blob->digest));
  }
  std::set<std::string> seen;
  while (member) {
    const std::string& name = member->name;
    if (name == kManifestName || name.rfind("bundle.json.", 0) == 0) {
      return make_error(Errc::kIntegrity, "member '" + name + "': " +
                                              (name == kManifestName ? "duplicate member" : "signature after the payload members"));
    }
    const FileEntry* f = m.find_file(name);
    if (!f) {
      return make_error(Errc::kIntegrity, "unexpected member '" + name + "' (not listed in bundle.json)");
    }
    if (!seen.insert(name).second) return make_error(Errc::kIntegrity, "duplicate member '" + name + "'");
    if (member->size != f->size) {
      return make_error(Errc::kIntegrity, "member '" + name + "': tar header says " + std::to_string(member->size) +
                                              " bytes, bundle.json says " + std::to_string(f->size));
    }
    UniqueFd out;
    if (staging && wanted.count(name)) {
      TRY_ASSIGN(out, staging->create_file(name, 0644));
    }
    const bool keep_json = f->size <= kMaxJsonBlob && name.rfind("blobs/", 0) == 0;
    bool keep = false;
    std::string kept;
    std::string zhead;
    Sha256 hash;
    uint64_t got = 0;
    for (;;) {
      TRY_ASSIGN(std::string_view block, tar.read_block());
      if (block.empty()) break;
      hash.update(block.data(), block.size());
      if (out.valid()) TRY_STATUS(write_all(out.get(), block.data(), block.size(), staging->path() + "/" + name));
      if (got == 0) keep = keep_json && looks_like_json_object(block);
      if (keep) kept.append(block);
      if (zhead.size() < 32 && compressed.count(name)) zhead.append(block.substr(0, 32 - zhead.size()));
      got += block.size();
      prog.add(block.size());
    }
    if (got != f->size) return make_error(Errc::kIntegrity, "member '" + name + "': truncated");
    std::string digest = hash.finish_digest();
    if (digest != f->digest) {
      return make_error(Errc::kIntegrity, "member '" + name + "': sha256 mismatch (bundle.json says " + f->digest +
                                              ", content is " + digest + ")");
    }
    if (!kept.empty()) {
      st.json_total += kept.size();
      if (st.json_total > kMaxJsonTotal) return make_error(Errc::kLimit, "more than 64 MiB of manifest documents");
      st.json_blobs[f->digest] = std::move(kept);
    }
    if (!zhead.empty()) st.zstd_heads[name] = std::move(zhead);
    st.data_offsets[name] = member->data_offset;
    ++st.members;
    st.bytes += got;
    TRY_ASSIGN(member, tar.next());
  }
  for (const auto& f : m.files) {
    if (!seen.count(f.path)) {
      return make_error(Errc::kIntegrity, "missing member '" + f.path + "' (listed in bundle.json)");
    }
  }
  return {};
}

// Blob paths that components need (all, or one component's) but the delta does not carry.
std::set<std::string> blobs_from_base(const Manifest& m, const Component* only) {
  std::set<std::string> out;
  for (const auto& c : m.components) {
    if (only && only != &c) continue;
    for (const auto& d : c.blob_digests()) {
      if (!m.find_file(blob_path(d))) out.insert(blob_path(d));
    }
  }
  return out;
}

// A delta's omitted blobs come from its base, which is verified in full with the same keys;
// only the blobs the delta needs are copied. Its own expiry does not matter: the delta's
// signed manifest names every digest taken from it.
Status extract_from_base(const VerifyOptions& opts, const Manifest& delta, const Component* only, Staging& staging) {
  const std::string& path = opts.base_path;
  auto fail = [&](const Error& e) { return e.wrap("--base " + path); };
  auto tar = TarReader::open(path);
  if (!tar.ok()) return fail(tar.error());
  auto head = read_head(**tar);
  if (!head.ok()) return fail(head.error());
  if (head->manifest_digest != delta.base->manifest) {
    return make_error(Errc::kIntegrity, "--base " + path + " is not the base of this delta (its bundle.json is " +
                                            head->manifest_digest + ", the delta names " + delta.base->manifest + ")");
  }
  auto sigs = check_signatures(*head, opts.keys, opts.threshold);
  if (!sigs.ok()) return fail(sigs.error());
  auto base = parse_manifest(head->manifest_bytes);
  if (!base.ok()) return fail(base.error());
  std::set<std::string> wanted = blobs_from_base(delta, only);
  Progress prog("extract base", 0, opts.progress);
  StreamState st;
  auto streamed = stream_members(**tar, head->pending, *base, &staging, wanted, prog, st);
  if (!streamed.ok()) return fail(streamed.error());
  for (const auto& p : wanted) {
    if (!path_exists(staging.path() + "/" + p)) {
      return make_error(Errc::kIntegrity, "--base " + path + " lacks " + p + ", which the delta needs");
    }
  }
  return {};
}

}  // namespace

Result<VerifyResult> verify_bundle(const std::string& path, const VerifyOptions& opts) {
  const bool extracting = !opts.extract_to.empty();
  if (extracting) TRY_STATUS(check_target(opts.extract_to));
  TRY_ASSIGN(auto tar, TarReader::open(path));
  VerifyResult result;

  // 1. Signatures over the exact bytes of bundle.json, before anything is parsed.
  TRY_ASSIGN(BundleHead head, read_head(*tar));
  TRY_ASSIGN(SignatureCheck sigs, check_signatures(head, opts.keys, opts.threshold));
  result.signers = sigs.signers;
  result.manifest_digest = head.manifest_digest;

  // 2. Now the manifest may be parsed and cross-checked.
  auto parsed = parse_manifest(head.manifest_bytes);
  if (!parsed.ok()) {  // signed but malformed: the bundle is rejected (exit 1), not a usage error
    Error e = parsed.error();
    if (e.code == Errc::kParse) e.code = Errc::kIntegrity;
    return e;
  }
  result.manifest = std::move(parsed).value();
  const Manifest& m = result.manifest;
  TRY_STATUS(check_signer_comments(sigs.signers, m));
  if (!m.bundle.min_verifier.empty() && compare_versions(AIRLOCK_VERSION, m.bundle.min_verifier) < 0) {
    return make_error(Errc::kUnsupported, "bundle needs airlock >= " + m.bundle.min_verifier + ", this is " AIRLOCK_VERSION);
  }
  TRY_ASSIGN(std::string fresh_warning, check_freshness(m, opts.now, opts.allow_expired));
  if (!fresh_warning.empty()) result.warnings.push_back(fresh_warning);

  const Component* only = nullptr;
  if (!opts.only.empty()) {
    only = m.find_component(opts.only);
    if (!only) return make_error(Errc::kInvalidArgument, "no component named '" + opts.only + "' in the bundle");
  }
  if (extracting && m.base && opts.base_path.empty()) {
    return make_error(Errc::kInvalidArgument, "bundle is a delta on " + m.base->name + " v" +
                                                  std::to_string(m.base->version) +
                                                  ": extract needs --base with that bundle");
  }
  std::set<std::string> wanted;  // member paths written to staging
  for (const auto& f : m.files) {
    bool want = true;
    if (only) {
      auto ds = only->blob_digests();
      want = f.path == "oci-layout" || f.path == "index.json" ||
             std::find_if(ds.begin(), ds.end(), [&](const std::string& d) { return blob_path(d) == f.path; }) != ds.end();
    }
    if (want) wanted.insert(f.path);
  }

  Staging staging;
  if (extracting) {
    uint64_t need = 0;
    for (const auto& f : m.files) need += f.size;
    for (const auto& c : m.components) need += c.content ? c.content->size : 0;
    struct statvfs vfs;
    std::string parent = dirname_of(opts.extract_to);
    if (::statvfs(parent.c_str(), &vfs) == 0 && static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize < need) {
      return make_error(Errc::kIo, "not enough free space in " + parent + ": need " + std::to_string(need) + " bytes");
    }
    TRY_STATUS(staging.create(opts.extract_to));
    TRY_STATUS(staging.write_file(std::string(kManifestName), head.manifest_bytes));
    for (const auto& s : head.signatures) TRY_STATUS(staging.write_file(s.member, s.text));
  }

  // 3. Every member: listed, once, with the listed size, then the listed digest.
  uint64_t total = 0;
  for (const auto& f : m.files) total += f.size;
  Progress prog(extracting ? "extract" : "verify", total, opts.progress);
  StreamState st;
  TRY_STATUS(stream_members(*tar, head.pending, m, extracting ? &staging : nullptr, wanted, prog, st));
  prog.finish();
  result.members = st.members;
  result.bytes = st.bytes;
  result.data_offsets = std::move(st.data_offsets);

  // 4. Authenticated now: the OCI graph and the zstd frame headers may be looked at.
  TRY_STATUS(check_image_closure(m, st.json_blobs));
  for (const auto& c : m.components) {
    if (!c.content) continue;
    std::string bp = blob_path(c.blob->digest);
    if (!m.find_file(bp)) continue;  // in the base of a delta
    TRY_STATUS(check_frame_header(st.zstd_heads[bp], c.content->size, "component '" + c.name + "'"));
  }
  if (!extracting) return result;
  if (m.base) TRY_STATUS(extract_from_base(opts, m, only, staging));

  // 5. File components come out decompressed and checked against their content digest.
  for (const auto& c : m.components) {
    if (!is_file_component(c.type) || (only && only != &c)) continue;
    std::string dir = "components/" + c.name;
    if (!check_member_name(dir).ok() || c.name.find('/') != std::string::npos) {
      return make_error(Errc::kUnsafe, "component name '" + c.name + "' is not a safe directory name");
    }
    if (::mkdirat(staging.dirfd(), dir.c_str(), 0755) != 0) return sys_error("mkdir " + dir);
    std::string rel = dir + "/" + component_file_name(c);
    TRY_ASSIGN(UniqueFd dst, staging.create_file(rel, component_mode(c)));
    std::string blob = staging.path() + "/" + blob_path(c.blob->digest);
    TRY_ASSIGN(UniqueFd src, open_read(blob));
    if (c.content) {
      TRY_ASSIGN(std::string digest, decompress_fd(src.get(), dst.get(), c.content->size, "component '" + c.name + "'"));
      if (digest != c.content->digest) {
        return make_error(Errc::kIntegrity, "component '" + c.name + "': decompressed content sha256 mismatch (bundle.json says " +
                                                c.content->digest + ", content is " + digest + ")");
      }
    } else {
      std::vector<char> buf(1 << 20);
      for (;;) {
        ssize_t n = ::read(src.get(), buf.data(), buf.size());
        if (n < 0) return sys_error("read " + blob);
        if (n == 0) break;
        TRY_STATUS(write_all(dst.get(), buf.data(), static_cast<size_t>(n), rel));
      }
    }
  }
  TRY_STATUS(staging.commit(opts.extract_to));
  return result;
}

}  // namespace airlock::bundle
