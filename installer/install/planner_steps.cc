// One step for one node (see planner_steps.h): render the step's values against the node's
// template context, resolve components against the manifest, and choose driver layers.
#include "installer/install/planner_steps.h"

#include <algorithm>

#include "drivers/select.h"

namespace airlock::install {
namespace {

Result<std::string> render(const std::string& text, const Step& step, const TemplateContext& ctx) {
  return render_inline(text, step.defined_at, ctx);
}

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

bool valid_release_name(const std::string& r) {
  if (r.empty() || r == "." || r == ".." || r.size() > 200) return false;
  return r.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+") == std::string::npos;
}

bool is_absolute_file(const std::string& p) {
  return !p.empty() && p[0] == '/' && p.back() != '/' && p.find("/../") == std::string::npos &&
         !(p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0);
}

// Durations leave the playbook in ms; the plan states seconds (whole when they are whole).
nlohmann::json seconds(int64_t ms) {
  if (ms % 1000 == 0) return ms / 1000;
  return static_cast<double>(ms) / 1000.0;
}

Result<ResolvedStep> files_step(const Step& step, const NodeInputs& in) {
  ResolvedStep out;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : step.args["files"]) {
    std::string name = f["component"];
    const bundle::Component* c = in.manifest->find_component(name);
    if (c == nullptr) return make_error(Errc::kNotFound, "the bundle has no component `" + name + "`");
    if (!bundle::is_file_component(c->type) || !c->blob) {
      return make_error(Errc::kInvalidArgument, "component `" + name + "` is a " + c->type +
                                                    ", not a file (service-binary, file or driver-package)");
    }
    TRY_ASSIGN(std::string path, render(f["path"], step, *in.ctx));
    if (!is_release_path(path)) {
      return make_error(Errc::kInvalidArgument, "files.path `" + path + "` is not a relative path inside the release");
    }
    std::string mode = f["mode"];
    if (mode.empty()) {
      auto m = c->install.find("mode");
      mode = m != c->install.end() && m->is_string() ? m->get<std::string>()
                                                     : (c->type == "service-binary" ? "0755" : "0644");
    }
    BlobNeed need = content_of(*c);
    files.push_back({{"path", path}, {"blob", need.digest}, {"size", need.size}, {"mode", mode}, {"component", name}});
    out.blobs.push_back(std::move(need));
  }
  out.params = {{"release", in.release}, {"files", std::move(files)}};
  return out;
}

Result<ResolvedStep> driver_step(const Step& step, const NodeInputs& in) {
  if (in.facts == nullptr) {
    return make_error(Errc::kNotFound, "no probe facts for this node: the driver step chooses by hardware (probe it first)");
  }
  ResolvedStep out;
  drivers::LayerChoice choice;
  std::string wanted = step.args.value("component", "");
  if (!wanted.empty()) {
    const bundle::Component* c = in.manifest->find_component(wanted);
    if (c == nullptr || c->type != "driver-package") {
      return make_error(Errc::kNotFound, "the bundle has no driver-package `" + wanted + "`");
    }
    std::string why = drivers::layer_mismatch(*in.facts, *c, &choice);
    if (!why.empty()) {
      out.params = {{"skip_reason", wanted + ": " + why}};
      return out;
    }
  } else {
    drivers::Selection sel = drivers::select_driver_layers(*in.facts, *in.manifest);
    if (sel.layers.empty()) {
      out.params = {{"skip_reason", sel.reason}};
      return out;
    }
    if (sel.layers.size() > 1) {
      std::string names;
      for (const auto& l : sel.layers) names += (names.empty() ? "" : ", ") + l.component->name;
      return make_error(Errc::kInvalidArgument, "several driver layers match this node (" + names +
                                                    "): write one `driver: {component: NAME}` step per layer");
    }
    choice = sel.layers[0];
  }
  const bundle::Component& c = *choice.component;
  if (auto why = drivers::already_installed(*in.facts, c)) {
    out.params = {{"skip_reason", *why}, {"component", c.name}, {"version", c.version}};
    return out;
  }
  if (!c.blob) return make_error(Errc::kInvalidArgument, "driver-package `" + c.name + "` has no blob");
  auto m = c.install.find("method");
  std::string method = m != c.install.end() && m->is_string() ? m->get<std::string>() : "";
  if (method != "script" && method != "dpkg") {
    return make_error(Errc::kInvalidArgument,
                      "driver-package `" + c.name + "`: install.method must be script or dpkg, not `" + method + "`");
  }
  BlobNeed need = content_of(c);
  out.params = {{"component", c.name}, {"version", c.version},       {"blob", need.digest},
                {"size", need.size},   {"method", method},           {"reboot_hint", choice.reboot_hint}};
  if (!choice.note.empty()) out.params["note"] = choice.note;
  out.blobs.push_back(std::move(need));
  return out;
}

Result<ResolvedStep> images_step(const Step& step, const NodeInputs& in) {
  ResolvedStep out;
  std::vector<std::string> only = step.args["only"].get<std::vector<std::string>>();
  for (const auto& name : only) {
    const bundle::Component* c = in.manifest->find_component(name);
    if (c == nullptr || c->type != "oci-image") return make_error(Errc::kNotFound, "the bundle has no image `" + name + "`");
  }
  std::string target = step.args["target"];
  nlohmann::json images = nlohmann::json::array();
  for (const auto& c : in.manifest->components) {
    if (c.type != "oci-image") continue;
    if (!only.empty() && std::find(only.begin(), only.end(), c.name) == only.end()) continue;
    nlohmann::json e = {{"component", c.name}, {"ref", c.ref}, {"target", target}};
    if (c.descriptor) {  // the image's root (manifest or index), so the engine needs no manifest
      e["digest"] = c.descriptor->digest;
      e["media_type"] = c.descriptor->media_type;
      e["size"] = c.descriptor->size;
    }
    if (target == "runtime") {
      e["runtime"] = step.args["runtime"];
      for (const auto& d : c.closure) {
        const bundle::FileEntry* f = in.manifest->find_file(bundle::blob_path(d));
        out.blobs.push_back({d, f != nullptr ? f->size : 0, c.name});
      }
    }
    images.push_back(std::move(e));
  }
  out.params = {{"images", std::move(images)}};
  if (target == "runtime") {
    out.params["runtime"] = step.args["runtime"];
    if (step.args["runtime"] == "containerd") {
      TRY_ASSIGN(out.params["namespace"], render(step.args.value("namespace", "default"), step, *in.ctx));
    }
  } else {
    // Registry options are rendered here; the push itself happens once per run, from the
    // installer host (act_images.h).
    TRY_ASSIGN(std::string registry, render(step.args.value("registry", "{{ vars.registry }}"), step, *in.ctx));
    if (registry.empty() || registry.find('/') != std::string::npos || registry.find("://") != std::string::npos) {
      return make_error(Errc::kInvalidArgument, "images.registry `" + registry + "` is not HOST[:PORT]");
    }
    out.params["registry"] = registry;
    out.params["insecure"] = step.args.value("insecure", false);
    for (const char* k : {"prefix", "ca", "user", "password_file"}) {
      if (!step.args.contains(k)) continue;
      TRY_ASSIGN(std::string v, render(step.args[k].get<std::string>(), step, *in.ctx));
      if (!v.empty()) out.params[k] = v;
    }
  }
  return out;
}

Result<ResolvedStep> health_step(const Step& step, const NodeInputs& in) {
  ResolvedStep out;
  const auto& a = step.args;
  out.params = {{"kind", a["kind"]},
                {"deadline_s", seconds(a["deadline_ms"])},
                {"soak_s", seconds(a["soak_ms"])},
                {"interval_ms", a["interval_ms"]}};
  if (a["kind"] == "exec") {
    nlohmann::json argv = nlohmann::json::array();
    for (const auto& arg : a["target"]) {
      TRY_ASSIGN(std::string s, render(arg, step, *in.ctx));
      argv.push_back(s);
    }
    out.params["target"] = argv;
  } else {
    TRY_ASSIGN(out.params["target"], render(a["target"], step, *in.ctx));
  }
  if (a["kind"] == "http") out.params["expect_status"] = a["expect_status"];
  return out;
}

Result<ResolvedStep> service_step(const Step& step, const NodeInputs& in) {
  ResolvedStep out;
  TRY_ASSIGN(std::string name, render(step.args["name"], step, *in.ctx));
  out.params = {{"name", name}, {"state", step.args["state"]}, {"enabled", step.args["enabled"]}};
  if (step.source) {
    TRY_ASSIGN(out.params["unit"], step.source->compiled.render(*in.ctx));
  }
  return out;
}

Result<ResolvedStep> command_step(const Step& step, const NodeInputs& in) {
  ResolvedStep out;
  nlohmann::json argv = nlohmann::json::array();
  for (const auto& arg : step.args["argv"]) {
    TRY_ASSIGN(std::string s, render(arg, step, *in.ctx));
    argv.push_back(s);
  }
  out.params = {{"argv", argv}, {"timeout_s", seconds(step.args["timeout_ms"])}};
  TRY_ASSIGN(std::string creates, render(step.args["creates"], step, *in.ctx));
  if (!creates.empty()) out.params["creates"] = creates;
  return out;
}

}  // namespace

