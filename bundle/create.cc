// Bundle creation. Each payload is read once to hash it, or to compress and hash it; payloads
// stored as they are (OCI blobs, already-compressed files) are hashed on a second thread while
// the main thread compresses, then copied into the tar with a check that they did not change.
#include "bundle/create.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>
#include <thread>

#include "bundle/head.h"
#include "bundle/oci_layout.h"
#include "bundle/parts.h"
#include "bundle/tar_writer.h"
#include "bundle/zstd_codec.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/fs.h"
#include "common/progress.h"
#include "common/read_ahead.h"
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

Result<FileIdentity> identity_of(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error("stat " + path);
  return FileIdentity{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size),
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// A payload stored as it is: hashed on the hasher thread while the main thread compresses.
struct HashJob {
  std::string path;
  std::string expected;  // OCI blobs: the digest the layout names; empty: compute it
  std::string where;     // for errors
  std::string digest;
  uint64_t size = 0;
  FileIdentity identity;
  std::optional<Error> error;
};

void run_hash_job(HashJob& job) {
  auto fd = open_read(job.path);
  if (!fd.ok()) {
    job.error = fd.error();
    return;
  }
  ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  auto id = identity_of(fd->get(), job.path);
  if (!id.ok()) {
    job.error = id.error();
    return;
  }
  job.identity = *id;
  Sha256 hash;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd->get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job.error = sys_error("read " + job.path);
      return;
    }
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    job.size += static_cast<uint64_t>(n);
  }
  job.digest = hash.finish_digest();
  if (job.size != id->size) job.error = make_error(Errc::kIo, job.path + ": changed size while being hashed");
}

// What planning collects before the blobs are final.
struct Planner {
  const CreateOptions& opts;
  BundlePlan& plan;
  std::vector<HashJob> hash_jobs;
  std::vector<std::pair<size_t, size_t>> raw_components;  // component index -> hash job index

  void add_hash_job(const std::string& path, const std::string& expected, const ComponentSpec& c) {
    HashJob job;
    job.path = path;
    job.expected = expected;
    job.where = c.where + ": component '" + c.name + "'";
    hash_jobs.push_back(std::move(job));
  }

  Status add_blob(const std::string& digest, uint64_t size, BlobSource src) {
    std::string path = blob_path(digest);
    if (plan.blobs.count(path)) return {};  // shared with another component: stored once
    plan.blobs[path] = std::move(src);
    plan.manifest.files.push_back({path, size, digest});
    return {};
  }

  Result<bool> should_compress(const ComponentSpec& c) {
    auto head = read_head_bytes(c.source, 64);
    if (!head.ok()) return head.error().wrap(c.where + ": component '" + c.name + "'");
    return c.compress == "always" || (c.compress == "auto" && !looks_compressed(*head));
  }

  Result<Component> file_component(const ComponentSpec& c, size_t index, bool compress) {
    Component comp;
    comp.type = c.type;
    comp.name = c.name;
    comp.version = c.version;
    comp.install = c.install;
    if (c.type == "service-binary" && !comp.install.contains("mode")) comp.install["mode"] = "0755";
    auto head = read_head_bytes(c.source, 64);
    if (!head.ok()) return head.error().wrap(c.where + ": component '" + c.name + "'");
    std::string media_type = default_media_type(c, *head);
    if (!compress) {  // digest comes from the hasher thread
      comp.blob = Descriptor{media_type, "", 0};
      raw_components.emplace_back(index, hash_jobs.size());
      add_hash_job(c.source, "", c);
      return comp;
    }
    std::string tmp = join_path(opts.work_dir, "payload-" + std::to_string(index) + ".zst");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("cannot create " + tmp);
    UniqueFd guard(fd);
    auto r = compress_file(c.source, fd, tmp, opts.level, opts.workers);
    if (!r.ok()) return r.error().wrap(c.where + ": component '" + c.name + "'");
    comp.blob = Descriptor{media_type + "+zstd", r->blob_digest, r->blob_size};
    comp.content = ContentInfo{r->content_digest, r->content_size};
    TRY_STATUS(add_blob(r->blob_digest, r->blob_size, BlobSource{tmp, r->blob_size, {}}));
    return comp;
  }

  Result<Component> image_component(const ComponentSpec& c) {
    if (c.layout.empty()) {
      return make_error(Errc::kInternal, c.where + ": component '" + c.name +
                                             "': archive and registry inputs must be turned into a layout first");
    }
    std::string tag = c.tag.empty() ? c.ref : c.tag;
    auto img = load_oci_image(c.layout, tag);
    if (!img.ok() && c.tag.empty()) img = load_oci_image(c.layout, "");  // a layout with one untagged image
    if (!img.ok()) return img.error().wrap(c.where + ": component '" + c.name + "'");
    Component comp;
    comp.type = c.type;
    comp.name = c.name;
    comp.ref = c.ref;
    comp.source = c.image;
    comp.descriptor = img->root;
    comp.platforms = img->platforms;
    comp.install = c.install;
    for (const auto& d : img->blobs) {
      comp.closure.push_back(d.digest);
      std::string path = join_path(c.layout, blob_path(d.digest));
      if (!plan.blobs.count(blob_path(d.digest))) {
        add_hash_job(path, d.digest, c);
        TRY_STATUS(add_blob(d.digest, d.size, BlobSource{path, d.size, {}}));
      }
    }
    std::sort(comp.closure.begin(), comp.closure.end());
    return comp;
  }

