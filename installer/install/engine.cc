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

// Refuses to put an older bundle on a node that has a newer one (unless allowed).
Status check_downgrade(const Plan& plan, const json& node_state, const EngineOptions& o, const std::string& node) {
  if (o.allow_downgrade || plan.bundle_name.empty()) return {};
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

// Keeps a copy of a config file (or unit) airlock just wrote, as it is for `release`, so that a
// switch back to that release can put it back (act_switch).
Status snapshot_config(NodeSession& s, const std::string& release, const std::string& abs_path) {
  if (release.empty() || abs_path.empty() || abs_path[0] != '/') return {};
  static const char* kSnap = "set -e; mkdir -p \"$(dirname \"$2\")\"; cp -p \"$1\" \"$2.airlock-tmp\"; mv -f \"$2.airlock-tmp\" \"$2\"";
  auto r = s.must({"sh", "-c", kSnap, "airlock-snapshot", s.paths().path(abs_path),
                   s.paths().path("/var/lib/airlock/configs/" + release + abs_path)},
                  std::chrono::seconds(60));
  if (!r.ok()) return r.error().wrap("keeping a copy of " + abs_path + " for release " + release);
  return {};
}

bool is_switch_back(const PlanStep& st) { return st.action == "switch" && st.params.contains("to"); }

}  // namespace

void RunSink::emit(const StepEvent& e) {
  std::lock_guard lk(mu_);
  if (e.status == "changed") result_->changed++;
  if (e.status == "unchanged") result_->unchanged++;
  result_->bytes_sent += e.bytes_sent;
  if (on_event_) on_event_(e);
}

JournalDone journal_done_steps(fleet::StateDb& db, const std::string& run_id) {
  JournalDone done;
  if (auto j = db.journal_latest(run_id); j.ok()) {
    for (const auto& e : *j) {
      if (e.state == "done") done[{e.node, e.step}] = e.digest;
    }
  }
  return done;
}

