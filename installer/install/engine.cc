// The install engine (see engine.h): phases, per-node steps, the journal, and each action's
// remote side (through airlock-node's node-side subcommands, docs/node-side.md).
#include "installer/install/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>

#include "common/fs.h"
#include "common/sha256.h"
#include "installer/fleet/gather.h"
#include "installer/inventory/nodeset.h"

namespace airlock::install {
namespace {

using json = nlohmann::json;
using transport::ExecOptions;
using transport::Transport;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string first_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  auto nl = s.rfind('\n');
  if (nl != std::string::npos) s = s.substr(nl + 1);  // the last line says most
  return s.size() > 400 ? s.substr(0, 400) + "..." : s;
}

// Per-node paths: everything under an optional prefix (host var airlock_prefix) so a
// non-root or test install can live in a folder.
struct NodePaths {
  std::string prefix;
  std::string node_sha;  // airlock-node is stored under its digest: present means "this binary"
  std::string node_bin() const { return prefix + "/var/lib/airlock/bin/airlock-node-" + node_sha.substr(0, 16); }
  std::string blob(const std::string& digest) const {
    return prefix + "/var/lib/airlock/blobs/sha256/" + std::string(digest_hex(digest));
  }
  std::string path(const std::string& abs) const { return prefix + abs; }
};

NodePaths paths_for(const inventory::Host& h) {
  NodePaths p;
  if (h.vars.is_object() && h.vars.contains("airlock_prefix") && h.vars["airlock_prefix"].is_string()) {
    p.prefix = h.vars["airlock_prefix"].get<std::string>();
    while (!p.prefix.empty() && p.prefix.back() == '/') p.prefix.pop_back();
  }
  return p;
}

// One node's session for one phase: runs commands, airlock-node subcommands, uploads.
class NodeSession {
 public:
  NodeSession(const inventory::Host& h, Transport& t, const EngineOptions& o)
      : h_(h), t_(t), o_(o), p_(paths_for(h)) {
    p_.node_sha = o.node_binary_sha256;
  }

  const NodePaths& paths() const { return p_; }