  // After the hasher thread: check OCI digests, fill in raw payloads, record identities.
  Status finish_hashes() {
    for (auto& job : hash_jobs) {
      if (job.error) return job.error->wrap(job.where);
      if (!job.expected.empty()) {
        if (job.digest != job.expected) {
          return make_error(Errc::kIntegrity, job.where + ": " + job.path + ": content does not match its digest " + job.expected);
        }
        plan.blobs[blob_path(job.expected)].identity = job.identity;
      }
    }
    for (auto [ci, ji] : raw_components) {
      const HashJob& job = hash_jobs[ji];
      Component& comp = plan.manifest.components[ci];
      comp.blob->digest = job.digest;
      comp.blob->size = job.size;
      TRY_STATUS(add_blob(job.digest, job.size, BlobSource{job.path, job.size, job.identity}));
    }
    return {};
  }
};

}  // namespace

std::string make_index_json(const Manifest& m) {
  nlohmann::json idx = {{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.index.v1+json"},
                        {"manifests", nlohmann::json::array()}};
  for (const auto& c : m.components) {
    if (c.type != "oci-image") continue;
    nlohmann::json annotations = {{"org.opencontainers.image.ref.name", c.name + ":" + c.ref},
                                  {"io.airlock.component", c.name}};
    if (!c.source.empty()) annotations["io.airlock.source"] = c.source;  // the original reference, to retag
    idx["manifests"].push_back({{"mediaType", c.descriptor->media_type},
                                {"digest", c.descriptor->digest},
                                {"size", c.descriptor->size},
                                {"annotations", annotations}});
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
  // Images (only their JSON is read) and payloads stored as they are become hash jobs, which a
  // second thread runs while this one compresses the other payloads with zstd.
  Planner planner{opts, plan, {}, {}};
  m.components.resize(spec.components.size());
  std::vector<bool> compress(spec.components.size(), false);
  for (size_t i = 0; i < spec.components.size(); ++i) {
    const auto& c = spec.components[i];
    if (c.type == "oci-image") {
      TRY_ASSIGN(m.components[i], planner.image_component(c));
      continue;
    }
    TRY_ASSIGN(compress[i], planner.should_compress(c));
    if (!compress[i]) {
      TRY_ASSIGN(m.components[i], planner.file_component(c, i, false));
    }
  }
  std::vector<HashJob>& jobs = planner.hash_jobs;
  std::thread hasher([&jobs] {
    for (auto& job : jobs) run_hash_job(job);
  });
  Status compressed;
  for (size_t i = 0; i < spec.components.size() && compressed.ok(); ++i) {
    if (!compress[i]) continue;
    auto comp = planner.file_component(spec.components[i], i, true);
    if (comp.ok()) {
      m.components[i] = std::move(comp).value();
    } else {
      compressed = comp.error();
    }
  }
  hasher.join();
  TRY_STATUS(compressed);
  TRY_STATUS(planner.finish_hashes());
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

  // Blobs in files order, read ahead on a second thread while this one writes the tar.
  std::vector<const FileEntry*> blob_files;
  std::vector<const BlobSource*> sources;
  for (const auto& f : m.files) {
    if (f.path.rfind("blobs/", 0) != 0) continue;
    auto it = plan.blobs.find(f.path);
    if (it == plan.blobs.end()) return make_error(Errc::kInternal, "no source for " + f.path);
    blob_files.push_back(&f);
    sources.push_back(&it->second);
  }
  ReadAhead reader(
      sources.size(),
      [&sources](size_t i) -> Result<UniqueFd> {
        const BlobSource& src = *sources[i];
        TRY_ASSIGN(UniqueFd fd, open_read(src.path));
        if (src.identity != FileIdentity{}) {
          TRY_ASSIGN(FileIdentity now, identity_of(fd.get(), src.path));
          if (now != src.identity) {
            return make_error(Errc::kIo, src.path + ": changed after it was hashed; run bundle create again");
          }
        }
        return fd;
      },
      1 << 20, 4);
  for (size_t i = 0; i < blob_files.size(); ++i) {
    const FileEntry& f = *blob_files[i];
    TRY_STATUS(tar.begin_member(f.path, f.size));
    uint64_t copied = 0;
    for (;;) {
      auto next = reader.next();
      if (!next.ok()) return next.error().wrap("copying " + sources[i]->path);
      if (!*next || (*next)->file != i) return make_error(Errc::kInternal, "read-ahead out of step");
      std::vector<char>& data = (*next)->data;
      if (data.empty()) break;
      if (copied + data.size() > f.size) break;
      TRY_STATUS(tar.write(data.data(), data.size()));
      copied += data.size();
      prog.add(data.size());
      reader.recycle(std::move(data));
    }
    if (copied != f.size) {
      return make_error(Errc::kIo, sources[i]->path + ": changed while the bundle was written (expected " +
                                       std::to_string(f.size) + " bytes)");
    }
  }
  TRY_STATUS(tar.close());
  prog.finish();
  TRY_ASSIGN(result.files, out.commit());
  result.bytes = out.written();
  return result;
}

}  // namespace airlock::bundle
