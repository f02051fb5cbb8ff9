// bundle.json model <-> bytes. The parser rejects anything the format does not allow: unknown
// fields, bad digests, unsorted or duplicate files, blob paths that do not equal their digest,
// duplicate component names, references to blobs that are not listed.
#include "bundle/manifest.h"

#include <algorithm>
#include <set>

#include "common/json.h"
#include "common/sha256.h"

namespace airlock::bundle {

using nlohmann::json;

std::string blob_path(std::string_view digest) {
  return "blobs/sha256/" + std::string(digest_hex(digest));
}

bool is_file_component(std::string_view t) {
  return t == "service-binary" || t == "driver-package" || t == "file";
}

std::vector<std::string> Component::blob_digests() const {
  std::vector<std::string> out = closure;
  if (blob) out.push_back(blob->digest);
  return out;
}

const FileEntry* Manifest::find_file(std::string_view path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const FileEntry& f, std::string_view p) { return f.path < p; });
  return (it != files.end() && it->path == path) ? &*it : nullptr;
}

const Component* Manifest::find_component(std::string_view name) const {
  for (const auto& c : components) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

json descriptor_json(const Descriptor& d) {
  return json{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
}

}  // namespace

std::string serialize_manifest(const Manifest& m) {
  json b = {{"name", m.bundle.name},
            {"channel", m.bundle.channel},
            {"version", m.bundle.version},
            {"release", m.bundle.release},
            {"created", m.bundle.created},
            {"keysVersion", m.bundle.keys_version},
            {"minVerifier", m.bundle.min_verifier},
            {"targets", m.bundle.targets}};
  if (!m.bundle.expires.empty()) b["expires"] = m.bundle.expires;
  json comps = json::array();
  for (const auto& c : m.components) {
    json j = {{"type", c.type}, {"name", c.name}};
    if (!c.version.empty()) j["version"] = c.version;
    if (!c.ref.empty()) j["ref"] = c.ref;
    if (!c.source.empty()) j["source"] = c.source;
    if (c.descriptor) j["descriptor"] = descriptor_json(*c.descriptor);
    if (!c.closure.empty()) j["closure"] = c.closure;
    if (c.blob) j["blob"] = descriptor_json(*c.blob);
    if (c.content) j["content"] = {{"digest", c.content->digest}, {"size", c.content->size}};
    if (!c.install.empty()) j["install"] = c.install;
    if (!c.platforms.empty()) j["platforms"] = c.platforms;
    comps.push_back(std::move(j));
  }
  json files = json::array();
  for (const auto& f : m.files) {
    files.push_back({{"path", f.path}, {"size", f.size}, {"digest", f.digest}});
  }
  json doc = {{"mediaType", kManifestMediaType},
              {"schemaVersion", 1},
              {"bundle", b},
              {"components", comps},
              {"files", files}};
  if (m.base) {
    doc["base"] = {{"name", m.base->name}, {"version", m.base->version}, {"manifest", m.base->manifest}};
  }
  return doc.dump(2) + "\n";
}

namespace {

// Field access that turns a wrong type or a missing key into an error naming the field.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  Status only_keys(const json& obj, std::initializer_list<const char*> allowed) const {
    if (!obj.is_object()) return bad("", "must be an object");
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool ok = false;
      for (const char* a : allowed) ok = ok || it.key() == a;
      if (!ok) return bad(it.key(), "unknown field");
    }
    return {};
  }
  Result<std::string> str(const json& obj, const char* key, bool required = true) const {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) return bad(key, "missing");
      return std::string();
    }
    if (!it->is_string()) return bad(key, "must be a string");
    return it->get<std::string>();
  }
  Result<uint64_t> u64(const json& obj, const char* key, bool required = true) const {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) return bad(key, "missing");
      return uint64_t{0};
    }
    if (!it->is_number_unsigned()) return bad(key, "must be a non-negative integer");
    return it->get<uint64_t>();
  }
  Result<std::string> digest(const json& obj, const char* key) const {
    TRY_ASSIGN(std::string d, str(obj, key));
    if (!is_valid_digest(d)) return bad(key, "not a valid sha256 digest: '" + d + "'");
    return d;
  }
  Result<Descriptor> descriptor(const json& obj, const char* key) const {
    Reader sub(path_ + "." + key);
    const json& d = obj.at(key);
    TRY_STATUS(sub.only_keys(d, {"mediaType", "digest", "size", "annotations"}));
    Descriptor out;
    TRY_ASSIGN(out.media_type, sub.str(d, "mediaType"));
    TRY_ASSIGN(out.digest, sub.digest(d, "digest"));
    TRY_ASSIGN(out.size, sub.u64(d, "size"));
    return out;
  }
  Error bad(std::string_view key, std::string_view why) const {
    std::string where = path_;
    if (!key.empty()) where += (where.empty() ? "" : ".") + std::string(key);
    return make_error(Errc::kParse, "bundle.json: " + where + ": " + std::string(why));
  }

 private:
  std::string path_;
};

