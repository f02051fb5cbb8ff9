// bundle.json: the one signed manifest (docs/bundle-format.md §A.2). The model, its
// deterministic serialisation (sorted keys, so the same inputs give the same bytes), and a
// strict parser that validates every field before anything acts on it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock::bundle {

inline constexpr std::string_view kManifestMediaType = "application/vnd.airlock.bundle.manifest.v1+json";
inline constexpr std::string_view kManifestName = "bundle.json";
inline constexpr uint64_t kManifestMaxBytes = 16ull << 20;

struct Descriptor {
  std::string media_type;
  std::string digest;
  uint64_t size = 0;
};

struct ContentInfo {  // the uncompressed payload of a blob we compressed (like an OCI DiffID)
  std::string digest;
  uint64_t size = 0;
};

struct Component {
  std::string type;  // oci-image | service-binary | driver-package | file
  std::string name;
  std::string version;                 // all but oci-image
  std::string ref;                     // oci-image: tag
  std::string source;                  // oci-image: the reference it was pulled from, if any
  std::optional<Descriptor> descriptor;  // oci-image: the image index or manifest
  std::vector<std::string> closure;    // oci-image: every blob digest the image needs, sorted
  std::optional<Descriptor> blob;      // file-like components
  std::optional<ContentInfo> content;  // present when blob is our zstd compression
  nlohmann::json install = nlohmann::json::object();  // path, mode, method, order
  nlohmann::json platforms = nlohmann::json::array();

  // Every blob digest this component needs.
  std::vector<std::string> blob_digests() const;
};

struct FileEntry {
  std::string path;
  uint64_t size = 0;
  std::string digest;
};

struct BaseRef {  // a delta bundle names the bundle whose blobs it omits
  std::string name;
  uint64_t version = 0;
  std::string manifest;  // sha256 of the base's bundle.json bytes
};

struct BundleInfo {
  std::string name;
  std::string channel = "stable";
  uint64_t version = 0;
  std::string release;
  std::string created;  // RFC 3339
  std::string expires;  // RFC 3339, empty = never
  uint64_t keys_version = 0;
  std::string min_verifier;
  nlohmann::json targets = nlohmann::json::array();
};

struct Manifest {
  BundleInfo bundle;
  std::vector<Component> components;
  std::vector<FileEntry> files;  // sorted by path
  std::optional<BaseRef> base;

  const FileEntry* find_file(std::string_view path) const;
  const Component* find_component(std::string_view name) const;
};

std::string blob_path(std::string_view digest);  // "blobs/sha256/<hex>"
bool is_file_component(std::string_view type);

std::string serialize_manifest(const Manifest& m);
// Strict parse + validation. Call only on bytes whose signatures have been verified.
Result<Manifest> parse_manifest(std::string_view bytes);

// The trusted comment that every signature of this manifest carries (tab-separated).
std::string trusted_comment_for(const Manifest& m, int64_t timestamp);
// Checks a trusted comment's bundle:/channel:/version:/file: fields against the manifest.
Status check_trusted_comment(std::string_view tc, const Manifest& m, std::string_view what);

// Compares dotted versions ("1.4.0" < "1.10.0"); non-numeric parts compare as text.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace airlock::bundle
