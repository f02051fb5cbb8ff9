// Bundle creation. Each payload is read once to hash it (and compress it when that pays off);
// OCI blobs, whose digests the layout already names, are hashed while being copied instead.
#include "bundle/create.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "bundle/head.h"
#include "bundle/oci_layout.h"
#include "bundle/parts.h"
#include "bundle/tar_writer.h"
#include "bundle/zstd_codec.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/fs.h"
#include "common/progress.h"
#include "common/sha256.h"

namespace airlock::bundle {
namespace {

constexpr const char* kOciLayout = "{\"imageLayoutVersion\":\"1.0.0\"}";

Result<std::string> read_head_bytes(const std::string& path, size_t n) {
  TRY_ASSIGN(UniqueFd fd, open_read(path));
  std::string head(n, '\0');
  ssize_t got = ::read(fd.get(), head.data(), n);
  if (got < 0) return sys_error("read " + path);
  head.resize(static_cast<size_t>(got));
  return head;
}

std::string default_media_type(const ComponentSpec& c, std::string_view head) {
  if (!c.media_type.empty()) return c.media_type;
  if (head.rfind("!<arch>\ndebian-binary", 0) == 0) return "application/vnd.debian.binary-package";
  if (head.rfind("\xed\xab\xee\xdb", 0) == 0) return "application/x-rpm";
  return "application/vnd.airlock.file.v1";
}

Status add_file(Manifest& m, std::map<std::string, BlobSource>& blobs, const std::string& digest,
                uint64_t size, BlobSource src) {
  std::string path = blob_path(digest);
  if (blobs.count(path)) return {};  // shared with another component: stored once
  blobs[path] = std::move(src);
  m.files.push_back({path, size, digest});
  return {};
}

Result<Component> plan_file_component(const ComponentSpec& c, const CreateOptions& opts, Manifest& m,
                                      std::map<std::string, BlobSource>& blobs, size_t index) {
  Component comp;
  comp.type = c.type;
  comp.name = c.name;
  comp.version = c.version;
  comp.install = c.install;
  if (c.type == "service-binary" && !comp.install.contains("mode")) comp.install["mode"] = "0755";
  TRY_ASSIGN(std::string head, read_head_bytes(c.source, 64));
  std::string media_type = default_media_type(c, head);
  bool compress = c.compress == "always" || (c.compress == "auto" && !looks_compressed(head));
  if (compress) {
    std::string tmp = join_path(opts.work_dir, "payload-" + std::to_string(index) + ".zst");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("cannot create " + tmp);
    UniqueFd guard(fd);
    auto r = compress_file(c.source, fd, tmp, opts.level, opts.workers);
    if (!r.ok()) return r.error().wrap(c.where + ": component '" + c.name + "'");
    comp.blob = Descriptor{media_type + "+zstd", r->blob_digest, r->blob_size};
    comp.content = ContentInfo{r->content_digest, r->content_size};
    TRY_STATUS(add_file(m, blobs, r->blob_digest, r->blob_size, BlobSource{tmp, r->blob_size, false}));
  } else {
    auto digest = sha256_file(c.source);
    if (!digest.ok()) return digest.error().wrap(c.where + ": component '" + c.name + "'");
    TRY_ASSIGN(uint64_t size, file_size(c.source));
    comp.blob = Descriptor{media_type, *digest, size};
    TRY_STATUS(add_file(m, blobs, *digest, size, BlobSource{c.source, size, false}));
  }
  return comp;
}

Result<Component> plan_image_component(const ComponentSpec& c, Manifest& m,
                                       std::map<std::string, BlobSource>& blobs) {
  std::string tag = c.tag.empty() ? c.ref : c.tag;
  auto img = load_oci_image(c.layout, tag);
  if (!img.ok() && c.tag.empty()) img = load_oci_image(c.layout, "");  // a layout with one untagged image
  if (!img.ok()) return img.error().wrap(c.where + ": component '" + c.name + "'");
  Component comp;
  comp.type = c.type;
  comp.name = c.name;
  comp.ref = c.ref;
  comp.descriptor = img->root;
  comp.platforms = img->platforms;
  comp.install = c.install;
  for (const auto& d : img->blobs) {
    comp.closure.push_back(d.digest);
    TRY_STATUS(add_file(m, blobs, d.digest, d.size,
                        BlobSource{join_path(c.layout, blob_path(d.digest)), d.size, true}));
  }
  std::sort(comp.closure.begin(), comp.closure.end());
  return comp;
}

}  // namespace

std::string make_index_json(const Manifest& m) {
  nlohmann::json idx = {{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.index.v1+json"},
                        {"manifests", nlohmann::json::array()}};
  for (const auto& c : m.components) {
    if (c.type != "oci-image") continue;
    idx["manifests"].push_back({{"mediaType", c.descriptor->media_type},
                                {"digest", c.descriptor->digest},
                                {"size", c.descriptor->size},
                                {"annotations",
                                 {{"org.opencontainers.image.ref.name", c.name + ":" + c.ref},
                                  {"io.airlock.component", c.name}}}});
  }
  return idx.dump() + "\n";
}

Result<BundlePlan> plan_bundle(const BundleSpec& spec, const CreateOptions& opts) {
  BundlePlan plan;
  Manifest& m = plan.manifest;
  m.bundle = spec.info;
  m.bundle.created = format_rfc3339(opts.source_date_epoch);
  if (spec.expires_in_days) m.bundle.expires = format_rfc3339(opts.source_date_epoch + *spec.expires_in_days * 86400);
  m.bundle.min_verifier = AIRLOCK_VERSION;
  size_t i = 0;
  for (const auto& c : spec.components) {
    Result<Component> comp = c.type == "oci-image" ? plan_image_component(c, m, plan.blobs)
                                                   : plan_file_component(c, opts, m, plan.blobs, i);
    if (!comp.ok()) return comp.error();
    m.components.push_back(std::move(comp).value());
    ++i;
  }
  plan.oci_layout = kOciLayout;
  plan.index_json = make_index_json(m);
  m.files.push_back({"index.json", plan.index_json.size(), sha256_digest(plan.index_json)});
  m.files.push_back({"oci-layout", plan.oci_layout.size(), sha256_digest(plan.oci_layout)});

  if (!opts.base_path.empty()) {
    auto base = load_head(opts.base_path, {}, 0);
    if (!base.ok()) return base.error().wrap("--base " + opts.base_path);
    const Manifest& old = base->manifest;
    if (old.bundle.name != m.bundle.name || old.bundle.channel != m.bundle.channel) {
      return make_error(Errc::kInvalidArgument, "--base " + opts.base_path + " is bundle " + old.bundle.name + "/" +
                                                    old.bundle.channel + ", not " + m.bundle.name + "/" + m.bundle.channel);
    }
    std::vector<FileEntry> kept;
    for (auto& f : m.files) {
      const FileEntry* of = old.find_file(f.path);
      bool in_base = f.path.rfind("blobs/", 0) == 0 && of && of->digest == f.digest && of->size == f.size;
      if (in_base) {
        plan.blobs.erase(f.path);
      } else {
        kept.push_back(f);
      }
    }
    m.files = std::move(kept);
    m.base = BaseRef{old.bundle.name, old.bundle.version, base->head.manifest_digest};
  }
  std::sort(m.files.begin(), m.files.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  // The manifest must satisfy our own strict parser (catches bugs and bad specs before writing).
  auto check = parse_manifest(serialize_manifest(m));
  if (!check.ok()) return check.error().wrap("internal check of the new bundle.json");
  return plan;
}

Result<WriteResult> write_bundle(const BundlePlan& plan, const std::vector<const SecretKey*>& keys,
                                 const std::string& out_path, uint64_t split_size, int64_t signature_time,
                                 bool progress) {
  if (keys.empty()) return make_error(Errc::kInvalidArgument, "no signing key given (--key)");
  WriteResult result;
  const Manifest& m = plan.manifest;
  std::string manifest_bytes = serialize_manifest(m);
  result.manifest_digest = sha256_digest(manifest_bytes);
  std::map<std::string, std::string> sigs;  // member -> text, sorted by key id
  std::set<std::string> pubkeys;
  for (const SecretKey* k : keys) {
    PublicKey pub = k->public_key();
    if (!pubkeys.insert(std::string(pub.pk.begin(), pub.pk.end())).second) continue;
    std::string member = "bundle.json." + key_id_hex(k->key_id) + ".minisig";
    if (sigs.count(member)) return make_error(Errc::kInvalidArgument, "two signing keys share key id " + key_id_hex(k->key_id));
    sigs[member] = sign_message(*k, manifest_bytes, trusted_comment_for(m, signature_time),
                                "signature from airlock secret key " + key_id_hex(k->key_id));
  }

  uint64_t total = 0;
  for (const auto& f : m.files) total += f.size;
  Progress prog("create", total, progress);
  PartsWriter out(out_path, split_size);
  TarWriter tar(out, m.bundle.created.empty() ? 0 : parse_rfc3339(m.bundle.created).value());
  TRY_STATUS(tar.add_member(std::string(kManifestName), manifest_bytes));
  for (const auto& [member, text] : sigs) TRY_STATUS(tar.add_member(member, text));
  TRY_STATUS(tar.add_member("oci-layout", plan.oci_layout));
  TRY_STATUS(tar.add_member("index.json", plan.index_json));

  std::vector<char> buf(1 << 20);
  for (const auto& f : m.files) {
    if (f.path.rfind("blobs/", 0) != 0) continue;
    auto it = plan.blobs.find(f.path);
    if (it == plan.blobs.end()) return make_error(Errc::kInternal, "no source for " + f.path);
    const BlobSource& src = it->second;
    TRY_ASSIGN(UniqueFd fd, open_read(src.path));
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    TRY_STATUS(tar.begin_member(f.path, f.size));
    Sha256 hash;
    uint64_t copied = 0;
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error("read " + src.path);
      }
      if (n == 0) break;
      if (copied + static_cast<uint64_t>(n) > f.size) break;
      if (src.check_digest) hash.update(buf.data(), static_cast<size_t>(n));
      TRY_STATUS(tar.write(buf.data(), static_cast<size_t>(n)));
      copied += static_cast<uint64_t>(n);
      prog.add(static_cast<uint64_t>(n));
    }
    if (copied != f.size) {
      return make_error(Errc::kIo, src.path + ": changed while the bundle was written (expected " +
                                       std::to_string(f.size) + " bytes)");
    }
    if (src.check_digest && hash.finish_digest() != f.digest) {
      return make_error(Errc::kIntegrity, src.path + ": content does not match its digest " + f.digest);
    }
  }
  TRY_STATUS(tar.close());
  prog.finish();
  TRY_ASSIGN(result.files, out.commit());
  result.bytes = out.written();
  return result;
}

}  // namespace airlock::bundle
