// Playbook loader (see playbook.h and docs/playbooks.md): strict YAML, one function per action
// that checks and normalises its arguments, and the sources (template src, unit) read up front.
#include "installer/install/playbook.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/fs.h"
#include "installer/install/yaml_util.h"

namespace airlock::install {
namespace {

bool is_mode(const std::string& m) {
  return m.size() == 4 && m[0] == '0' && m.find_first_not_of("01234567") == std::string::npos;
}

bool has_placeholder(const std::string& s) { return s.find("{{") != std::string::npos; }

// A path inside the release directory: relative, no "..", no empty segments.
bool is_release_path(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.back() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string::npos) slash = p.size();
    std::string seg = p.substr(start, slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = slash + 1;
  }
  return true;
}

bool is_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

class Loader {
 public:
  Loader(const YamlDoc& doc, const SourceReader& read) : doc_(doc), read_(read) {}

  Result<Playbook> load(const YAML::Node& root);

 private:
  Result<Phase> phase(const YAML::Node& n, size_t index);
  Status step(const YAML::Node& item, Step* s);
  Status action_args(const std::string& action, const YAML::Node& key, const YAML::Node& v, Step* s);
  Status files(const YAML::Node& v, Step* s);
  Status health(const YAML::Node& v, Step* s);
  Status service(const YAML::Node& v, Step* s);
  // A text value that may hold placeholders: checked for template syntax.
  Result<std::string> value(const YAML::Node& v, const std::string& what);
  Result<SourceFile> source(const YAML::Node& v, const std::string& what);
  Status no_args(const YAML::Node& v, const std::string& action);

  const YamlDoc& doc_;
  const SourceReader& read_;
};

Result<std::string> Loader::value(const YAML::Node& v, const std::string& what) {
  TRY_ASSIGN(std::string s, doc_.text(v, what));
  if (has_placeholder(s)) {
    auto t = Template::compile(s, "", true);
    if (!t.ok()) return doc_.err(v, what + t.error().message);  // the message starts with ": "
  }
  return s;
}

Result<SourceFile> Loader::source(const YAML::Node& v, const std::string& what) {
  TRY_ASSIGN(std::string rel, doc_.text(v, what));
  std::string dir = dirname_of(doc_.file());
  SourceFile f;
  f.path = dir == "." ? rel : join_path(dir, rel);
  auto text = read_(rel);
  if (!text.ok()) return doc_.err(v, what + ": cannot read " + f.path + ": " + text.error().describe());
  f.text = std::move(text).value();
  auto t = Template::compile(f.text, f.path);
  if (!t.ok()) return doc_.err(v, what + ": " + t.error().message);
  f.compiled = std::move(t).value();
  return f;
}

Status Loader::no_args(const YAML::Node& v, const std::string& action) {
  if (v.IsNull() || (v.IsMap() && v.size() == 0)) return {};
  return doc_.err(v, action + " takes no arguments (write `" + action + ": {}`)");
}

Status Loader::files(const YAML::Node& v, Step* s) {
  if (!v.IsSequence() || v.size() == 0) return doc_.err(v, "files: expected a list of {component, path, mode}");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : v) {
    TRY_STATUS(doc_.check_keys(e, {"component", "path", "mode"}, "files entry"));
    if (!e.IsMap()) return doc_.err(e, "files entry must be a mapping");
    if (!e["component"]) return doc_.err(e, "files entry: missing key component");
    if (!e["path"]) return doc_.err(e, "files entry: missing key path");
    nlohmann::json f;
    TRY_ASSIGN(f["component"], doc_.text(e["component"], "files.component"));
    TRY_ASSIGN(std::string path, value(e["path"], "files.path"));
    if (!has_placeholder(path) && !is_release_path(path)) {
      return doc_.err(e["path"], "files.path must be a relative path inside the release (no .., no leading /)");
    }
    f["path"] = path;
    f["mode"] = "";
    if (e["mode"]) {
      TRY_ASSIGN(std::string mode, doc_.text(e["mode"], "files.mode"));
      if (!is_mode(mode)) return doc_.err(e["mode"], "files.mode must be an octal mode like \"0755\"");
      f["mode"] = mode;
    }
    list.push_back(std::move(f));
  }
  s->args["files"] = std::move(list);
  return {};
}

