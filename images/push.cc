// Push orchestration over RegistryClient.
#include "images/push.h"

#include <map>

#include "common/progress.h"

namespace airlock::images {

Result<PushResult> push_images(const BundleImages& bundle, PushOptions opts) {
  std::vector<Image> images;
  if (opts.only.empty()) {
    images = bundle.images();
  } else {
    TRY_ASSIGN(Image img, bundle.find(opts.only));
    images.push_back(std::move(img));
  }
  uint64_t total = 0;
  for (const auto& img : images) total += img.bytes;
  Progress progress("push", total, opts.progress);
  opts.registry.on_bytes = [&progress](uint64_t n) { progress.add(n); };
  RegistryClient client(opts.registry);
  TRY_STATUS(client.ping());

  PushResult result;
  std::map<std::string, std::string> pushed_to;  // blob digest -> a repository that has it now
  for (const auto& img : images) {
    const bundle::Component& c = *img.component;
    std::string repo = repository_for(c.name, opts.prefix);
    auto wrap = [&](const Error& e) { return e.wrap("image " + c.name + ":" + c.ref + " -> " + opts.registry.host + "/" + repo); };
    for (const auto& blob : img.blobs) {
      auto has = client.has_blob(repo, blob.digest);
      if (!has.ok()) return wrap(has.error());
      if (*has) {
        ++result.skipped_blobs;
        progress.add(blob.size);
        continue;
      }
      auto from = pushed_to.find(blob.digest);
      if (from != pushed_to.end()) {
        auto mounted = client.mount_blob(repo, blob.digest, from->second);
        if (!mounted.ok()) return wrap(mounted.error());
        if (*mounted) {
          ++result.mounted_blobs;
          progress.add(blob.size);
          continue;
        }
      }
      BlobReader reader = [&bundle, d = blob.digest](uint64_t off, char* buf, size_t len) {
        return bundle.read_blob(d, off, buf, len);
      };
      auto up = client.push_blob(repo, blob.digest, blob.size, reader);
      if (!up.ok()) return wrap(up.error());
      result.resumed = result.resumed || up->resumed;
      ++result.uploaded_blobs;
      result.uploaded_bytes += blob.size;
      pushed_to[blob.digest] = repo;
    }
    for (size_t i = 0; i < img.manifests.size(); ++i) {
      const ImageNode& m = img.manifests[i];
      bool root = i + 1 == img.manifests.size();
      auto st = client.put_manifest(repo, root ? c.ref : m.descriptor.digest, m.descriptor.media_type, m.bytes);
      if (!st.ok()) return wrap(st.error());
      progress.add(m.descriptor.size);
    }
    result.images.push_back({repo, c.ref, c.descriptor->digest});
  }
  progress.finish();
  return result;
}

}  // namespace airlock::images
