// bundle.yaml loader: strict (unknown keys are errors), with line:col positions from yaml-cpp.
#include "bundle/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "common/clock.h"
#include "common/fs.h"

namespace airlock::bundle {
namespace {

class SpecReader {
 public:
  explicit SpecReader(std::string file) : file_(std::move(file)) {}

  Error err(const YAML::Node& n, const std::string& msg) const {
    auto m = n.Mark();
    return make_error(Errc::kParse, file_ + ":" + std::to_string(m.line + 1) + ":" +
                                        std::to_string(m.column + 1) + ": " + msg);
  }
  std::string where(const YAML::Node& n) const {
    auto m = n.Mark();
    return file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }
  Status keys(const YAML::Node& map, std::set<std::string> allowed, const std::string& ctx) const {
    if (!map.IsMap()) return err(map, ctx + " must be a mapping");
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (!allowed.count(k)) return err(it->first, ctx + ": unknown field '" + k + "'");
    }
    return {};
  }
  Result<std::string> str(const YAML::Node& map, const char* key, const std::string& ctx,
                          bool required) const {
    YAML::Node v = map[key];
    if (!v) {
      if (required) return err(map, ctx + ": missing field '" + key + "'");
      return std::string();
    }
    if (!v.IsScalar()) return err(v, ctx + "." + key + " must be a scalar");
    return v.as<std::string>();
  }
  Result<uint64_t> u64(const YAML::Node& map, const char* key, const std::string& ctx) const {
    YAML::Node v = map[key];
    if (!v) return err(map, ctx + ": missing field '" + key + "'");
    try {
      std::string s = v.as<std::string>();
      if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) throw YAML::Exception({}, "");
      return v.as<uint64_t>();
    } catch (const YAML::Exception&) {
      return err(v, ctx + "." + key + " must be a non-negative integer");
    }
  }

 private:
  std::string file_;
};

nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (auto it = n.begin(); it != n.end(); ++it) j[it->first.as<std::string>()] = yaml_to_json(it->second);
    return j;
  }
  if (n.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : n) j.push_back(yaml_to_json(e));
    return j;
  }
  if (n.IsScalar()) return n.as<std::string>();
  return nullptr;
}

bool is_hex(const std::string& s, size_t min_len, size_t max_len) {
  return s.size() >= min_len && s.size() <= max_len && s.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}

// install.select of a driver-package (drivers/select.h): which nodes the layer is for.
Status check_select(const SpecReader& r, const YAML::Node& sel, const std::string& ctx) {
  TRY_STATUS(r.keys(sel, {"pci_vendor", "pci_devices", "pci_class_prefix", "kernel", "arch"}, ctx));
  if (YAML::Node v = sel["pci_vendor"]) {
    if (!v.IsScalar() || !is_hex(v.Scalar(), 4, 4)) return r.err(v, ctx + ".pci_vendor must be 4 hex digits like \"10de\"");
  }
  if (YAML::Node v = sel["pci_devices"]) {
    if (!v.IsSequence() || v.size() == 0) return r.err(v, ctx + ".pci_devices must be a list like [\"2330\", \"2331\"]");
    for (const auto& d : v) {
      if (!d.IsScalar() || !is_hex(d.Scalar(), 4, 4)) return r.err(d, ctx + ".pci_devices: each must be 4 hex digits");
    }
  }
  if (YAML::Node v = sel["pci_class_prefix"]) {
    if (!v.IsScalar() || !is_hex(v.Scalar(), 2, 6)) {
      return r.err(v, ctx + ".pci_class_prefix must be 2 to 6 hex digits like \"0302\"");
    }
  }
  for (const char* k : {"kernel", "arch"}) {
    if (YAML::Node v = sel[k]; v && (!v.IsScalar() || v.Scalar().empty())) {
      return r.err(v, ctx + "." + k + " must be a text value");
    }
  }
  return {};
}

}  // namespace