Result<Component> parse_component(const json& j, size_t index) {
  Reader r("components[" + std::to_string(index) + "]");
  TRY_STATUS(r.only_keys(j, {"type", "name", "version", "ref", "source", "descriptor", "closure", "blob",
                             "content", "install", "platforms"}));
  Component c;
  TRY_ASSIGN(c.type, r.str(j, "type"));
  TRY_ASSIGN(c.name, r.str(j, "name"));
  if (c.name.empty()) return r.bad("name", "must not be empty");
  TRY_ASSIGN(c.version, r.str(j, "version", false));
  TRY_ASSIGN(c.ref, r.str(j, "ref", false));
  TRY_ASSIGN(c.source, r.str(j, "source", false));
  if (c.type == "oci-image") {
    if (!j.contains("descriptor")) return r.bad("descriptor", "missing");
    TRY_ASSIGN(c.descriptor, r.descriptor(j, "descriptor"));
    if (!j.contains("closure") || !j["closure"].is_array()) return r.bad("closure", "missing");
    for (const auto& d : j["closure"]) {
      if (!d.is_string() || !is_valid_digest(d.get<std::string>())) {
        return r.bad("closure", "holds an invalid digest");
      }
      c.closure.push_back(d.get<std::string>());
    }
    if (!std::is_sorted(c.closure.begin(), c.closure.end()) ||
        std::adjacent_find(c.closure.begin(), c.closure.end()) != c.closure.end()) {
      return r.bad("closure", "must be sorted and free of duplicates");
    }
  } else if (is_file_component(c.type)) {
    if (!j.contains("blob")) return r.bad("blob", "missing");
    TRY_ASSIGN(c.blob, r.descriptor(j, "blob"));
    if (j.contains("content")) {
      Reader cr("components[" + std::to_string(index) + "].content");
      TRY_STATUS(cr.only_keys(j["content"], {"digest", "size"}));
      ContentInfo ci;
      TRY_ASSIGN(ci.digest, cr.digest(j["content"], "digest"));
      TRY_ASSIGN(ci.size, cr.u64(j["content"], "size"));
      c.content = ci;
    }
  } else {
    return r.bad("type", "unknown component type '" + c.type + "'");
  }
  if (j.contains("install")) {
    if (!j["install"].is_object()) return r.bad("install", "must be an object");
    c.install = j["install"];
  }
  if (j.contains("platforms")) {
    if (!j["platforms"].is_array()) return r.bad("platforms", "must be an array");
    c.platforms = j["platforms"];
  }
  return c;
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view bytes) {
  if (bytes.size() > kManifestMaxBytes) {
    return make_error(Errc::kLimit, "bundle.json: larger than 16 MiB");
  }
  TRY_ASSIGN(json doc, parse_json_strict(bytes, "bundle.json"));
  Reader top("");
  TRY_STATUS(top.only_keys(doc, {"mediaType", "schemaVersion", "bundle", "components", "files", "base"}));
  TRY_ASSIGN(std::string media_type, top.str(doc, "mediaType"));
  if (media_type != kManifestMediaType) {
    return make_error(Errc::kUnsupported, "bundle.json: unknown mediaType '" + media_type + "'");
  }
  TRY_ASSIGN(uint64_t schema, top.u64(doc, "schemaVersion"));
  if (schema != 1) {
    return make_error(Errc::kUnsupported,
                      "bundle.json: schemaVersion " + std::to_string(schema) + " is not supported");
  }
  Manifest m;
  if (!doc.contains("bundle")) return top.bad("bundle", "missing");
  const json& b = doc["bundle"];
  Reader br("bundle");
  TRY_STATUS(br.only_keys(b, {"name", "channel", "version", "release", "created", "expires",
                              "keysVersion", "minVerifier", "targets"}));
  TRY_ASSIGN(m.bundle.name, br.str(b, "name"));
  TRY_ASSIGN(m.bundle.channel, br.str(b, "channel"));
  TRY_ASSIGN(m.bundle.version, br.u64(b, "version"));
  TRY_ASSIGN(m.bundle.release, br.str(b, "release", false));
  TRY_ASSIGN(m.bundle.created, br.str(b, "created"));
  TRY_ASSIGN(m.bundle.expires, br.str(b, "expires", false));
  TRY_ASSIGN(m.bundle.keys_version, br.u64(b, "keysVersion", false));
  TRY_ASSIGN(m.bundle.min_verifier, br.str(b, "minVerifier", false));
  if (b.contains("targets")) {
    if (!b["targets"].is_array()) return br.bad("targets", "must be an array");
    m.bundle.targets = b["targets"];
  }

  if (!doc.contains("components") || !doc["components"].is_array()) {
    return top.bad("components", "missing or not an array");
  }
  std::set<std::string> names;
  size_t i = 0;
  for (const auto& cj : doc["components"]) {
    TRY_ASSIGN(Component c, parse_component(cj, i));
    if (!names.insert(c.name).second) {
      return make_error(Errc::kParse, "bundle.json: component '" + c.name + "' is listed twice");
    }
    m.components.push_back(std::move(c));
    ++i;
  }

  if (!doc.contains("files") || !doc["files"].is_array()) return top.bad("files", "missing or not an array");
  i = 0;
  for (const auto& fj : doc["files"]) {
    Reader fr("files[" + std::to_string(i++) + "]");
    TRY_STATUS(fr.only_keys(fj, {"path", "size", "digest"}));
    FileEntry f;
    TRY_ASSIGN(f.path, fr.str(fj, "path"));
    TRY_ASSIGN(f.size, fr.u64(fj, "size"));
    TRY_ASSIGN(f.digest, fr.digest(fj, "digest"));
    if (f.path.rfind("blobs/sha256/", 0) == 0 && f.path != blob_path(f.digest)) {
      return fr.bad("path", "'" + f.path + "' does not match its digest " + f.digest);
    }
    if (f.path == kManifestName || f.path.rfind("bundle.json.", 0) == 0 || f.path.rfind("trust/", 0) == 0) {
      return fr.bad("path", "'" + f.path + "' must not be listed in files");
    }
    if (!m.files.empty() && !(m.files.back().path < f.path)) {
      return fr.bad("path", "'" + f.path + "' is out of order or duplicated (files must be sorted by path)");
    }
    m.files.push_back(std::move(f));
  }

  if (doc.contains("base")) {
    Reader rr("base");
    TRY_STATUS(rr.only_keys(doc["base"], {"name", "version", "manifest"}));
    BaseRef base;
    TRY_ASSIGN(base.name, rr.str(doc["base"], "name"));
    TRY_ASSIGN(base.version, rr.u64(doc["base"], "version"));
    TRY_ASSIGN(base.manifest, rr.digest(doc["base"], "manifest"));
    m.base = base;
  }

  // Closure: every blob a component names is a listed file (a delta may leave them to its base),
  // with the size the component claims.
  for (const auto& c : m.components) {
    std::vector<std::pair<std::string, uint64_t>> refs;
    if (c.descriptor) refs.emplace_back(c.descriptor->digest, c.descriptor->size);
    if (c.blob) refs.emplace_back(c.blob->digest, c.blob->size);
    for (const auto& d : c.closure) refs.emplace_back(d, UINT64_MAX);
    for (const auto& [digest, size] : refs) {
      const FileEntry* f = m.find_file(blob_path(digest));
      if (f == nullptr) {
        if (m.base) continue;
        return make_error(Errc::kIntegrity, "bundle.json: component '" + c.name +
                                                "' needs blob " + digest + ", which is not listed in files");
      }
      if (size != UINT64_MAX && f->size != size) {
        return make_error(Errc::kIntegrity, "bundle.json: component '" + c.name + "' says blob " +
                                                digest + " has " + std::to_string(size) +
                                                " bytes, files says " + std::to_string(f->size));
      }
    }
    if (c.descriptor && std::find(c.closure.begin(), c.closure.end(), c.descriptor->digest) == c.closure.end()) {
      return make_error(Errc::kIntegrity, "bundle.json: component '" + c.name + "': closure lacks its own descriptor");
    }
  }
  // Unreferenced blobs are refused (our profile; OCI would allow them).
  std::set<std::string> referenced;
  for (const auto& c : m.components) {
    for (auto& d : c.blob_digests()) referenced.insert(blob_path(d));
  }
  for (const auto& f : m.files) {
    if (f.path.rfind("blobs/", 0) == 0 && !referenced.count(f.path)) {
      return make_error(Errc::kIntegrity, "bundle.json: blob " + f.path + " is listed but no component uses it");
    }
  }
  return m;
}