Status run_phase_node(const Plan& plan, const PhasePlan& phase, const inventory::Host& h, Transport& t,
                      fleet::StateDb& db, const EngineOptions& o, const JournalDone& journal_done, RunSink& sink) {
  auto journal = [&](const PlanStep& st, const char* state, const std::string& msg) {
    return db.journal({o.run_id, h.name, st.id, st.digest, state, now_ns(), msg});
  };
  NodeSession s(h, t, o);
  auto st = s.node({"state", "get"});
  if (!st.ok() && st.error().message.find(" exited 127") != std::string::npos) {
    // This node does not have this airlock-node yet.
    auto sent = s.send(o.node_binary, s.paths().node_bin(), o.node_binary_sha256, 0755);
    if (!sent.ok()) return sent.error();
    st = s.node({"state", "get"});
  }
  if (!st.ok()) return st.error();
  json node_state = st->value("state", json::object());
  TRY_STATUS(check_downgrade(plan, node_state, o, h.name));
  const json& done_steps = node_state.value("steps", json::object());
  const auto& steps = phase.steps.at(h.name);
  bool force = false;  // a switch back changed the node: the rest of the phase runs
  for (const auto& step : steps) {
    auto t0 = std::chrono::steady_clock::now();
    StepEvent ev{phase.name, h.name, step.id, step.action, "unchanged", "", 0, 0};
    if (!force && !is_switch_back(step)) {
      auto jd = journal_done.find({h.name, step.id});
      if (jd != journal_done.end() && jd->second == step.digest) {
        ev.message = "done earlier in this run";
        sink.emit(ev);
        continue;
      }
      if (done_steps.contains(step.id) && done_steps[step.id] == step.digest) {
        ev.message = "already done on the node";
        TRY_STATUS(journal(step, "done", ev.message));
        sink.emit(ev);
        continue;
      }
    }
    TRY_STATUS(journal(step, "intent", ""));
    auto r = act(s, step, o);
    if (r.ok() && step.action == "template") {
      if (auto k = snapshot_config(s, plan.release, step.params.value("dest", "")); !k.ok()) r = k.error();
    }
    if (r.ok() && step.action == "service" && step.params.contains("unit") &&
        step.params.value("state", "") != "absent") {
      std::string unit = "/etc/systemd/system/" + step.params.value("name", "") + ".service";
      if (auto k = snapshot_config(s, plan.release, unit); !k.ok()) r = k.error();
    }
    ev.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      Error e = r.error().wrap(h.name + ": step " + step.id + " (" + step.defined_at + ")");
      (void)journal(step, "failed", e.describe());
      ev.status = "failed";
      ev.message = e.describe();
      sink.emit(ev);
      return e;
    }
    if (is_switch_back(step) && r->changed) force = true;
    TRY_ASSIGN(json rec, s.node({"state", "set-step", step.id, step.digest}));
    TRY_STATUS(journal(step, "done", r->message));
    ev.status = r->changed ? "changed" : "unchanged";
    ev.message = r->message;
    ev.bytes_sent = r->bytes;
    sink.emit(ev);
  }
  // After a phase that switched and passed its gates, the release it switched to is the node's
  // last known good: this plan's release, or (a switch back) the one now current.
  bool switched = false, switched_back = false;
  for (const auto& step : steps) {
    if (step.action != "switch") continue;
    switched = true;
    if (is_switch_back(step)) switched_back = true;
  }
  json records = node_state.value("records", json::object());
  if (switched) {
    std::string release = plan.release;
    if (switched_back) {
      TRY_ASSIGN(json now, s.node({"state", "get"}));
      const json& ns = now.value("state", json::object());
      release = ns.contains("current") && ns["current"].is_string() ? ns["current"].get<std::string>() : "";
      if (ns.contains("records") && ns["records"].is_object()) records = ns["records"];
    }
    if (!release.empty()) {
      TRY_ASSIGN(json g, s.node({"mark-good", release}));
    }
    if (switched_back) {
      // Back on an earlier release: the bundle it came from is the node's bundle again.
      if (records.contains("bundle@" + release)) {
        TRY_ASSIGN(json rec, s.node({"state", "record", "bundle", records["bundle@" + release].dump()}));
      }
      return {};
    }
  }
  if (plan.bundle_name.empty()) return {};
  // The bundle record says which bundle the node's current release came from: written when this
  // phase switched to the plan's release, or the first time the node sees a bundle at all.
  json b = {{"name", plan.bundle_name}, {"version", plan.bundle_version}, {"release", plan.bundle_release}};
  if (switched || !records.contains("bundle")) {
    TRY_ASSIGN(json rec, s.node({"state", "record", "bundle", b.dump()}));
  }
  if (switched) {
    TRY_ASSIGN(json rec2, s.node({"state", "record", "bundle@" + plan.release, b.dump()}));
  }
  return {};
}

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
  JournalDone journal_done = journal_done_steps(db, opts.run_id);
  RunSink sink(&result, on_event);
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
    fleet::Executor ex(factory, phase.concurrency);
    if (control && !control->set_current(&ex)) {
      control->set_current(nullptr);
      result.interrupted = true;
      break;
    }
    std::vector<fleet::NodeOutcome> outcomes;
    {
      fleet::CountsDisplay display(phase.name, ex, opts.live_counts);
      outcomes = ex.run(hosts, [&](const inventory::Host& h, Transport& t) { return run_phase_node(plan, phase, h, t, db, opts, journal_done, sink); });
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

std::string render_phase_lines(const RunResult& r, const std::string& not_started) {
  std::string s;
  for (const auto& p : r.phases) {
    s += "phase " + p.name + ": " + std::to_string(p.ok.size()) + " ok";
    if (!p.ok.empty()) s += " (" + inventory::fold_nodeset(p.ok) + ")";
    if (!p.failed.empty()) s += ", " + std::to_string(p.failed.size()) + " failed (" + inventory::fold_nodeset(p.failed) + ")";
    if (!p.not_started.empty()) {
      s += ", " + std::to_string(p.not_started.size()) + " " + not_started + " (" + inventory::fold_nodeset(p.not_started) + ")";
    }
    s += p.exceeded ? "  [exceeded max_fail]\n" : "\n";
  }
  return s;
}

std::string render_run_summary(const Plan& plan, const RunResult& r) {
  std::string s = render_phase_lines(r, "skipped after an earlier failure");
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
