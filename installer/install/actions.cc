// The node side of the install engine (see actions.h): the node session and each action.
#include "installer/install/actions.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/fs.h"
#include "common/sha256.h"
#include "installer/install/act_images.h"

namespace airlock::install {

using json = nlohmann::json;
using transport::ExecOptions;
using transport::Transport;

std::string first_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  auto nl = s.rfind('\n');
  if (nl != std::string::npos) s = s.substr(nl + 1);  // the last line says most
  return s.size() > 400 ? s.substr(0, 400) + "..." : s;
}

// Per-node paths: everything under an optional prefix (host var airlock_prefix) so a

NodePaths paths_for(const inventory::Host& h) {
  NodePaths p;
  if (h.vars.is_object() && h.vars.contains("airlock_prefix") && h.vars["airlock_prefix"].is_string()) {
    p.prefix = h.vars["airlock_prefix"].get<std::string>();
    while (!p.prefix.empty() && p.prefix.back() == '/') p.prefix.pop_back();
  }
  return p;
}

NodeSession::NodeSession(const inventory::Host& h, Transport& t, const EngineOptions& o)
    : h_(h), t_(t), o_(o), p_(paths_for(h)) {
  p_.node_sha = o.node_binary_sha256;
}

Result<transport::ExecResult> NodeSession::run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                               const std::string& input) {
  ExecOptions eo;
  eo.timeout = timeout;
  eo.stdin_data = input;
  auto r = t_.exec(argv, eo);
  if (!r.ok()) return r.error();
  if (r->timed_out) {
    return make_error(Errc::kTimeout, h_.name + ": `" + transport::shell_join(argv) + "` did not finish within " +
                                          std::to_string(timeout.count() / 1000) + " s (killed)");
  }
  return r;
}

Result<std::string> NodeSession::must(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                    const std::string& input) {
  TRY_ASSIGN(auto r, run(argv, timeout, input));
  if (r.exit_code != 0) {
    return make_error(Errc::kIo, h_.name + ": `" + transport::shell_join(argv) + "` exited " +
                                     std::to_string(r.exit_code) + ": " + first_line(r.err.empty() ? r.out : r.err));
  }
  return r.out;
}

Result<json> NodeSession::node(std::vector<std::string> args, std::chrono::milliseconds timeout,
                               const std::string& input) {
  std::vector<std::string> argv = {p_.node_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!p_.prefix.empty() && args[0] != "health") {
    argv.push_back("--root-dir");
    argv.push_back(p_.prefix);
  }
  TRY_ASSIGN(auto r, run(argv, timeout, input));
  json j = json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::kIo, h_.name + ": airlock-node " + args[0] + " exited " + std::to_string(r.exit_code) +
                                     ": " + first_line(r.err.empty() ? r.out : r.err));
  }
  if (!j.value("ok", false)) {
    return make_error(Errc::kIo, h_.name + ": airlock-node " + args[0] + (args.size() > 1 ? " " + args[1] : "") +
                                     ": " + j.value("error", std::string("failed")));
  }
  return j;
}

Result<uint64_t> NodeSession::send(const std::string& local, const std::string& remote, const std::string& hex, int mode) {
  auto r = t_.upload(local, remote, hex, mode);
  if (!r.ok()) return r.error().wrap(h_.name + ": sending " + remote);
  return r;
}

Result<uint64_t> NodeSession::send_text(const std::string& text, const std::string& remote, int mode) {
  std::string digest = sha256_digest(text);
  std::string hex(digest_hex(digest));
  std::string local = o_.cache_dir + "/" + hex;
  std::error_code ec;
  if (!std::filesystem::exists(local, ec)) TRY_STATUS(write_file_atomic(local, text));
  return send(local, remote, hex, mode);
}

namespace {

int parse_mode(const json& j, int fallback) {
  if (!j.is_string()) return fallback;
  return static_cast<int>(std::strtol(j.get<std::string>().c_str(), nullptr, 8));
}

std::chrono::milliseconds seconds_param(const json& p, const char* key, double fallback) {
  double s = p.contains(key) && p[key].is_number() ? p[key].get<double>() : fallback;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(s * 1000)));
}

