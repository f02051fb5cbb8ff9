// What `bundle inspect` and `bundle diff` print: text for people, JSON for scripts, and a
// `sha256sum -c` listing of every stored member.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/head.h"
#include "bundle/manifest.h"

namespace airlock::bundle {

nlohmann::json inspect_json(const HeadInfo& info);
std::string inspect_text(const HeadInfo& info);
// "<hex>  <path>" lines for bundle.json and every listed file, as `sha256sum -c` reads them.
std::string sha256sum_listing(const HeadInfo& info);

struct ComponentChange {
  std::string name;
  std::string type;
  std::string old_version;  // version, or ref@digest for images
  std::string new_version;
};

struct BundleDiff {
  std::vector<ComponentChange> added, removed, changed;
  uint64_t unchanged = 0;
  uint64_t delta_bytes = 0;  // bytes of files in NEW that OLD does not have
  uint64_t delta_files = 0;
  uint64_t new_bytes = 0;    // all bytes of NEW's files
};

BundleDiff diff_manifests(const Manifest& old_m, const Manifest& new_m);
nlohmann::json diff_json(const BundleDiff& d);
std::string diff_text(const BundleDiff& d, const Manifest& old_m, const Manifest& new_m);

}  // namespace airlock::bundle