Status Loader::health(const YAML::Node& v, Step* s) {
  TRY_STATUS(doc_.check_keys(v, {"http", "tcp", "exec", "expect_status", "deadline", "soak", "interval"}, "health"));
  if (!v.IsMap()) return doc_.err(v, "health must be a mapping");
  int kinds = 0;
  for (const char* k : {"http", "tcp", "exec"}) {
    if (v[k]) ++kinds;
  }
  if (kinds != 1) return doc_.err(v, "health needs exactly one of http, tcp or exec");
  if (v["http"]) {
    s->args["kind"] = "http";
    TRY_ASSIGN(s->args["target"], value(v["http"], "health.http"));
    std::string url = s->args["target"];
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return doc_.err(v["http"], "health.http must be a URL starting with http:// or https://");
    }
    s->args["expect_status"] = 200;
    if (v["expect_status"]) {
      TRY_ASSIGN(s->args["expect_status"], doc_.integer(v["expect_status"], "health.expect_status", 100, 599));
    }
  } else {
    if (v["expect_status"]) return doc_.err(v["expect_status"], "health.expect_status applies only to http");
    if (v["tcp"]) {
      s->args["kind"] = "tcp";
      TRY_ASSIGN(s->args["target"], value(v["tcp"], "health.tcp"));
    } else {
      s->args["kind"] = "exec";
      if (!v["exec"].IsSequence() || v["exec"].size() == 0) {
        return doc_.err(v["exec"], "health.exec must be an argv list like [sh, -c, \"...\"]");
      }
      nlohmann::json argv = nlohmann::json::array();
      for (const auto& a : v["exec"]) {
        TRY_ASSIGN(std::string arg, value(a, "health.exec"));
        argv.push_back(arg);
      }
      s->args["target"] = argv;
    }
  }
  s->args["deadline_ms"] = 60'000;
  s->args["soak_ms"] = 0;
  s->args["interval_ms"] = 500;
  for (const char* k : {"deadline", "soak", "interval"}) {
    if (!v[k]) continue;
    TRY_ASSIGN(int64_t ms, doc_.duration_ms(v[k], std::string("health.") + k));
    s->args[std::string(k) + "_ms"] = ms;
  }
  if (s->args["deadline_ms"].get<int64_t>() <= 0) return doc_.err(v["deadline"], "health.deadline must be above 0");
  if (s->args["interval_ms"].get<int64_t>() <= 0) return doc_.err(v["interval"], "health.interval must be above 0");
  return {};
}

Status Loader::service(const YAML::Node& v, Step* s) {
  TRY_STATUS(doc_.check_keys(v, {"name", "unit", "state", "enabled"}, "service"));
  if (!v.IsMap() || !v["name"]) return doc_.err(v, "service needs at least a name");
  TRY_ASSIGN(s->args["name"], value(v["name"], "service.name"));
  std::string state = "started";
  if (v["state"]) {
    TRY_ASSIGN(state, doc_.text(v["state"], "service.state"));
    if (state != "started" && state != "restarted" && state != "stopped" && state != "absent") {
      return doc_.err(v["state"], "service.state must be started, restarted, stopped or absent");
    }
  }
  s->args["state"] = state;
  bool enabled = state == "started" || state == "restarted";
  if (v["enabled"]) {
    TRY_ASSIGN(enabled, doc_.boolean(v["enabled"], "service.enabled"));
    if (enabled && (state == "stopped" || state == "absent")) {
      return doc_.err(v["enabled"], "service.enabled: a " + state + " service cannot be enabled");
    }
  }
  s->args["enabled"] = enabled;
  if (v["unit"]) {
    if (state == "absent" || state == "stopped") {
      return doc_.err(v["unit"], "service.unit does not apply to a " + state + " service");
    }
    TRY_ASSIGN(s->source, source(v["unit"], "service.unit"));
    s->args["unit"] = v["unit"].Scalar();
  }
  return {};
}

