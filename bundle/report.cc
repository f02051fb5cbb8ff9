// Rendering of inspect and diff results.
#include "bundle/report.h"

#include <map>

#include "common/encoding.h"
#include "common/sha256.h"

namespace airlock::bundle {
namespace {

std::string version_of(const Component& c) {
  if (c.type == "oci-image") return c.ref + "@" + c.descriptor->digest;
  return c.version + (c.content ? "@" + c.content->digest : "@" + c.blob->digest);
}

uint64_t stored_size(const Component& c, const Manifest& m) {
  uint64_t n = 0;
  for (const auto& d : c.blob_digests()) {
    if (const FileEntry* f = m.find_file(blob_path(d))) n += f->size;
  }
  return n;
}

}  // namespace

nlohmann::json inspect_json(const HeadInfo& info) {
  const Manifest& m = info.manifest;
  nlohmann::json comps = nlohmann::json::array();
  for (const auto& c : m.components) {
    nlohmann::json j = {{"type", c.type}, {"name", c.name}, {"stored_bytes", stored_size(c, m)}};
    if (!c.version.empty()) j["version"] = c.version;
    if (!c.ref.empty()) j["ref"] = c.ref;
    if (c.descriptor) j["digest"] = c.descriptor->digest, j["blobs"] = c.closure.size();
    if (c.blob) j["digest"] = c.blob->digest, j["media_type"] = c.blob->media_type;
    if (c.content) j["content"] = {{"digest", c.content->digest}, {"size", c.content->size}};
    if (!c.install.empty()) j["install"] = c.install;
    if (!c.platforms.empty()) j["platforms"] = c.platforms;
    comps.push_back(j);
  }
  nlohmann::json signers = nlohmann::json::array();
  for (const auto& s : info.signers) {
    signers.push_back({{"key_id", s.key_id}, {"member", s.member}, {"trusted_comment", s.trusted_comment},
                       {"verified", info.signatures_checked && s.pinned}});
  }
  uint64_t total = 0;
  for (const auto& f : m.files) total += f.size;
  nlohmann::json out = {{"name", m.bundle.name},
                        {"channel", m.bundle.channel},
                        {"version", m.bundle.version},
                        {"release", m.bundle.release},
                        {"created", m.bundle.created},
                        {"expires", m.bundle.expires},
                        {"min_verifier", m.bundle.min_verifier},
                        {"targets", m.bundle.targets},
                        {"manifest_digest", info.head.manifest_digest},
                        {"files", m.files.size()},
                        {"bytes", total},
                        {"signatures_checked", info.signatures_checked},
                        {"signers", signers},
                        {"components", comps},
                        {"base", nullptr}};
  if (m.base) {
    out["base"] = {{"name", m.base->name}, {"version", m.base->version}, {"manifest", m.base->manifest}};
  }
  return out;
}

std::string inspect_text(const HeadInfo& info) {
  const Manifest& m = info.manifest;
  uint64_t total = 0;
  for (const auto& f : m.files) total += f.size;
  std::string out;
  out += "bundle   " + m.bundle.name + " (" + m.bundle.channel + ") version " + std::to_string(m.bundle.version);
  if (!m.bundle.release.empty()) out += ", release " + m.bundle.release;
  out += "\ncreated  " + m.bundle.created + "\n";
  out += "expires  " + (m.bundle.expires.empty() ? std::string("never") : m.bundle.expires) + "\n";
  out += "manifest " + info.head.manifest_digest + "\n";
  out += "size     " + human_bytes(total) + " in " + std::to_string(m.files.size()) + " files\n";
  if (m.base) {
    out += "delta    on " + m.base->name + " version " + std::to_string(m.base->version) + " (" + m.base->manifest + ")\n";
  }
  for (const auto& s : info.signers) {
    std::string state = !info.signatures_checked ? "not checked (give --pub)" : s.pinned ? "verified" : "unknown key";
    out += "signer   " + (s.key_id.empty() ? std::string("(unreadable)") : s.key_id) + "  " + state + "\n";
  }
  out += "\ncomponents:\n";
  for (const auto& c : m.components) {
    char line[512];
    std::string ver = c.type == "oci-image" ? c.ref : c.version;
    std::snprintf(line, sizeof line, "  %-15s %-28s %-14s %10s  %s\n", c.type.c_str(), c.name.c_str(), ver.c_str(),
                  human_bytes(stored_size(c, m)).c_str(),
                  (c.descriptor ? c.descriptor->digest : c.blob->digest).substr(0, 19).c_str());
    out += line;
  }
  return out;
}

std::string sha256sum_listing(const HeadInfo& info) {
  std::string out = std::string(digest_hex(info.head.manifest_digest)) + "  bundle.json\n";
  for (const auto& f : info.manifest.files) out += std::string(digest_hex(f.digest)) + "  " + f.path + "\n";
  return out;
}

BundleDiff diff_manifests(const Manifest& o, const Manifest& n) {
  BundleDiff d;
  std::map<std::string, const Component*> old_by_name, new_by_name;
  for (const auto& c : o.components) old_by_name[c.name] = &c;
  for (const auto& c : n.components) new_by_name[c.name] = &c;
  for (const auto& [name, c] : new_by_name) {
    auto it = old_by_name.find(name);
    if (it == old_by_name.end()) {
      d.added.push_back({name, c->type, "", version_of(*c)});
    } else if (version_of(*it->second) != version_of(*c) || it->second->type != c->type) {
      d.changed.push_back({name, c->type, version_of(*it->second), version_of(*c)});
    } else {
      ++d.unchanged;
    }
  }
  for (const auto& [name, c] : old_by_name) {
    if (!new_by_name.count(name)) d.removed.push_back({name, c->type, version_of(*c), ""});
  }
  for (const auto& f : n.files) {
    d.new_bytes += f.size;
    const FileEntry* of = o.find_file(f.path);
    if (!of || of->digest != f.digest) {
      d.delta_bytes += f.size;
      ++d.delta_files;
    }
  }
  return d;
}

nlohmann::json diff_json(const BundleDiff& d) {
  auto list = [](const std::vector<ComponentChange>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : v) a.push_back({{"name", c.name}, {"type", c.type}, {"old", c.old_version}, {"new", c.new_version}});
    return a;
  };
  return {{"added", list(d.added)},     {"removed", list(d.removed)},   {"changed", list(d.changed)},
          {"unchanged", d.unchanged},   {"delta_bytes", d.delta_bytes}, {"delta_files", d.delta_files},
          {"new_bytes", d.new_bytes}};
}

std::string diff_text(const BundleDiff& d, const Manifest& o, const Manifest& n) {
  std::string out = o.bundle.name + " " + std::to_string(o.bundle.version) + " -> " + n.bundle.name + " " +
                    std::to_string(n.bundle.version) + "\n";
  for (const auto& c : d.added) out += "  + " + c.name + " (" + c.type + ") " + c.new_version + "\n";
  for (const auto& c : d.removed) out += "  - " + c.name + " (" + c.type + ") " + c.old_version + "\n";
  for (const auto& c : d.changed) out += "  ~ " + c.name + " (" + c.type + ") " + c.old_version + " -> " + c.new_version + "\n";
  out += std::to_string(d.added.size()) + " added, " + std::to_string(d.removed.size()) + " removed, " +
         std::to_string(d.changed.size()) + " changed, " + std::to_string(d.unchanged) + " unchanged\n";
  out += "a delta bundle needs " + human_bytes(d.delta_bytes) + " in " + std::to_string(d.delta_files) +
         " files (the new bundle's members: " + human_bytes(d.new_bytes) + ")\n";
  return out;
}

}  // namespace airlock::bundle
