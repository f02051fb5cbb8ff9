// Image graphs from the verified bundle's manifests; blob reads by offset.
#include "images/bundle_images.h"

#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "bundle/oci_layout.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace airlock::images {

using bundle::Descriptor;

Result<BundleImages> BundleImages::open(const std::string& path, const bundle::VerifyOptions& opts) {
  BundleImages b;
  TRY_ASSIGN(b.verified_, bundle::verify_bundle(path, opts));
  TRY_ASSIGN(auto file, bundle::PartsPread::open(path));
  b.file_ = std::move(file);
  return b;
}

BundleImages BundleImages::from_files(bundle::Manifest manifest, BlobPathFn path_of) {
  BundleImages b;
  b.verified_.manifest = std::move(manifest);
  b.path_of_ = std::move(path_of);
  return b;
}

uint64_t BundleImages::blob_size(const std::string& digest) const {
  const bundle::FileEntry* f = verified_.manifest.find_file(bundle::blob_path(digest));
  if (f) return f->size;
  std::string path = path_of_ ? path_of_(digest) : "";
  struct stat st;
  if (!path.empty() && ::stat(path.c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  return 0;
}

Status BundleImages::read_blob(const std::string& digest, uint64_t offset, char* buf, size_t len) const {
  if (!file_) {
    std::string path = path_of_ ? path_of_(digest) : "";
    if (path.empty()) return make_error(Errc::kNotFound, "blob " + digest + " is not among the extracted blobs");
    TRY_ASSIGN(UniqueFd fd, open_read(path));
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd.get(), buf + done, len - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sys_error("read " + path);
      if (n == 0) return make_error(Errc::kIntegrity, path + " is shorter than blob " + digest + " says");
      done += static_cast<size_t>(n);
    }
    return {};
  }
  std::string member = bundle::blob_path(digest);
  auto it = verified_.data_offsets.find(member);
  if (it == verified_.data_offsets.end()) {
    return make_error(Errc::kNotFound, "blob " + digest + " is not in this bundle (a delta's base holds it?)");
  }
  if (offset + len > blob_size(digest)) return make_error(Errc::kInternal, "read past the end of " + member);
  return file_->read_at(it->second + offset, buf, len);
}

Result<std::string> BundleImages::read_small_blob(const std::string& digest) const {
  uint64_t size = blob_size(digest);
  if (size > (4u << 20)) return make_error(Errc::kLimit, "blob " + digest + " is too large for a manifest");
  std::string out(size, '\0');
  TRY_STATUS(read_blob(digest, 0, out.data(), out.size()));
  if (sha256_digest(out) != digest) {
    return make_error(Errc::kIntegrity, "blob " + digest + " changed since the bundle was verified");
  }
  return out;
}

Result<Image> BundleImages::image_of(const bundle::Component& c) const {
  Image img;
  img.component = &c;
  std::set<std::string> seen;
  // Depth-first, children before parents, so pushing in this order never names a missing child.
  std::function<Status(const Descriptor&)> walk = [&](const Descriptor& d) -> Status {
    if (!seen.insert(d.digest).second) return {};
    img.bytes += d.size;
    if (!bundle::is_index_media_type(d.media_type) && !bundle::is_manifest_media_type(d.media_type)) {
      img.blobs.push_back(d);
      return {};
    }
    TRY_ASSIGN(std::string bytes, read_small_blob(d.digest));
    TRY_ASSIGN(auto children, bundle::oci_children(bytes, d.media_type, "image '" + c.name + "'"));
    for (const auto& ch : children) TRY_STATUS(walk(ch));
    img.manifests.push_back(ImageNode{d, std::move(bytes)});
    return {};
  };
  TRY_STATUS(walk(*c.descriptor));
  return img;
}

std::vector<Image> BundleImages::images() const {
  std::vector<Image> out;
  for (const auto& c : verified_.manifest.components) {
    if (c.type != "oci-image") continue;
    auto img = image_of(c);
    if (img.ok()) out.push_back(std::move(img).value());
  }
  return out;
}

Result<Image> BundleImages::find(std::string_view ref) const {
  std::string names;
  for (const auto& c : verified_.manifest.components) {
    if (c.type != "oci-image") continue;
    std::string full = c.name + ":" + c.ref;
    if (ref == c.name || ref == full) return image_of(c);
    names += (names.empty() ? "" : ", ") + full;
  }
  return make_error(Errc::kInvalidArgument, "no image '" + std::string(ref) + "' in the bundle (images: " +
                                                (names.empty() ? "none" : names) + ")");
}

std::string repository_for(std::string_view name, std::string_view prefix) {
  std::string repo(name);
  auto slash = repo.find('/');
  if (slash != std::string::npos) {
    std::string first = repo.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost") {
      repo = repo.substr(slash + 1);
    }
  }
  std::string p(prefix);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p.empty() ? repo : p + "/" + repo;
}

}  // namespace airlock::images
