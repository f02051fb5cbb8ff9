// The inventory loader (docs/inventory.md): reads the YAML strictly (unknown or repeated keys
// are errors), expands host ranges and their address ranges, merges defaults < groups < host,
// checks bastion and group references and pinned fingerprints, and resolves paths. Every error
// is "file:line:col: message: `offending text`" with yaml-cpp's positions (1-based here).
#include "installer/inventory/inventory.h"

#include <pwd.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <unordered_map>

#include "common/fs.h"
#include "common/yaml/yaml_source.h"
#include "installer/inventory/nodeset.h"

namespace airlock::inventory {
namespace {

constexpr size_t kMaxHosts = 1'000'000;

const std::vector<std::string> kTopKeys = {"ssh", "defaults", "bastions", "groups", "hosts"};
const std::vector<std::string> kSshKeys = {"known_hosts", "connect_timeout", "command_timeout", "max_startups"};
const std::vector<std::string> kBastionKeys = {"address", "port", "user", "identity_file", "host_key", "max_startups"};
// What defaults, groups and hosts may all set.
const std::vector<std::string> kSettingKeys = {"user",  "port", "identity_file", "bastion",
                                               "sudo",  "roles", "labels",       "vars"};
// What only a host sets, besides the settings.
const std::vector<std::string> kHostOnlyKeys = {"address", "local", "groups", "host_key"};

// One layer of settings; unset fields leave what an earlier layer set.
struct Settings {
  std::optional<std::string> user;
  std::optional<int> port;
  std::optional<std::string> identity_file;
  std::optional<std::string> bastion;
  std::optional<bool> sudo;
  std::vector<std::string> roles;
  std::map<std::string, std::string> labels;
  nlohmann::json vars = nlohmann::json::object();
};

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string count(size_t n, const char* one, const char* many = nullptr) {
  return std::to_string(n) + " " + (n == 1 ? one : many != nullptr ? many : std::string(one) + "s");
}

void deep_merge(nlohmann::json& into, const nlohmann::json& from) {
  if (!into.is_object() || !from.is_object()) {
    into = from;
    return;
  }
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (into.contains(it.key())) {
      deep_merge(into[it.key()], it.value());
    } else {
      into[it.key()] = it.value();
    }
  }
}

void apply(const Settings& s, Host* h) {
  if (s.user) h->user = *s.user;
  if (s.port) h->port = *s.port;
  if (s.identity_file) h->identity_file = *s.identity_file;
  if (s.bastion) h->bastion = *s.bastion;
  if (s.sudo) h->sudo = *s.sudo;
  for (const auto& r : s.roles) {
    if (std::find(h->roles.begin(), h->roles.end(), r) == h->roles.end()) h->roles.push_back(r);
  }
  for (const auto& [k, v] : s.labels) h->labels[k] = v;
  deep_merge(h->vars, s.vars);
}

bool is_fingerprint(const std::string& s) {
  static const std::string kPrefix = "SHA256:";
  if (s.size() != kPrefix.size() + 43 || s.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return std::all_of(s.begin() + kPrefix.size(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'; });
}

std::string home_dir() {
  const char* h = std::getenv("HOME");
  if (h != nullptr && *h != '\0') return h;
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "/";
}

// A plain YAML scalar as JSON by YAML 1.2's core schema; quoted scalars stay strings.
nlohmann::json scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool digits = i < s.size() && s.find_first_not_of("0123456789", i) == std::string::npos;
  if (digits && s.size() - i <= 18) return std::stoll(s);
  if (i < s.size() && s.find_first_not_of("0123456789.eE+-", i) == std::string::npos &&
      std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end != nullptr && *end == '\0') return d;
  }
  return s;
}

class Reader : public YamlSource {
 public:
  using YamlSource::YamlSource;

  Result<std::string> text(const YAML::Node& k, const YAML::Node& v, const std::string& what, bool allow_empty) const {
    if (v.IsNull() && allow_empty) return std::string();
    if (!v.IsScalar()) return err_value(k, v, what + ": " + k.Scalar() + " must be a text value");
    if (v.Scalar().empty() && !allow_empty) return err_value(k, v, what + ": " + k.Scalar() + " must not be empty");
    return v.Scalar();
  }

  Result<int> integer(const YAML::Node& k, const YAML::Node& v, const std::string& what, int min, int max) const {
    std::string msg = what + ": " + k.Scalar() + " must be a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max);
    if (!v.IsScalar()) return err_value(k, v, msg);
    const std::string& s = v.Scalar();
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return err(v, msg);
    int n = std::stoi(s);
    if (n < min || n > max) return err(v, msg);
    return n;
  }

  Result<bool> boolean(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
    std::string msg = what + ": " + k.Scalar() + " must be true or false";
    if (!v.IsScalar()) return err_value(k, v, msg);
    const std::string& s = v.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    return err(v, msg);
  }

  // A list of text values; a single text value is a list of one. Returns the item nodes too
  // so that callers can point at the bad one.
  Result<std::vector<YAML::Node>> list(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
    std::vector<YAML::Node> out;
    if (v.IsScalar()) {
      out.push_back(v);
    } else if (v.IsSequence()) {
      for (const auto& e : v) {
        if (!e.IsScalar() || e.Scalar().empty()) {
          return err_value(k, e, what + ": " + k.Scalar() + " must be a list of text values");
        }
        out.push_back(e);
      }
    } else {
      return err_value(k, v, what + ": " + k.Scalar() + " must be a list of text values");
    }
    return out;
  }

  Result<nlohmann::json> to_json(const YAML::Node& n) const {
    if (n.IsMap()) {
      nlohmann::json j = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) return err(it->first, "vars: keys must be plain text");
        TRY_ASSIGN(j[it->first.Scalar()], to_json(it->second));
      }
      return j;
    }
    if (n.IsSequence()) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& e : n) {
        TRY_ASSIGN(nlohmann::json item, to_json(e));
        j.push_back(std::move(item));
      }
      return j;
    }
    if (n.IsScalar()) return scalar_to_json(n);
    return nlohmann::json(nullptr);
  }
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view path) : r_(text, std::string(path)) {
    std::error_code ec;
    std::filesystem::path p(path);
    std::filesystem::path abs = p.empty() ? std::filesystem::current_path(ec) : std::filesystem::absolute(p, ec);
    base_dir_ = p.empty() ? abs : abs.parent_path();
  }

  Result<Inventory> parse(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& e) {
      return r_.err_at(e.mark.line, e.mark.column, "YAML syntax: " + e.msg, r_.line_text(e.mark.line));
    }
    inv_.path = r_.file();
    inv_.known_hosts_file = home_dir() + "/.ssh/known_hosts";
    if (!root.IsMap()) {
      return r_.err_at(0, 0, "an inventory is a mapping with 'hosts' (and optionally ssh, defaults, bastions, groups)",
                       r_.line_text(0));
    }
    std::map<std::string, std::pair<YAML::Node, YAML::Node>> top;  // key -> (key node, value)
    TRY_STATUS(r_.each_key(root, root, "the inventory", &kTopKeys,
                           [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) -> Status {
                             top[name] = {k, v};
                             return {};
                           }));
    if (!top.count("hosts")) {
      return r_.err_at(root.Mark().line, root.Mark().column, "the inventory has no 'hosts'", r_.line_text(root.Mark().line));
    }
    if (top.count("ssh")) TRY_STATUS(parse_ssh(top["ssh"].first, top["ssh"].second));
    if (top.count("bastions")) TRY_STATUS(parse_bastions(top["bastions"].first, top["bastions"].second));
    if (top.count("defaults")) {
      TRY_STATUS(parse_settings(top["defaults"].first, top["defaults"].second, "defaults", &defaults_));
    }
    for (auto& [name, b] : inv_.bastions) {
      if (b.user.empty()) b.user = defaults_.user.value_or("root");
      if (b.identity_file.empty()) b.identity_file = defaults_.identity_file.value_or("");
    }
    if (top.count("groups")) TRY_STATUS(parse_groups(top["groups"].first, top["groups"].second));
    TRY_STATUS(parse_hosts(top["hosts"].first, top["hosts"].second));
    return std::move(inv_);
  }

 private:
  // A path from the file: "~" from $HOME, relative to the inventory's folder; "" stays "".
  Result<std::string> path_value(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
    TRY_ASSIGN(std::string s, r_.text(k, v, what, true));
    if (s.empty()) return s;
    if (s == "~" || s.rfind("~/", 0) == 0) return home_dir() + s.substr(1);
    if (s[0] == '~') return r_.err(v, what + ": " + k.Scalar() + ": ~user paths are not supported, write the full path");
    std::filesystem::path p(s);
    if (p.is_relative()) p = base_dir_ / p;
    return p.lexically_normal().string();
  }

  Result<std::vector<std::string>> fingerprints(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
    TRY_ASSIGN(std::vector<YAML::Node> items, r_.list(k, v, what));
    std::vector<std::string> out;
    for (const auto& n : items) {
      if (!is_fingerprint(n.Scalar())) {
        return r_.err(n, what + ": a host key fingerprint is SHA256: and 43 base64 characters, as "
                                "ssh-keygen -lf prints it");
      }
      if (std::find(out.begin(), out.end(), n.Scalar()) == out.end()) out.push_back(n.Scalar());
    }
    return out;
  }

  Status check_bastion(const YAML::Node& v, const std::string& name, const std::string& what) const {
    if (name.empty() || inv_.bastions.count(name)) return {};
    std::vector<std::string> known;
    for (const auto& [n, b] : inv_.bastions) known.push_back(n);
    return r_.err(v, what + ": bastion '" + name + "' is not declared under bastions" +
                         (known.empty() ? std::string(" (there are none)") : " (declared: " + join(known) + ")"));
  }

  Status parse_ssh(const YAML::Node& key, const YAML::Node& map) {
    return r_.each_key(map, key, "ssh", &kSshKeys, [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) -> Status {
      if (name == "known_hosts") {
        TRY_ASSIGN(std::string p, path_value(k, v, "ssh"));
        if (p.empty()) return r_.err_value(k, v, "ssh: known_hosts must not be empty");
        inv_.known_hosts_file = p;
      } else if (name == "connect_timeout") {
        TRY_ASSIGN(inv_.connect_timeout_s, r_.integer(k, v, "ssh", 1, 3600));
      } else if (name == "command_timeout") {
        TRY_ASSIGN(inv_.command_timeout_s, r_.integer(k, v, "ssh", 1, 7 * 86400));
      } else {
        TRY_ASSIGN(inv_.max_startups, r_.integer(k, v, "ssh", 1, 10000));
      }
      return {};
    });
  }

  Status parse_bastions(const YAML::Node& key, const YAML::Node& map) {
    return r_.each_key(map, key, "bastions", nullptr, [&](const std::string& bname, const YAML::Node& bk, const YAML::Node& bv) -> Status {
      Bastion b;
      b.name = bname;
      std::string what = "bastion " + bname;
      TRY_STATUS(r_.each_key(bv, bk, what, &kBastionKeys, [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) -> Status {
        if (name == "address") {
          TRY_ASSIGN(b.address, r_.text(k, v, what, false));
        } else if (name == "port") {
          TRY_ASSIGN(b.port, r_.integer(k, v, what, 1, 65535));
        } else if (name == "user") {
          TRY_ASSIGN(b.user, r_.text(k, v, what, false));
        } else if (name == "identity_file") {
          TRY_ASSIGN(b.identity_file, path_value(k, v, what));
        } else if (name == "host_key") {
          TRY_ASSIGN(b.host_key_fingerprints, fingerprints(k, v, what));
        } else {
          TRY_ASSIGN(b.max_startups, r_.integer(k, v, what, 1, 10000));
        }
        return {};
      }));
      if (b.address.empty()) return r_.err(bk, what + " has no address");
      inv_.bastions[bname] = std::move(b);
      return {};
    });
  }

  // One settings key (kSettingKeys) of defaults, a group or a host.
  Status setting(const std::string& name, const YAML::Node& k, const YAML::Node& v, const std::string& what, Settings* s) {
    if (name == "user") {
      TRY_ASSIGN(s->user, r_.text(k, v, what, false));
    } else if (name == "port") {
      TRY_ASSIGN(s->port, r_.integer(k, v, what, 1, 65535));
    } else if (name == "identity_file") {
      TRY_ASSIGN(s->identity_file, path_value(k, v, what));
    } else if (name == "bastion") {
      TRY_ASSIGN(std::string b, r_.text(k, v, what, true));
      TRY_STATUS(check_bastion(v, b, what));
      s->bastion = b;
    } else if (name == "sudo") {
      TRY_ASSIGN(s->sudo, r_.boolean(k, v, what));
    } else if (name == "roles") {
      TRY_ASSIGN(std::vector<YAML::Node> items, r_.list(k, v, what));
      for (const auto& n : items) {
        const std::string& role = n.Scalar();
        if (role.find_first_of(" \t,=") != std::string::npos) {
          return r_.err(n, what + ": a role is one word (no spaces, commas or '=')");
        }
        if (std::find(s->roles.begin(), s->roles.end(), role) == s->roles.end()) s->roles.push_back(role);
      }
    } else if (name == "labels") {
      TRY_STATUS(r_.each_key(v, k, what + ": labels", nullptr, [&](const std::string& lk, const YAML::Node& lkn, const YAML::Node& lv) -> Status {
        if (lk.empty() || lk.find_first_of(" \t,=") != std::string::npos) {
          return r_.err(lkn, what + ": a label name is one word (no spaces, commas or '=')");
        }
        TRY_ASSIGN(std::string value, r_.text(lkn, lv, what + ": labels", true));
        s->labels[lk] = value;
        return {};
      }));
    } else if (name == "vars") {
      if (!v.IsMap() && !v.IsNull()) return r_.err_value(k, v, what + ": vars must be a mapping");
      TRY_ASSIGN(nlohmann::json j, r_.to_json(v));
      if (j.is_object()) s->vars = std::move(j);
    }
    return {};
  }

  Status parse_settings(const YAML::Node& key, const YAML::Node& map, const std::string& what, Settings* s) {
    return r_.each_key(map, key, what, &kSettingKeys, [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) {
      return setting(name, k, v, what, s);
    });
  }

  Status parse_groups(const YAML::Node& key, const YAML::Node& map) {
    return r_.each_key(map, key, "groups", nullptr, [&](const std::string& gname, const YAML::Node& gk, const YAML::Node& gv) -> Status {
      if (gname.empty() || gname.find_first_of(" \t,=[]") != std::string::npos) {
        return r_.err(gk, "a group name is one word (no spaces, commas, brackets or '=')");
      }
      Settings s;
      TRY_STATUS(parse_settings(gk, gv, "group " + gname, &s));
      groups_[gname] = std::move(s);
      inv_.groups[gname];  // declared groups are listed even when empty
      return {};
    });
  }

  // Expands a node set written in a YAML scalar; errors point at the column inside it.
  Result<std::vector<std::string>> expand_at(const YAML::Node& n, const std::string& what) const {
    NodesetError ne;
    auto names = expand_nodeset(n.Scalar(), kMaxHosts, &ne);
    if (!names.ok()) {
      int quote = n.Tag() == "!" ? 1 : 0;
      return r_.err_at(n.Mark().line, n.Mark().column + quote + static_cast<int>(ne.column) - 1, what + ": " + ne.reason,
                       n.Scalar());
    }
    return names;
  }

  Status parse_hosts(const YAML::Node& key, const YAML::Node& map) {
    if (!map.IsMap() || map.size() == 0) {
      return r_.err_value(key, map, "hosts must be a mapping of host names (or ranges such as gpu[001-128]) to settings");
    }
    std::string local_at;
    return r_.each_key(map, key, "hosts", nullptr, [&](const std::string& pattern, const YAML::Node& hk, const YAML::Node& hv) -> Status {
      std::string what = "host " + pattern;
      TRY_ASSIGN(std::vector<std::string> names, expand_at(hk, "host name"));
      if (inv_.hosts.size() + names.size() > kMaxHosts) {
        return r_.err(hk, "more than " + std::to_string(kMaxHosts) + " hosts in the inventory");
      }
      Settings own;
      std::vector<std::string> addresses;
      YAML::Node address_node;
      bool has_address = false;
      bool local = false;
      std::vector<std::string> groups;
      std::vector<std::string> keys;
      std::vector<std::string> allowed = kSettingKeys;
      allowed.insert(allowed.end(), kHostOnlyKeys.begin(), kHostOnlyKeys.end());
      std::sort(allowed.begin(), allowed.end());
      TRY_STATUS(r_.each_key(hv, hk, what, &allowed, [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) -> Status {
        if (name == "address") {
          auto a = r_.text(k, v, what, false);
          if (!a.ok()) return a.error();
          address_node = v;
          has_address = true;
          TRY_ASSIGN(addresses, expand_at(v, what + ": address"));
        } else if (name == "local") {
          TRY_ASSIGN(local, r_.boolean(k, v, what));
        } else if (name == "groups") {
          TRY_ASSIGN(std::vector<YAML::Node> items, r_.list(k, v, what));
          for (const auto& g : items) {
            if (!groups_.count(g.Scalar())) {
              std::vector<std::string> known;
              for (const auto& [gn, s] : groups_) known.push_back(gn);
              return r_.err(g, what + ": group '" + g.Scalar() + "' is not declared under groups" +
                                   (known.empty() ? std::string(" (there are none)") : " (declared: " + join(known) + ")"));
            }
            if (std::find(groups.begin(), groups.end(), g.Scalar()) == groups.end()) groups.push_back(g.Scalar());
          }
        } else if (name == "host_key") {
          TRY_ASSIGN(keys, fingerprints(k, v, what));
        } else {
          if (name == "bastion" && hv["local"] && hv["local"].IsScalar() && hv["local"].Scalar() == "true") {
            return r_.err(v, what + ": a local host is not reached through a bastion");
          }
          TRY_STATUS(setting(name, k, v, what, &own));
        }
        return {};
      }));
      if (local && has_address) return r_.err(address_node, what + ": a local host takes no address");
      if (!local && !has_address) return r_.err(hk, what + " has neither an address nor local: true");
      if (local && names.size() > 1) {
        return r_.err(hk, what + ": local: true is the installer's own machine, one host, not " + std::to_string(names.size()));
      }
      if (local && !local_at.empty()) {
        return r_.err(hk, what + ": only one host can be local (the first is at " + local_at + ")");
      }
      if (local) local_at = r_.where(hk);
      if (!local && addresses.size() != names.size()) {
        return r_.err(address_node, what + ": " + count(names.size(), "name") + " but " +
                                        count(addresses.size(), "address", "addresses") +
                                        " (give an address range of the same size)");
      }
      for (size_t i = 0; i < names.size(); ++i) {
        if (auto it = inv_.host_index.find(names[i]); it != inv_.host_index.end()) {
          return r_.err(hk, "host " + names[i] + " is defined twice (first at " + inv_.hosts[it->second].defined_at + ")");
        }
        Host h;
        h.name = names[i];
        h.user = "root";
        h.local = local;
        if (!local) h.address = addresses[i];
        apply(defaults_, &h);
        for (const auto& g : groups) apply(groups_.at(g), &h);
        apply(own, &h);
        h.groups = groups;
        h.host_key_fingerprints = keys;
        h.defined_at = r_.where(hk);
        if (local) h.bastion.clear();
        TRY_STATUS(resolve_prefix(hk, what, &h));
        inv_.host_index[h.name] = inv_.hosts.size();
        for (const auto& g : groups) inv_.groups[g].push_back(h.name);
        inv_.hosts.push_back(std::move(h));
      }
      return {};
    });
  }

  // The host var airlock_prefix (every node path under it): a relative prefix of the local
  // host is taken from the inventory's folder; a remote host's must be absolute.
  Status resolve_prefix(const YAML::Node& at, const std::string& what, Host* h) const {
    if (!h->vars.contains("airlock_prefix")) return {};
    const auto& v = h->vars["airlock_prefix"];
    if (!v.is_string() || v.get<std::string>().empty()) return r_.err(at, what + ": airlock_prefix must be a path");
    std::filesystem::path p = v.get<std::string>();
    if (p.is_absolute()) return {};
    if (!h->local) {
      return r_.err(at, what + ": airlock_prefix of a remote host must be an absolute path, not " + p.string());
    }
    h->vars["airlock_prefix"] = (base_dir_ / p).lexically_normal().string();
    return {};
  }

  Reader r_;
  std::filesystem::path base_dir_;
  Inventory inv_;
  Settings defaults_;
  std::map<std::string, Settings> groups_;
};

}  // namespace

Result<Inventory> parse_inventory(std::string_view yaml_text, std::string_view path) {
  Parser p(yaml_text, path);
  try {
    return p.parse(yaml_text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws only on misuse; keep the position it knows.
    return make_error(Errc::kParse, std::string(path) + ":" + std::to_string(e.mark.line + 1) + ":" +
                                        std::to_string(e.mark.column + 1) + ": " + e.msg + ": ``");
  }
}

Result<Inventory> load_inventory(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path, 64ull << 20));
  return parse_inventory(text, path);
}

}  // namespace airlock::inventory