  Result<transport::ExecResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                    const std::string& input = "") {
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

  // Runs a command that must exit 0; its stdout on success.
  Result<std::string> must(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::string& input = "") {
    TRY_ASSIGN(auto r, run(argv, timeout, input));
    if (r.exit_code != 0) {
      return make_error(Errc::kIo, h_.name + ": `" + transport::shell_join(argv) + "` exited " +
                                       std::to_string(r.exit_code) + ": " + first_line(r.err.empty() ? r.out : r.err));
    }
    return r.out;
  }

  // airlock-node SUBCOMMAND ... with --root-dir; its JSON answer (ok:true) or its error.
  Result<json> node(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(120),
                    const std::string& input = "") {
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

  // Sends a local file unless the node already has that digest there; bytes sent.
  Result<uint64_t> send(const std::string& local, const std::string& remote, const std::string& hex, int mode) {
    auto r = t_.upload(local, remote, hex, mode);
    if (!r.ok()) return r.error().wrap(h_.name + ": sending " + remote);
    return r;
  }

  // Sends text as a file (through a content-addressed local copy).
  Result<uint64_t> send_text(const std::string& text, const std::string& remote, int mode) {
    std::string digest = sha256_digest(text);
    std::string hex(digest_hex(digest));
    std::string local = o_.cache_dir + "/" + hex;
    std::error_code ec;
    if (!std::filesystem::exists(local, ec)) TRY_STATUS(write_file_atomic(local, text));
    return send(local, remote, hex, mode);
  }

 private:
  const inventory::Host& h_;
  Transport& t_;
  const EngineOptions& o_;
  NodePaths p_;
};

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

struct ActionResult {
  std::string message;
  uint64_t bytes = 0;
  bool changed = true;
};

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

Result<ActionResult> act_switch(NodeSession& s, const json& p) {
  std::string release = p.value("release", "");
  TRY_ASSIGN(json r, s.node({"switch", release}));
  bool changed = r.value("changed", true);
  return ActionResult{changed ? "current -> releases/" + release : "current already releases/" + release, 0, changed};
}

Result<ActionResult> act_service(NodeSession& s, const json& p) {
  std::string name = p.value("name", "");
  std::string unit_path = s.paths().path("/etc/systemd/system/" + name + ".service");
  std::string state = p.value("state", "started");
  auto minute = std::chrono::seconds(120);
  ActionResult r;
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
  return make_error(Errc::kUnsupported, "action `" + step.action + "` is not supported by this engine yet");
}

// Everything one phase of a run shares between its node workers.
struct PhaseRun {
  const Plan& plan;
  const PhasePlan& phase;
  fleet::StateDb& db;
  const EngineOptions& o;
  const std::function<void(const StepEvent&)>& on_event;
  std::map<std::pair<std::string, std::string>, std::string> journal_done;  // (node, step) -> digest
  std::mutex mu;
  RunResult* result;
};

void emit(PhaseRun& pr, StepEvent e) {
  std::lock_guard lk(pr.mu);
  if (e.status == "changed") pr.result->changed++;
  if (e.status == "unchanged") pr.result->unchanged++;
  pr.result->bytes_sent += e.bytes_sent;
  if (pr.on_event) pr.on_event(e);
}

Status journal(PhaseRun& pr, const std::string& node, const PlanStep& st, const char* state, const std::string& msg) {
  return pr.db.journal({pr.o.run_id, node, st.id, st.digest, state, now_ns(), msg});
}

// Refuses to put an older bundle on a node that has a newer one (unless allowed).
Status check_downgrade(const Plan& plan, const json& node_state, const EngineOptions& o, const std::string& node) {
  if (o.allow_downgrade) return {};
  const json& rec = node_state.value("records", json::object());
  if (!rec.contains("bundle") || !rec["bundle"].is_object()) return {};
  const json& b = rec["bundle"];
  if (b.value("name", "") != plan.bundle_name) return {};
  uint64_t installed = b.value("version", uint64_t{0});
  if (installed > plan.bundle_version) {
    return make_error(Errc::kLimit, node + ": has " + plan.bundle_name + " version " + std::to_string(installed) +
                                        " installed, newer than this bundle's " + std::to_string(plan.bundle_version) +
                                        " (use --allow-downgrade to go back on purpose)");
  }
  return {};
}

Status run_node(PhaseRun& pr, const inventory::Host& h, Transport& t) {
  NodeSession s(h, t, pr.o);
  auto st = s.node({"state", "get"});
  if (!st.ok() && st.error().message.find(" exited 127") != std::string::npos) {
    // This node does not have this airlock-node yet.
    auto sent = s.send(pr.o.node_binary, s.paths().node_bin(), pr.o.node_binary_sha256, 0755);
    if (!sent.ok()) return sent.error();
    st = s.node({"state", "get"});
  }
  if (!st.ok()) return st.error();
  json node_state = st->value("state", json::object());
  TRY_STATUS(check_downgrade(pr.plan, node_state, pr.o, h.name));
  const json& done_steps = node_state.value("steps", json::object());
  const auto& steps = pr.phase.steps.at(h.name);
  for (const auto& step : steps) {
    auto t0 = std::chrono::steady_clock::now();
    StepEvent ev{pr.phase.name, h.name, step.id, step.action, "unchanged", "", 0, 0};
    auto jd = pr.journal_done.find({h.name, step.id});
    if (jd != pr.journal_done.end() && jd->second == step.digest) {
      ev.message = "done earlier in this run";
      emit(pr, ev);
      continue;
    }
    if (done_steps.contains(step.id) && done_steps[step.id] == step.digest) {
      ev.message = "already done on the node";
      TRY_STATUS(journal(pr, h.name, step, "done", ev.message));
      emit(pr, ev);
      continue;
    }
    TRY_STATUS(journal(pr, h.name, step, "intent", ""));
    auto r = act(s, step, pr.o);
    ev.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      Error e = r.error().wrap(h.name + ": step " + step.id + " (" + step.defined_at + ")");
      (void)journal(pr, h.name, step, "failed", e.describe());
      ev.status = "failed";
      ev.message = e.describe();
      emit(pr, ev);
      return e;
    }
    TRY_ASSIGN(json rec, s.node({"state", "set-step", step.id, step.digest}));
    TRY_STATUS(journal(pr, h.name, step, "done", r->message));
    ev.status = r->changed ? "changed" : "unchanged";
    ev.message = r->message;
    ev.bytes_sent = r->bytes;
    emit(pr, ev);
  }
  // After a phase that switched and passed its gates, this release is the node's last known good.
  for (const auto& step : steps) {
    if (step.action == "switch") {
      TRY_ASSIGN(json g, s.node({"mark-good", step.params.value("release", "")}));
    }
  }
  json b = {{"name", pr.plan.bundle_name}, {"version", pr.plan.bundle_version}, {"release", pr.plan.bundle_release}};
  TRY_ASSIGN(json rec, s.node({"state", "record", "bundle", b.dump()}));
  return {};
}

}  // namespace

size_t allowed_failures(const std::string& max_fail, size_t total) {
  if (!max_fail.empty() && max_fail.back() == '%') {
    double pct = std::strtod(max_fail.c_str(), nullptr);
    return static_cast<size_t>(std::floor(pct * static_cast<double>(total) / 100.0));
  }
  return static_cast<size_t>(std::strtoull(max_fail.c_str(), nullptr, 10));
}

void EngineControl::cancel() {
  std::lock_guard lk(mu_);
  cancelled_ = true;
  if (current_) current_->cancel();
}

bool EngineControl::cancelled() const {
  std::lock_guard lk(mu_);
  return cancelled_;
}