std::string seconds_arg(const json& p, const char* key, double fallback) {
  double s = p.contains(key) && p[key].is_number() ? p[key].get<double>() : fallback;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

Result<ActionResult> act_stage(NodeSession& s, const json& p, const EngineOptions& o) {
  std::vector<std::string> args = {"store", "missing"};
  std::map<std::string, uint64_t> sizes;
  for (const auto& b : p.value("blobs", json::array())) {
    std::string d = b.value("digest", "");
    sizes[d] = b.value("size", uint64_t{0});
    args.push_back(d + "=" + std::to_string(sizes[d]));
  }
  if (sizes.empty()) return ActionResult{"no blobs to stage", 0, false};
  TRY_ASSIGN(json missing, s.node(args));
  ActionResult r;
  size_t n = 0;
  for (const auto& d : missing.value("missing", json::array())) {
    std::string digest = d.get<std::string>();
    auto it = o.content.find(digest);
    if (it == o.content.end()) return make_error(Errc::kInternal, "blob " + digest + " is not in the verified bundle");
    TRY_ASSIGN(uint64_t sent, s.send(it->second, s.paths().blob(digest), std::string(digest_hex(digest)), 0444));
    r.bytes += sent;
    ++n;
  }
  r.changed = n > 0;
  r.message = n ? "sent " + std::to_string(n) + " of " + std::to_string(sizes.size()) + " blobs"
                : "all " + std::to_string(sizes.size()) + " blobs already there";
  return r;
}

Result<ActionResult> act_files(NodeSession& s, const json& p) {
  json spec = {{"files", json::array()}};
  for (const auto& f : p.value("files", json::array())) {
    spec["files"].push_back({{"path", f.value("path", "")}, {"blob", f.value("blob", "")}, {"mode", f.value("mode", "0644")}});
  }
  std::string release = p.value("release", "");
  TRY_ASSIGN(json r, s.node({"release", "build", release}, std::chrono::seconds(600), spec.dump()));
  bool changed = r.value("changed", true);
  return ActionResult{changed ? "built releases/" + release : "releases/" + release + " already built", 0, changed};
}

Result<ActionResult> act_template(NodeSession& s, const json& p) {
  std::string dest = s.paths().path(p.value("dest", ""));
  TRY_ASSIGN(uint64_t sent, s.send_text(p.value("content", ""), dest, parse_mode(p["mode"], 0644)));
  return ActionResult{sent ? "wrote " + dest : dest + " already up to date", sent, sent > 0};
}

// The host var airlock_services: "systemd" (the default) or "airlock-node", airlock-node's own
// supervisor (`airlock-node service`, docs/node-side.md) for nodes without a usable systemd: a
// prefix install as a non-root user, a container, CI. It runs the same unit file.
Result<std::string> service_manager(const NodeSession& s) {
  const json& vars = s.host().vars;
  std::string manager = vars.is_object() && vars.contains("airlock_services") && vars["airlock_services"].is_string()
                            ? vars["airlock_services"].get<std::string>()
                            : "systemd";
  if (manager != "systemd" && manager != "airlock-node") {
    return make_error(Errc::kInvalidArgument, s.host().name + ": host var airlock_services is `" + manager +
                                                  "`; expected systemd or airlock-node");
  }
  return manager;
}

// {"release":R}: this plan's release. {"to":"last-good"|"previous"|R}: a switch back (airlock-node
// switch --to-last-good / --to-previous / R); then the configuration files airlock wrote for the
// release switched to (snapshots under /var/lib/airlock/configs/<release>/, kept by the engine
// after each template and unit it wrote) are put back in place, so that config outside the
// release goes back with it (a restored unit file is followed by a daemon-reload).
Result<ActionResult> act_switch(NodeSession& s, const json& p) {
  if (!p.contains("to")) {
    std::string release = p.value("release", "");
    TRY_ASSIGN(json r, s.node({"switch", release}));
    bool changed = r.value("changed", true);
    return ActionResult{changed ? "current -> releases/" + release : "current already releases/" + release, 0, changed};
  }
  std::string to = p.value("to", "");
  std::string arg = to == "last-good" ? "--to-last-good" : to == "previous" ? "--to-previous" : to;
  TRY_ASSIGN(json r, s.node({"switch", arg}));
  std::string release = r.value("release", "");
  bool changed = r.value("changed", true);
  // Put back what the engine kept for that release (cmp first: unchanged files stay untouched).
  static const char* kRestore =
      "set -e; src=\"$1\"; root=\"$2\"; [ -d \"$src\" ] || exit 0; cd \"$src\"; "
      "find . -type f ! -name '*.airlock-tmp' | sort | while IFS= read -r f; do "
      "d=\"$root/${f#./}\"; cmp -s \"$f\" \"$d\" && continue; mkdir -p \"$(dirname \"$d\")\"; "
      "cp -p \"$f\" \"$d.airlock-tmp\"; mv -f \"$d.airlock-tmp\" \"$d\"; echo \"${f#.}\"; done";
  TRY_ASSIGN(std::string restored,
             s.must({"sh", "-c", kRestore, "airlock-restore", s.paths().path("/var/lib/airlock/configs/" + release),
                     s.paths().prefix},
                    std::chrono::seconds(60)));
  size_t files = 0;
  bool units = false;
  for (size_t pos = 0; pos < restored.size();) {
    size_t nl = restored.find('\n', pos);
    std::string line = restored.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? restored.size() : nl + 1;
    if (line.empty()) continue;
    ++files;
    if (line.rfind("/etc/systemd/", 0) == 0) units = true;
  }
  TRY_ASSIGN(std::string manager, service_manager(s));
  if (units && manager == "systemd") {  // airlock-node's supervisor reads the unit at each start
    TRY_ASSIGN(std::string out, s.must({"systemctl", "daemon-reload"}, std::chrono::seconds(120)));
  }
  std::string msg = (changed ? "current -> releases/" : "current already releases/") + release + " (" + to + ")";
  if (files) msg += "; restored " + std::to_string(files) + " config file(s) of " + release;
  return ActionResult{msg, 0, changed || files > 0};
}

// A service step through airlock-node's supervisor (host var airlock_services: airlock-node).
Result<ActionResult> act_service_node(NodeSession& s, const json& p, const std::string& unit_path) {
  std::string name = p.value("name", "");
  std::string state = p.value("state", "started");
  auto limit = std::chrono::seconds(150);
  ActionResult r;
  if (state == "absent") {
    TRY_ASSIGN(json stopped, s.node({"service", "stop", name}, limit));
    TRY_ASSIGN(auto rm, s.must({"rm", "-f", unit_path}, limit));
    r.message = name + " removed (airlock-node service)";
    return r;
  }
  if (p.contains("unit") && p["unit"].is_string()) {
    TRY_ASSIGN(r.bytes, s.send_text(p["unit"].get<std::string>(), unit_path, 0644));
  }
  std::string verb = state == "restarted" ? "restart" : state == "stopped" ? "stop" : "start";
  // start/restart fail when the service exits right after exec, with the end of its log.
  TRY_ASSIGN(json out, s.node({"service", verb, name}, limit));
  if (state != "stopped" && !out.value("active", false)) {
    return make_error(Errc::kIo, name + " is not active after " + verb + " (airlock-node service)");
  }
  r.message = name + " " + (state == "restarted" ? "restarted" : state == "stopped" ? "stopped" : "started") +
              " (airlock-node service" + (state != "stopped" && p.value("enabled", false) ? "; not started at boot)" : ")");
  return r;
}

Result<ActionResult> act_service(NodeSession& s, const json& p) {
  std::string name = p.value("name", "");
  std::string unit_path = s.paths().path("/etc/systemd/system/" + name + ".service");
  std::string state = p.value("state", "started");
  auto minute = std::chrono::seconds(120);
  ActionResult r;
  TRY_ASSIGN(std::string manager, service_manager(s));
  if (manager == "airlock-node") return act_service_node(s, p, unit_path);
  if (state == "absent") {
    (void)s.run({"systemctl", "stop", name}, minute);
    (void)s.run({"systemctl", "disable", name}, minute);
    TRY_ASSIGN(auto rm, s.must({"rm", "-f", unit_path}, minute));
    TRY_ASSIGN(auto out, s.must({"systemctl", "daemon-reload"}, minute));
    r.message = name + " removed";
    return r;
  }
  if (p.contains("unit") && p["unit"].is_string()) {
    TRY_ASSIGN(r.bytes, s.send_text(p["unit"].get<std::string>(), unit_path, 0644));
    TRY_ASSIGN(auto out, s.must({"systemctl", "daemon-reload"}, minute));
  }
  if (p.value("enabled", false) && state != "stopped") {
    TRY_ASSIGN(auto out, s.must({"systemctl", "enable", name}, minute));
  }
  std::string verb = state == "restarted" ? "restart" : state == "stopped" ? "stop" : "start";
  TRY_ASSIGN(auto out, s.must({"systemctl", verb, name}, minute));
  if (state != "stopped") {
    // A unit that exits at once is not running: say so here rather than at the health gate.
    TRY_ASSIGN(auto active, s.run({"systemctl", "is-active", name}, minute));
    if (active.exit_code != 0) {
      return make_error(Errc::kIo, name + " is not active after " + verb + ": " + first_line(active.out));
    }
  }
  r.message = name + " " + (state == "restarted" ? "restarted" : state == "stopped" ? "stopped" : "started");
  return r;
}

Result<ActionResult> act_health(NodeSession& s, const json& p) {
  std::string kind = p.value("kind", "http");
  std::vector<std::string> args = {"health", kind};
  if (kind == "exec") {
    args.push_back("--deadline");
    args.push_back(seconds_arg(p, "deadline_s", 60));
  }
  if (kind != "exec") args.push_back(p.value("target", ""));
  if (kind == "http" && p.contains("expect_status")) {
    args.push_back("--expect-status");
    args.push_back(std::to_string(p["expect_status"].get<int>()));
  }
  if (kind != "exec") {
    args.push_back("--deadline");
    args.push_back(seconds_arg(p, "deadline_s", 60));
  }
  args.push_back("--soak");
  args.push_back(seconds_arg(p, "soak_s", 0));
  args.push_back("--interval");
  args.push_back(std::to_string(p.value("interval_ms", 500)));
  if (kind == "exec") {
    args.push_back("--");
    for (const auto& a : p.value("target", json::array())) args.push_back(a.get<std::string>());
  }
  auto timeout = seconds_param(p, "deadline_s", 60) + seconds_param(p, "soak_s", 0) + std::chrono::seconds(30);
  TRY_ASSIGN(json r, s.node(args, timeout));
  return ActionResult{"healthy after " + std::to_string(r.value("attempts", 0)) + " attempt(s)", 0, true};
}

Result<ActionResult> act_driver(NodeSession& s, const json& p) {
  if (p.contains("skip_reason")) return ActionResult{p["skip_reason"].get<std::string>(), 0, false};
  std::string comp = p.value("component", ""), version = p.value("version", "");
  std::string blob = s.paths().blob(p.value("blob", ""));
  std::string method = p.value("method", "script");
  auto limit = std::chrono::minutes(30);
  if (method == "dpkg") {
    TRY_ASSIGN(auto out, s.must({"dpkg", "-i", blob}, limit));
  } else {
    std::string dir = s.paths().path("/var/lib/airlock/drivers/" + comp + "-" + version);
    std::string script =
        "set -e; rm -rf \"$1.tmp\"; mkdir -p \"$1.tmp\"; tar -xf \"$2\" -C \"$1.tmp\"; rm -rf \"$1\"; "
        "mv \"$1.tmp\" \"$1\"; cd \"$1\"; AIRLOCK_LAYER_DIR=\"$1\" sh ./install.sh";
    TRY_ASSIGN(auto out, s.must({"sh", "-c", script, "airlock-driver", dir, blob}, limit));
  }
  json rec = {{"component", comp}, {"version", version}, {"method", method}};
  TRY_ASSIGN(json r, s.node({"state", "record", "driver:" + comp, rec.dump()}));
  std::string msg = "installed " + comp + " " + version;
  if (p.value("reboot_hint", false)) msg += " (a reboot is needed to load it)";
  return ActionResult{msg, 0, true};
}

Result<ActionResult> act_command(NodeSession& s, const json& p) {
  if (p.contains("creates") && p["creates"].is_string()) {
    TRY_ASSIGN(auto t, s.run({"test", "-e", s.paths().path(p["creates"].get<std::string>())}, std::chrono::seconds(60)));
    if (t.exit_code == 0) return ActionResult{p["creates"].get<std::string>() + " exists", 0, false};
  }
  std::vector<std::string> argv;
  for (const auto& a : p.value("argv", json::array())) argv.push_back(a.get<std::string>());
  TRY_ASSIGN(auto out, s.must(argv, seconds_param(p, "timeout_s", 600)));
  return ActionResult{"ran " + transport::shell_join(argv), 0, true};
}

Result<ActionResult> act_remove(NodeSession& s, const json& p) {
  std::vector<std::string> argv = {"rm", "-rf", "--"};
  for (const auto& a : p.value("paths", json::array())) argv.push_back(s.paths().path(a.get<std::string>()));
  TRY_ASSIGN(auto out, s.must(argv, std::chrono::seconds(600)));
  return ActionResult{"removed " + std::to_string(argv.size() - 3) + " path(s)", 0, true};
}

}  // namespace

Result<ActionResult> act(NodeSession& s, const PlanStep& step, const EngineOptions& o) {
  const json& p = step.params;
  if (step.action == "stage") return act_stage(s, p, o);
  if (step.action == "files") return act_files(s, p);
  if (step.action == "template") return act_template(s, p);
  if (step.action == "switch") return act_switch(s, p);
  if (step.action == "service") return act_service(s, p);
  if (step.action == "health") return act_health(s, p);
  if (step.action == "driver") return act_driver(s, p);
  if (step.action == "command") return act_command(s, p);
  if (step.action == "remove") return act_remove(s, p);
  if (step.action == "images") return act_images(s, p, o);
  return make_error(Errc::kUnsupported, "action `" + step.action + "` is not supported by this engine yet");
}

}  // namespace airlock::install