Result<BundleSpec> parse_bundle_spec(const std::string& text, const std::string& file,
                                     const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return make_error(Errc::kParse, file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                        std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  SpecReader r(file);
  if (!root.IsMap()) return make_error(Errc::kParse, file + ":1:1: expected a mapping with 'bundle' and 'components'");
  TRY_STATUS(r.keys(root, {"bundle", "components"}, "top level"));
  BundleSpec spec;
  YAML::Node b = root["bundle"];
  if (!b) return r.err(root, "missing 'bundle' section");
  TRY_STATUS(r.keys(b, {"name", "channel", "version", "release", "expires", "expires_in_days",
                        "keys_version", "targets"}, "bundle"));
  TRY_ASSIGN(spec.info.name, r.str(b, "name", "bundle", true));
  TRY_ASSIGN(std::string channel, r.str(b, "channel", "bundle", false));
  if (!channel.empty()) spec.info.channel = channel;
  TRY_ASSIGN(spec.info.version, r.u64(b, "version", "bundle"));
  TRY_ASSIGN(spec.info.release, r.str(b, "release", "bundle", false));
  TRY_ASSIGN(spec.info.expires, r.str(b, "expires", "bundle", false));
  if (!spec.info.expires.empty() && !parse_rfc3339(spec.info.expires).ok()) {
    return r.err(b["expires"], "bundle.expires must look like 2027-05-28T00:00:00Z");
  }
  if (b["expires_in_days"]) {
    TRY_ASSIGN(uint64_t days, r.u64(b, "expires_in_days", "bundle"));
    spec.expires_in_days = static_cast<int64_t>(days);
  }
  if (b["keys_version"]) {
    TRY_ASSIGN(spec.info.keys_version, r.u64(b, "keys_version", "bundle"));
  }
  if (b["targets"]) {
    if (!b["targets"].IsSequence()) return r.err(b["targets"], "bundle.targets must be a list");
    spec.info.targets = yaml_to_json(b["targets"]);
  }

  YAML::Node comps = root["components"];
  if (!comps || !comps.IsSequence()) return r.err(root, "missing 'components' list");
  std::set<std::string> names;
  size_t i = 0;
  for (const auto& c : comps) {
    std::string ctx = "components[" + std::to_string(i++) + "]";
    TRY_STATUS(r.keys(c, {"type", "name", "version", "ref", "layout", "tag", "archive", "format", "image",
                          "platforms", "source", "media_type", "compress", "install"}, ctx));
    ComponentSpec cs;
    cs.where = r.where(c);
    TRY_ASSIGN(cs.type, r.str(c, "type", ctx, true));
    TRY_ASSIGN(cs.name, r.str(c, "name", ctx, true));
    if (!names.insert(cs.name).second) return r.err(c["name"], ctx + ": component name '" + cs.name + "' is used twice");
    if (cs.type == "oci-image") {
      TRY_ASSIGN(cs.ref, r.str(c, "ref", ctx, true));
      TRY_ASSIGN(cs.layout, r.str(c, "layout", ctx, false));
      TRY_ASSIGN(cs.archive, r.str(c, "archive", ctx, false));
      TRY_ASSIGN(cs.image, r.str(c, "image", ctx, false));
      TRY_ASSIGN(cs.format, r.str(c, "format", ctx, false));
      TRY_ASSIGN(cs.tag, r.str(c, "tag", ctx, false));
      int sources = !cs.layout.empty() + !cs.archive.empty() + !cs.image.empty();
      if (sources != 1) {
        return r.err(c, ctx + ": an oci-image needs exactly one of 'layout', 'archive' or 'image'");
      }
      if (!cs.format.empty() && (cs.archive.empty() || (cs.format != "docker-archive" && cs.format != "oci-archive"))) {
        return r.err(c["format"], ctx + ".format must be docker-archive or oci-archive, with 'archive'");
      }
      if (!cs.layout.empty()) cs.layout = join_path(base_dir, cs.layout);
      if (!cs.archive.empty()) cs.archive = join_path(base_dir, cs.archive);
      if (c["platforms"]) {
        if (!c["platforms"].IsSequence()) return r.err(c["platforms"], ctx + ".platforms must be a list like [linux/amd64]");
        for (const auto& p : c["platforms"]) {
          std::string v = p.as<std::string>();
          if (std::count(v.begin(), v.end(), '/') < 1 || std::count(v.begin(), v.end(), '/') > 2) {
            return r.err(p, ctx + ".platforms: '" + v + "' is not os/arch[/variant]");
          }
          cs.platforms.push_back(v);
        }
      }
      for (const char* k : {"source", "media_type", "compress", "version"}) {
        if (c[k]) return r.err(c[k], ctx + ": '" + k + "' does not apply to oci-image");
      }
    } else if (is_file_component(cs.type)) {
      TRY_ASSIGN(cs.version, r.str(c, "version", ctx, true));
      TRY_ASSIGN(cs.source, r.str(c, "source", ctx, true));
      cs.source = join_path(base_dir, cs.source);
      TRY_ASSIGN(cs.media_type, r.str(c, "media_type", ctx, false));
      TRY_ASSIGN(std::string compress, r.str(c, "compress", ctx, false));
      if (!compress.empty()) cs.compress = compress;
      if (cs.compress != "auto" && cs.compress != "always" && cs.compress != "never") {
        return r.err(c["compress"], ctx + ".compress must be auto, always or never");
      }
      for (const char* k : {"layout", "tag", "ref", "archive", "format", "image", "platforms"}) {
        if (c[k]) return r.err(c[k], ctx + ": '" + k + "' applies only to oci-image");
      }
    } else {
      return r.err(c["type"], ctx + ": unknown type '" + cs.type +
                                  "' (use oci-image, service-binary, driver-package or file)");
    }
    if (c["install"]) {
      YAML::Node in = c["install"];
      TRY_STATUS(r.keys(in, {"path", "mode", "method", "order", "owner", "select"}, ctx + ".install"));
      cs.install = yaml_to_json(in);
      if (in["select"]) {
        if (cs.type != "driver-package") return r.err(in["select"], ctx + ".install.select applies only to driver-package");
        TRY_STATUS(check_select(r, in["select"], ctx + ".install.select"));
      }
      if (in["order"]) {
        TRY_ASSIGN(uint64_t order, r.u64(in, "order", ctx + ".install"));
        cs.install["order"] = order;
      }
      if (in["mode"]) {
        std::string mode = cs.install["mode"].get<std::string>();
        if (mode.size() != 4 || mode.find_first_not_of("01234567") != std::string::npos || mode[0] != '0') {
          return r.err(in["mode"], ctx + ".install.mode must be an octal mode like \"0755\"");
        }
      }
      if (in["path"]) {
        std::string p = cs.install["path"].get<std::string>();
        if (p.empty() || p[0] != '/' || p.find("/../") != std::string::npos || p.back() == '/') {
          return r.err(in["path"], ctx + ".install.path must be an absolute file path");
        }
      }
    }
    spec.components.push_back(std::move(cs));
  }
  if (spec.components.empty()) return r.err(comps, "components: the list is empty");
  return spec;
}

Result<BundleSpec> load_bundle_spec(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path, 4ull << 20));
  return parse_bundle_spec(text, path, dirname_of(path));
}

}  // namespace airlock::bundle
