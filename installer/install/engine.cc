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