bool EngineControl::set_current(fleet::Executor* ex) {
  std::lock_guard lk(mu_);
  current_ = ex;
  return !cancelled_;
}

RunResult apply_plan(const Plan& plan, const inventory::Inventory& inv, transport::TransportFactory& factory,
                     fleet::StateDb& db, const EngineOptions& opts, const std::function<void(const StepEvent&)>& on_event,
                     EngineControl* control) {
  RunResult result;
  std::map<std::pair<std::string, std::string>, std::string> journal_done;
  if (auto j = db.journal_latest(opts.run_id); j.ok()) {
    for (const auto& e : *j) {
      if (e.state == "done") journal_done[{e.node, e.step}] = e.digest;
    }
  }
  std::set<std::string> failed_nodes;
  for (const auto& phase : plan.phases) {
    PhaseResult pr_out;
    pr_out.name = phase.name;
    std::vector<const inventory::Host*> hosts;
    for (const auto& n : phase.nodes) {
      if (failed_nodes.count(n)) {
        pr_out.not_started.push_back(n);
        continue;
      }
      if (phase.steps.count(n) && !phase.steps.at(n).empty()) hosts.push_back(inv.find(n));
    }
    PhaseRun pr{plan, phase, db, opts, on_event, journal_done, {}, &result};
    fleet::Executor ex(factory, phase.concurrency);
    if (control && !control->set_current(&ex)) {
      control->set_current(nullptr);
      result.interrupted = true;
      break;
    }
    std::vector<fleet::NodeOutcome> outcomes;
    {
      fleet::CountsDisplay display(phase.name, ex, opts.live_counts);
      outcomes = ex.run(hosts, [&](const inventory::Host& h, Transport& t) { return run_node(pr, h, t); });
    }
    if (control) control->set_current(nullptr);
    for (const auto& o : outcomes) {
      if (o.status.ok()) {
        pr_out.ok.push_back(o.host->name);
      } else {
        pr_out.failed.push_back(o.host->name);
        failed_nodes.insert(o.host->name);
        result.node_failures.emplace(o.host->name, o.status.error().describe());
      }
    }
    pr_out.exceeded = pr_out.failed.size() > allowed_failures(phase.max_fail, hosts.size());
    bool interrupted = ex.cancelled();
    result.phases.push_back(pr_out);
    if (interrupted) {
      result.interrupted = true;
      break;
    }
    if (pr_out.exceeded && phase.stop_on_failure) {
      result.stopped = true;
      result.stop_reason = "phase " + phase.name + ": " + std::to_string(pr_out.failed.size()) + " of " +
                           std::to_string(hosts.size()) + " node(s) failed (max_fail " + phase.max_fail + ")";
      break;
    }
  }
  return result;
}

std::string render_run_summary(const Plan& plan, const RunResult& r) {
  std::string s;
  for (const auto& p : r.phases) {
    s += "phase " + p.name + ": " + std::to_string(p.ok.size()) + " ok";
    if (!p.ok.empty()) s += " (" + inventory::fold_nodeset(p.ok) + ")";
    if (!p.failed.empty()) s += ", " + std::to_string(p.failed.size()) + " failed (" + inventory::fold_nodeset(p.failed) + ")";
    if (!p.not_started.empty()) {
      s += ", " + std::to_string(p.not_started.size()) + " skipped after an earlier failure (" +
           inventory::fold_nodeset(p.not_started) + ")";
    }
    s += p.exceeded ? "  [exceeded max_fail]\n" : "\n";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(r.bytes_sent) / (1 << 20));
  s += "\n" + std::to_string(r.changed) + " step(s) changed something, " + std::to_string(r.unchanged) +
       " already in place; " + buf + " sent\n";
  if (!r.node_failures.empty()) {
    s += "\nfailed nodes:\n";
    for (const auto& [node, why] : r.node_failures) s += "  " + why + "\n";
  }
  if (r.stopped) s += "\nstopped: " + r.stop_reason + "\n";
  if (r.interrupted) s += "\ninterrupted: resume with `airlock resume`\n";
  if (r.ok()) s += "\nrelease " + plan.release + " installed\n";
  return s;
}

nlohmann::json run_result_json(const RunResult& r) {
  json phases = json::array();
  for (const auto& p : r.phases) {
    phases.push_back({{"name", p.name}, {"ok", p.ok}, {"failed", p.failed}, {"not_started", p.not_started},
                      {"exceeded_max_fail", p.exceeded}});
  }
  return {{"ok", r.ok()},         {"phases", phases},          {"failures", r.node_failures},
          {"changed", r.changed}, {"unchanged", r.unchanged}, {"bytes_sent", r.bytes_sent},
          {"stopped", r.stopped}, {"stop_reason", r.stop_reason}, {"interrupted", r.interrupted}};
}

}  // namespace airlock::install