Status Loader::action_args(const std::string& action, const YAML::Node& key, const YAML::Node& v, Step* s) {
  if (action == "stage") return no_args(v, action);
  if (action == "switch") {
    // switch: {} (this plan's release) or {to: last-good | previous | RELEASE} (rendered).
    if (v.IsNull() || (v.IsMap() && v.size() == 0)) return {};
    TRY_STATUS(doc_.check_keys(v, {"to"}, "switch"));
    if (!v.IsMap() || !v["to"]) return doc_.err(v, "switch takes {} or {to: last-good | previous | RELEASE}");
    TRY_ASSIGN(std::string to, value(v["to"], "switch.to"));  // non-empty text
    s->args["to"] = to;
    return {};
  }
  if (action == "files") return files(v, s);
  if (action == "health") return health(v, s);
  if (action == "service") return service(v, s);
  if (action == "driver") {
    TRY_STATUS(doc_.check_keys(v, {"component"}, "driver"));
    if (v.IsMap() && v["component"]) {
      TRY_ASSIGN(s->args["component"], doc_.text(v["component"], "driver.component"));
    }
    return {};
  }
  if (action == "images") {
    TRY_STATUS(doc_.check_keys(
        v, {"target", "runtime", "only", "registry", "prefix", "insecure", "ca", "user", "password_file", "namespace"},
        "images"));
    if (!v.IsMap() || !v["target"]) return doc_.err(v.IsMap() ? v : key, "images needs a target (registry or runtime)");
    TRY_ASSIGN(std::string target, doc_.text(v["target"], "images.target"));
    if (target != "registry" && target != "runtime") {
      return doc_.err(v["target"], "images.target must be registry or runtime");
    }
    s->args["target"] = target;
    s->args["runtime"] = "";
    if (target == "runtime") {
      if (!v["runtime"]) return doc_.err(v, "images: target runtime needs runtime: docker, containerd or podman");
      TRY_ASSIGN(std::string rt, doc_.text(v["runtime"], "images.runtime"));
      if (rt != "docker" && rt != "containerd" && rt != "podman") {
        return doc_.err(v["runtime"], "images.runtime must be docker, containerd or podman");
      }
      s->args["runtime"] = rt;
      if (v["namespace"] && rt != "containerd") return doc_.err(v["namespace"], "images.namespace applies only to runtime: containerd");
      s->args["namespace"] = "default";
      if (v["namespace"]) {
        TRY_ASSIGN(s->args["namespace"], value(v["namespace"], "images.namespace"));
      }
    } else if (v["runtime"]) {
      return doc_.err(v["runtime"], "images.runtime applies only to target: runtime");
    }
    for (const char* k : {"registry", "prefix", "insecure", "ca", "user", "password_file"}) {
      if (v[k] && target != "registry") return doc_.err(v[k], std::string("images.") + k + " applies only to target: registry");
    }
    if (v["namespace"] && target != "runtime") return doc_.err(v["namespace"], "images.namespace applies only to target: runtime");
    if (target == "registry") {
      // The registry (HOST:PORT) defaults to the inventory's vars.registry.
      s->args["registry"] = "{{ vars.registry }}";
      for (const char* k : {"registry", "prefix", "ca", "user", "password_file"}) {
        if (v[k]) {
          TRY_ASSIGN(s->args[k], value(v[k], std::string("images.") + k));
        }
      }
      s->args["insecure"] = false;
      if (v["insecure"]) {
        TRY_ASSIGN(s->args["insecure"], doc_.boolean(v["insecure"], "images.insecure"));
      }
      if (v["user"].IsDefined() != v["password_file"].IsDefined()) {
        return doc_.err(v["user"] ? v["user"] : v["password_file"], "images: user and password_file go together");
      }
      if (v["ca"] && s->args["insecure"].get<bool>()) return doc_.err(v["ca"], "images: ca and insecure: true exclude each other");
    }
    s->args["only"] = nlohmann::json::array();
    if (v["only"]) {
      TRY_ASSIGN(s->args["only"], doc_.list(v["only"], "images.only"));
    }
    return {};
  }
  if (action == "template") {
    TRY_STATUS(doc_.check_keys(v, {"src", "dest", "mode"}, "template"));
    if (!v.IsMap() || !v["src"] || !v["dest"]) return doc_.err(v.IsMap() ? v : key, "template needs src and dest");
    TRY_ASSIGN(s->source, source(v["src"], "template.src"));
    s->args["src"] = v["src"].Scalar();
    TRY_ASSIGN(std::string dest, value(v["dest"], "template.dest"));
    if (!has_placeholder(dest) && (dest[0] != '/' || dest.back() == '/')) {
      return doc_.err(v["dest"], "template.dest must be an absolute file path");
    }
    s->args["dest"] = dest;
    s->args["mode"] = "0644";
    if (v["mode"]) {
      TRY_ASSIGN(std::string mode, doc_.text(v["mode"], "template.mode"));
      if (!is_mode(mode)) return doc_.err(v["mode"], "template.mode must be an octal mode like \"0644\"");
      s->args["mode"] = mode;
    }
    return {};
  }
  if (action == "command") {
    TRY_STATUS(doc_.check_keys(v, {"argv", "timeout", "creates"}, "command"));
    if (!v.IsMap() || !v["argv"]) return doc_.err(v.IsMap() ? v : key, "command needs argv: [program, args...]");
    if (!v["argv"].IsSequence()) return doc_.err(v["argv"], "command.argv must be a list like [sh, -c, \"...\"]");
    nlohmann::json argv = nlohmann::json::array();
    for (const auto& a : v["argv"]) {
      TRY_ASSIGN(std::string arg, value(a, "command.argv"));
      argv.push_back(arg);
    }
    if (argv.empty()) return doc_.err(v["argv"], "command.argv must not be empty");
    s->args["argv"] = argv;
    s->args["timeout_ms"] = 600'000;
    if (v["timeout"]) {
      TRY_ASSIGN(s->args["timeout_ms"], doc_.duration_ms(v["timeout"], "command.timeout"));
    }
    s->args["creates"] = "";
    if (v["creates"]) {
      TRY_ASSIGN(s->args["creates"], value(v["creates"], "command.creates"));
    }
    return {};
  }
  if (action == "remove") {
    TRY_STATUS(doc_.check_keys(v, {"paths"}, "remove"));
    if (!v.IsMap() || !v["paths"]) return doc_.err(v.IsMap() ? v : key, "remove needs paths: [/absolute/path, ...]");
    if (!v["paths"].IsSequence()) return doc_.err(v["paths"], "remove.paths must be a list");
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& p : v["paths"]) {
      TRY_ASSIGN(std::string path, value(p, "remove.paths"));
      if (!has_placeholder(path) && (path[0] != '/' || path.find("/..") != std::string::npos ||
                                     std::count(path.begin(), path.end(), '/') < 2)) {
        return doc_.err(p, "remove.paths: each must be an absolute path at least two levels deep");
      }
      paths.push_back(path);
    }
    s->args["paths"] = paths;
    return {};
  }
  std::string list;
  for (const auto& a : kActions) list += (list.empty() ? "" : ", ") + a;
  return doc_.err(key, "unknown action (expected one of " + list + ")");
}