std::string trusted_comment_for(const Manifest& m, int64_t timestamp) {
  return "timestamp:" + std::to_string(timestamp) + "\tfile:bundle.json\thashed\tbundle:" +
         m.bundle.name + "\tchannel:" + m.bundle.channel + "\tversion:" +
         std::to_string(m.bundle.version) + "\tkeys:" + std::to_string(m.bundle.keys_version);
}

Status check_trusted_comment(std::string_view tc, const Manifest& m, std::string_view what) {
  std::map<std::string, std::string> fields;
  size_t start = 0;
  while (start <= tc.size()) {
    size_t tab = tc.find('\t', start);
    if (tab == std::string_view::npos) tab = tc.size();
    std::string_view item = tc.substr(start, tab - start);
    size_t colon = item.find(':');
    if (colon != std::string_view::npos) {
      fields[std::string(item.substr(0, colon))] = std::string(item.substr(colon + 1));
    }
    start = tab + 1;
  }
  const std::pair<const char*, std::string> want[] = {
      {"file", "bundle.json"},
      {"bundle", m.bundle.name},
      {"channel", m.bundle.channel},
      {"version", std::to_string(m.bundle.version)}};
  for (const auto& [key, value] : want) {
    auto it = fields.find(key);
    if (it == fields.end()) {
      return make_error(Errc::kSignature, std::string(what) + ": trusted comment lacks '" + key + ":'");
    }
    if (it->second != value) {
      return make_error(Errc::kSignature, std::string(what) + ": trusted comment says " + key + ":" +
                                              it->second + " but bundle.json says " + value);
    }
  }
  return {};
}

int compare_versions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s) {
    size_t dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    s = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    return part;
  };
  while (!a.empty() || !b.empty()) {
    std::string_view pa = next(a), pb = next(b);
    bool na = !pa.empty() && pa.find_first_not_of("0123456789") == std::string_view::npos;
    bool nb = !pb.empty() && pb.find_first_not_of("0123456789") == std::string_view::npos;
    if (na && nb) {
      unsigned long long x = std::stoull(std::string(pa)), y = std::stoull(std::string(pb));
      if (x != y) return x < y ? -1 : 1;
    } else if (pa != pb) {
      return pa < pb ? -1 : 1;
    }
  }
  return 0;
}

}  // namespace airlock::bundle