BlobNeed content_of(const bundle::Component& c) {
  if (c.content) return {c.content->digest, c.content->size, c.name};
  return {c.blob->digest, c.blob->size, c.name};
}

Result<ResolvedStep> resolve_step(const Step& step, const NodeInputs& in) {
  const std::string& a = step.action;
  if (a == "files") return files_step(step, in);
  if (a == "driver") return driver_step(step, in);
  if (a == "images") return images_step(step, in);
  if (a == "health") return health_step(step, in);
  if (a == "service") return service_step(step, in);
  if (a == "command") return command_step(step, in);
  ResolvedStep out;
  if (a == "switch") {
    if (!step.args.contains("to")) {
      out.params = {{"release", in.release}};
    } else {
      // {to: last-good|previous}: the node picks the release from its state (airlock-node switch
      // --to-last-good / --to-previous); anything else names a release that must be on the node.
      // Either way params keep "to": a switch back, which the engine never skips by digest (its
      // target depends on the node) and which restores that release's configuration snapshot.
      TRY_ASSIGN(std::string to, render(step.args["to"], step, *in.ctx));
      if (to == "last-good" || to == "previous" || valid_release_name(to)) {
        out.params = {{"to", to}};
      } else {
        return make_error(Errc::kInvalidArgument,
                          "switch.to `" + to + "` is not last-good, previous or a release name (letters, digits, . _ - +)");
      }
    }
  } else if (a == "template") {
    TRY_ASSIGN(std::string dest, render(step.args["dest"], step, *in.ctx));
    if (!is_absolute_file(dest)) return make_error(Errc::kInvalidArgument, "template.dest `" + dest + "` is not an absolute file path");
    TRY_ASSIGN(std::string content, step.source->compiled.render(*in.ctx));
    out.params = {{"dest", dest}, {"content", content}, {"mode", step.args["mode"]}};
  } else if (a == "remove") {
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& p : step.args["paths"]) {
      TRY_ASSIGN(std::string path, render(p, step, *in.ctx));
      if (!is_absolute_file(path) || std::count(path.begin(), path.end(), '/') < 2) {
        return make_error(Errc::kInvalidArgument, "remove: `" + path + "` is not an absolute path two levels deep");
      }
      paths.push_back(path);
    }
    out.params = {{"paths", paths}};
  } else {
    return make_error(Errc::kInternal, "resolve_step: unexpected action " + a);
  }
  return out;
}

}  // namespace airlock::install