Status Loader::step(const YAML::Node& item, Step* s) {
  s->defined_at = doc_.where(item);
  if (!item.IsMap() || item.size() == 0) return doc_.err(item, "a step is a one-key map naming its action, like `- switch: {}`");
  const YAML::Node* key = nullptr;
  YAML::Node val;
  for (auto it = item.begin(); it != item.end(); ++it) {
    if (!it->first.IsScalar()) return doc_.err(it->first, "step keys must be plain text");
    if (it->first.Scalar() == "when") {
      TRY_ASSIGN(s->when, doc_.text(it->second, "when"));
      if (has_placeholder(s->when) || s->when.find(' ') != std::string::npos) {
        return doc_.err(it->second, "when names one value, like vars.purge_releases (no {{ }})");
      }
      continue;
    }
    if (key != nullptr) return doc_.err(it->first, "a step names one action; found a second");
    key = &it->first;
    val = it->second;
    s->action = it->first.Scalar();
  }
  if (key == nullptr) return doc_.err(item, "a step needs an action besides when");
  return action_args(s->action, *key, val, s);
}

Result<Phase> Loader::phase(const YAML::Node& n, size_t index) {
  std::string what = "phases[" + std::to_string(index) + "]";
  TRY_STATUS(doc_.check_keys(n, {"name", "hosts", "concurrency", "max_fail", "stop_on_failure", "rolling", "steps"}, what));
  if (!n.IsMap()) return doc_.err(n, what + " must be a mapping");
  Phase p;
  p.defined_at = doc_.where(n);
  if (!n["name"]) return doc_.err(n, what + ": missing key name");
  TRY_ASSIGN(p.name, doc_.text(n["name"], what + ".name"));
  if (!is_name(p.name)) return doc_.err(n["name"], "phase names use letters, digits, - and _");
  if (!n["hosts"]) return doc_.err(n, "phase " + p.name + ": missing key hosts (roles, groups, labels or all)");
  TRY_ASSIGN(p.hosts, doc_.list(n["hosts"], "phase " + p.name + ": hosts"));
  if (n["concurrency"]) {
    TRY_ASSIGN(int64_t c, doc_.integer(n["concurrency"], "concurrency", 1, 100'000));
    p.concurrency = static_cast<int>(c);
  }
  if (n["max_fail"]) {
    TRY_ASSIGN(std::string mf, doc_.text(n["max_fail"], "max_fail"));
    std::string digits = mf.back() == '%' ? mf.substr(0, mf.size() - 1) : mf;
    bool ok = !digits.empty() && digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string::npos;
    if (!ok || (mf.back() == '%' && std::stol(digits) > 100)) {
      return doc_.err(n["max_fail"], "max_fail must be a count like 2 or a percentage like 10%");
    }
    p.max_fail = mf;
  }
  if (n["stop_on_failure"]) {
    TRY_ASSIGN(p.stop_on_failure, doc_.boolean(n["stop_on_failure"], "stop_on_failure"));
  }
  if (n["rolling"]) {
    TRY_ASSIGN(p.rolling, doc_.boolean(n["rolling"], "rolling"));
  }
  YAML::Node steps = n["steps"];
  if (!steps || !steps.IsSequence() || steps.size() == 0) {
    return doc_.err(steps ? steps : n, "phase " + p.name + ": steps must be a non-empty list");
  }
  for (const auto& item : steps) {
    Step s;
    TRY_STATUS(step(item, &s));
    p.steps.push_back(std::move(s));
  }
  return p;
}

Result<Playbook> Loader::load(const YAML::Node& root) {
  if (!root.IsMap()) return doc_.err_at(0, 0, "a playbook is a mapping with playbook, phases", "");
  TRY_STATUS(doc_.check_keys(root, {"playbook", "release", "vars", "phases"}, "the playbook"));
  Playbook pb;
  pb.file = doc_.file();
  if (!root["playbook"]) return doc_.err_at(0, 0, "missing key playbook (its name)", "");
  TRY_ASSIGN(pb.name, doc_.text(root["playbook"], "playbook"));
  if (root["release"]) {
    TRY_ASSIGN(pb.release, value(root["release"], "release"));
  }
  if (root["vars"]) {
    if (!root["vars"].IsMap()) return doc_.err(root["vars"], "vars must be a mapping");
    pb.vars = yaml_to_json(root["vars"]);
  }
  YAML::Node phases = root["phases"];
  if (!phases || !phases.IsSequence() || phases.size() == 0) {
    return phases ? doc_.err(phases, "phases must be a non-empty list") : doc_.err_at(0, 0, "missing key phases", "");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < phases.size(); ++i) {
    TRY_ASSIGN(Phase p, phase(phases[i], i));
    if (!names.insert(p.name).second) return doc_.err(phases[i]["name"], "phase name used twice");
    pb.phases.push_back(std::move(p));
  }
  return pb;
}

}  // namespace

Result<Playbook> parse_playbook(const std::string& text, const std::string& file, const SourceReader& read) {
  YamlDoc doc(text, file);
  TRY_ASSIGN(YAML::Node root, doc.load());
  Loader loader(doc, read);
  return loader.load(root);
}

Result<Playbook> load_playbook(const std::string& path) {
  TRY_ASSIGN(std::string text, read_file(path, 4ull << 20));
  std::string dir = dirname_of(path);
  SourceReader reader = [&dir](const std::string& rel) { return read_file(join_path(dir, rel), 4ull << 20); };
  return parse_playbook(text, path, reader);
}

}  // namespace airlock::install
