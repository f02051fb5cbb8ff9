// The rolling driver (see upgrade.h): ordinary phases through apply_plan, rolling phases node by
// node under the Rollout scheduler, with automatic revert and a snapshot after every event.
#include "installer/install/upgrade.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "installer/inventory/nodeset.h"

namespace airlock::install {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void merge(RunResult* into, RunResult&& r) {
  for (auto& p : r.phases) into->phases.push_back(std::move(p));
  for (auto& [n, why] : r.node_failures) into->node_failures.emplace(n, why);
  into->changed += r.changed;
  into->unchanged += r.unchanged;
  into->bytes_sent += r.bytes_sent;
  if (r.stopped && !into->stopped) {
    into->stopped = true;
    into->stop_reason = r.stop_reason;
  }
  into->interrupted = into->interrupted || r.interrupted;
}

enum class Outcome { kOk, kFailed, kDown, kCancelled };

struct NodeDone {
  std::string node;
  Outcome outcome = Outcome::kOk;
  std::string why;
};

// Everything one rolling phase shares between the scheduler loop and the node workers.
struct Rolling {
  const Plan& plan;
  const PhasePlan& phase;
  const inventory::Inventory& inv;
  transport::TransportFactory& factory;
  fleet::StateDb& db;
  const EngineOptions& eo;
  const UpgradeOptions& uo;
  const std::function<void(const RolloutEvent&)>& on_rollout;
  UpgradeControl* control;
  JournalDone journal_done;
  RunSink& sink;
};

// Takes a node whose rolling step failed back to its last known good release.
Status revert_node(Rolling& rc, NodeSession& s, const std::string& node) {
  const auto& steps = rc.phase.steps.at(node);
  // First the records: whatever happens next, a later run must not skip this phase's steps.
  for (const auto& st : steps) {
    TRY_ASSIGN(json rec, s.node({"state", "set-step", st.id, "reverted"}, 30s));
    (void)rc.db.journal({rc.eo.run_id, node, st.id, st.digest, "reverted", now_ns(), "reverted to the last good release"});
  }
  for (const auto& st : revert_steps(rc.phase.name, steps)) {
    auto t0 = std::chrono::steady_clock::now();
    StepEvent ev{rc.phase.name, node, st.id, st.action, "changed", "", 0, 0};
    auto r = act(s, st, rc.eo);
    ev.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      Error e = r.error().wrap(node + ": revert step " + st.id + " (" + st.defined_at + ")");
      ev.status = "failed";
      ev.message = e.describe();
      rc.sink.emit(ev);
      return e;
    }
    ev.status = r->changed ? "changed" : "unchanged";
    ev.message = r->message;
    ev.bytes_sent = r->bytes;
    rc.sink.emit(ev);
  }
  return {};
}

NodeDone work_node(Rolling& rc, const std::string& node) {
  NodeDone d{node, Outcome::kOk, ""};
  const inventory::Host* h = rc.inv.find(node);
  if (h == nullptr) return {node, Outcome::kDown, "not in the inventory"};
  std::unique_ptr<transport::Transport> t = rc.factory.open(*h);
  if (!rc.control->add(t.get())) return {node, Outcome::kCancelled, ""};
  struct Unregister {
    UpgradeControl* c;
    transport::Transport* t;
    ~Unregister() { c->remove(t); }
  } unregister{rc.control, t.get()};
  if (auto c = t->connect(); !c.ok()) {
    if (rc.control->cancelled()) return {node, Outcome::kCancelled, ""};
    return {node, Outcome::kDown, "unreachable, nothing changed: " + c.error().describe()};
  }
  NodeSession s(*h, *t, rc.eo);
  // A node whose link went down is found here in seconds, not at some step's timeout.
  auto q = s.run({"true"}, rc.uo.reach_timeout);
  if (!q.ok() || q->exit_code != 0) {
    if (rc.control->cancelled()) return {node, Outcome::kCancelled, ""};
    return {node, Outcome::kDown,
            "unreachable, nothing changed: " + (q.ok() ? "`true` exited " + std::to_string(q->exit_code) : q.error().describe())};
  }
  Status st = run_phase_node(rc.plan, rc.phase, *h, *t, rc.db, rc.eo, rc.journal_done, rc.sink);
  if (st.ok()) return d;
  if (rc.control->cancelled()) return {node, Outcome::kCancelled, ""};
  std::string why = st.error().describe();
  log::warn(why + "; reverting " + node + " to its last good release");
  Status rv = revert_node(rc, s, node);
  if (rv.ok()) return {node, Outcome::kFailed, why + " (reverted to its last good release)"};
  if (rc.control->cancelled()) return {node, Outcome::kCancelled, ""};
  return {node, Outcome::kDown, why + "; then the revert failed: " + rv.error().describe()};
}

// Runs one rolling phase; returns its PhaseResult and fills `out`.
void run_rolling(const Plan& plan, const PhasePlan& phase, const std::set<std::string>& skip,
                 const inventory::Inventory& inv, transport::TransportFactory& factory, fleet::StateDb& db,
                 const EngineOptions& eo, const UpgradeOptions& uo, const std::function<void(const StepEvent&)>& on_step,
                 const std::function<void(const RolloutEvent&)>& on_rollout, UpgradeControl* control,
                 UpgradeResult* out) {
  PhaseResult pr;
  pr.name = phase.name;
  std::vector<std::string> nodes;
  for (const auto& n : phase.nodes) {
    if (skip.count(n)) {
      pr.not_started.push_back(n);
    } else if (phase.steps.count(n) && !phase.steps.at(n).empty()) {
      nodes.push_back(n);
    }
  }
  RunResult& res = out->run;
  auto emit = [&](const Rollout& r, const std::string& type, const std::string& node, const std::string& msg) {
    RolloutEvent ev;
    ev.type = type;
    ev.phase = phase.name;
    ev.node = node;
    ev.message = msg;
    if (!node.empty()) {
      for (const auto& g : r.phases()) {
        if (std::find(g.nodes.begin(), g.nodes.end(), node) != g.nodes.end()) ev.group = g.name;
      }
    }
    ev.out_of_service = r.out_of_service();
    ev.max_unavailable = r.max_unavailable();
    ev.failures = r.failures();
    out->max_out_of_service = std::max(out->max_out_of_service, r.out_of_service());
    if (on_rollout) on_rollout(ev);
  };
  if (nodes.empty()) {
    res.phases.push_back(pr);
    return;
  }
  std::string path = snapshot_path(uo.snapshot_dir, eo.run_id, phase.name);
  std::error_code ec;
  std::filesystem::create_directories(uo.snapshot_dir, ec);
  Result<Rollout> made = make_error(Errc::kInternal, "no rollout");
  bool resumed = false;
  if (uo.resume && std::filesystem::exists(path, ec)) {
    auto text = read_file(path);
    json snap = text.ok() ? json::parse(*text, nullptr, false) : json();
    made = snap.is_discarded() || snap.is_null() ? Result<Rollout>(make_error(Errc::kParse, path + ": unreadable"))
                                                 : Rollout::restore(snap);
    if (!made.ok()) made = made.error().wrap("resuming from " + path);
    resumed = true;
  } else {
    made = Rollout::create(nodes, uo.rollout);
  }
  if (!made.ok()) {
    res.stopped = true;
    res.stop_reason = "phase " + phase.name + ": " + made.error().describe();
    res.phases.push_back(pr);
    return;
  }
  Rollout r = std::move(*made);
  Status persisted;
  auto persist = [&] {
    json snap = r.snapshot();
    out->rollouts[phase.name] = snap;
    Status w = write_file_atomic(path, snap.dump(1) + "\n");
    if (!w.ok() && persisted.ok()) persisted = w.error().wrap("journaling the rollout of phase " + phase.name);
  };
  persist();
  if (!persisted.ok()) {
    res.stopped = true;
    res.stop_reason = persisted.error().describe();
    res.phases.push_back(pr);
    return;
  }
  {
    std::string layout;
    for (const auto& g : r.phases()) layout += (layout.empty() ? "" : ", ") + g.name + " " + std::to_string(g.nodes.size());
    emit(r, resumed ? "resume" : "layout", "",
         layout + "; max_unavailable " + std::to_string(r.max_unavailable()) + ", failures allowed " +
             std::to_string(r.allowed_failures()));
  }

  RunSink sink(&res, on_step);
  Rolling rc{plan, phase, inv, factory, db, eo, uo, on_rollout, control, journal_done_steps(db, eo.run_id), sink};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<NodeDone> finished;
  std::vector<std::thread> threads;
  size_t active = 0;
  auto launch = [&](const std::string& node) {
    ++active;
    threads.emplace_back([&, node] {
      NodeDone d = work_node(rc, node);
      std::lock_guard lk(mu);
      finished.push_back(std::move(d));
      cv.notify_all();
    });
  };
  // A resumed run: the nodes that were being worked on still count as out of service; running
  // them again re-probes them (done steps are skipped) and settles each.
  for (const auto& n : r.running()) {
    emit(r, "resume", n, "was being worked on when the run stopped: checking it again");
    launch(n);
  }
  bool stop_logged = false;
  for (;;) {
    if (!control->cancelled() && persisted.ok()) {
      for (const auto& n : r.next()) {
        if (!r.started(n).ok()) break;
        persist();  // before anything is done to the node
        if (!persisted.ok()) {
          r.stop(persisted.error().describe());
          break;
        }
        emit(r, "start", n, "");
        launch(n);
      }
    }
    if (r.stopped() && !stop_logged) {
      stop_logged = true;
      emit(r, "stop", "", r.stop_reason());
    }
    if (active == 0) break;
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return !finished.empty(); });
    while (!finished.empty()) {
      NodeDone d = std::move(finished.front());
      finished.pop_front();
      --active;
      lk.unlock();
      switch (d.outcome) {
        case Outcome::kOk:
          (void)r.finished(d.node, true);
          pr.ok.push_back(d.node);
          persist();
          emit(r, "ok", d.node, "");
          break;
        case Outcome::kFailed:
          (void)r.finished(d.node, false, d.why);
          pr.failed.push_back(d.node);
          res.node_failures.emplace(d.node, d.why);
          out->reverted.push_back(d.node);
          persist();
          emit(r, "failed", d.node, d.why);
          break;
        case Outcome::kDown:
          (void)r.failed_down(d.node, d.why);
          pr.failed.push_back(d.node);
          res.node_failures.emplace(d.node, d.why);
          out->down.push_back(d.node);
          persist();
          emit(r, "down", d.node, d.why);
          break;
        case Outcome::kCancelled:
          break;  // stays running in the snapshot: a resume re-probes it
      }
      lk.lock();
    }
  }
  for (auto& th : threads) th.join();
  for (const auto& n : r.with_state(NodeState::kPending)) pr.not_started.push_back(n);
  pr.exceeded = r.stop_cause() == StopCause::kMaxFail || r.stop_cause() == StopCause::kCanary;
  res.phases.push_back(pr);
  if (control->cancelled()) {
    res.interrupted = true;
  } else if (r.stopped()) {
    res.stopped = true;
    res.stop_reason = "phase " + phase.name + ": " + r.stop_reason();
  }
}

}  // namespace

void UpgradeControl::cancel() {
  cancelled_ = true;
  engine_.cancel();
  std::lock_guard lk(mu_);
  for (auto* t : active_) t->cancel();
}

bool UpgradeControl::add(transport::Transport* t) {
  std::lock_guard lk(mu_);
  if (cancelled_) return false;
  active_.insert(t);
  return true;
}

void UpgradeControl::remove(transport::Transport* t) {
  std::lock_guard lk(mu_);
  active_.erase(t);
}

std::string snapshot_path(const std::string& dir, const std::string& run_id, const std::string& phase) {
  return dir + "/" + run_id + "." + phase + ".rollout.json";
}

std::vector<PlanStep> revert_steps(const std::string& phase, const std::vector<PlanStep>& steps) {
  std::vector<std::string> services;
  std::vector<const PlanStep*> gates, after_gates;
  size_t last_gate = SIZE_MAX;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].action == "health") last_gate = i;
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const PlanStep& st = steps[i];
    if (st.action == "service") {
      std::string state = st.params.value("state", "started");
      std::string name = st.params.value("name", "");
      if ((state == "started" || state == "restarted") &&
          std::find(services.begin(), services.end(), name) == services.end()) {
        services.push_back(name);
      }
    }
    if (st.action == "health") gates.push_back(&st);
    if (last_gate != SIZE_MAX && i > last_gate) after_gates.push_back(&st);
  }
  std::vector<PlanStep> out;
  auto add = [&](const std::string& action, json params, const std::string& why) {
    PlanStep p;
    p.id = phase + ".revert." + std::to_string(out.size()) + "." + action;
    p.action = action;
    p.params = std::move(params);
    p.defined_at = why;
    out.push_back(std::move(p));
  };
  for (const auto& s : services) add("service", {{"name", s}, {"state", "stopped"}}, "revert: stop " + s);
  add("switch", {{"to", "last-good"}}, "revert: back to the last good release");
  for (const auto& s : services) add("service", {{"name", s}, {"state", "restarted"}}, "revert: restart " + s);
  for (const auto* g : gates) add("health", g->params, "revert: the health gate of " + g->id);
  for (const auto* a : after_gates) add(a->action, a->params, "revert: " + a->id + " (after the gate)");
  return out;
}

UpgradeResult run_upgrade(const Plan& plan, const inventory::Inventory& inv, transport::TransportFactory& factory,
                          fleet::StateDb& db, const EngineOptions& eo, const UpgradeOptions& uo,
                          const std::function<void(const StepEvent&)>& on_step,
                          const std::function<void(const RolloutEvent&)>& on_rollout, UpgradeControl* control) {
  UpgradeResult out;
  RunResult& res = out.run;
  std::set<std::string> failed;  // nodes that failed an earlier phase take no part in later ones
  size_t i = 0;
  while (i < plan.phases.size()) {
    if (control->cancelled()) {
      res.interrupted = true;
      break;
    }
    if (plan.phases[i].rolling) {
      run_rolling(plan, plan.phases[i], failed, inv, factory, db, eo, uo, on_step, on_rollout, control, &out);
      for (const auto& n : res.phases.back().failed) failed.insert(n);
      ++i;
    } else {
      Plan sub = plan;
      sub.phases.clear();
      std::vector<std::vector<std::string>> skipped;
      for (; i < plan.phases.size() && !plan.phases[i].rolling; ++i) {
        PhasePlan p = plan.phases[i];
        std::vector<std::string> keep, skip;
        for (const auto& n : p.nodes) (failed.count(n) ? skip : keep).push_back(n);
        p.nodes = keep;
        sub.phases.push_back(std::move(p));
        skipped.push_back(skip);
      }
      RunResult r = apply_plan(sub, inv, factory, db, eo, on_step, &control->engine());
      for (size_t k = 0; k < r.phases.size(); ++k) {
        for (const auto& n : skipped[k]) r.phases[k].not_started.push_back(n);
        for (const auto& n : r.phases[k].failed) failed.insert(n);
      }
      merge(&res, std::move(r));
    }
    if (res.stopped || res.interrupted) break;
  }
  return out;
}

std::string render_upgrade_summary(const Plan& plan, const UpgradeResult& u, const std::string& verb,
                                   const std::string& target) {
  const RunResult& r = u.run;
  std::string s = render_phase_lines(r, "not started");
  for (const auto& [phase, snap] : u.rollouts) {
    s += "rolling phase " + phase + ": max_unavailable " + std::to_string(snap.value("max_unavailable", 0)) +
         ", at most " + std::to_string(u.max_out_of_service) + " out of service at once\n";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(r.bytes_sent) / (1 << 20));
  s += "\n" + std::to_string(r.changed) + " step(s) changed something, " + std::to_string(r.unchanged) +
       " already in place; " + buf + " sent\n";
  if (!u.reverted.empty()) s += "\nreverted to their last good release: " + inventory::fold_nodeset(u.reverted) + "\n";
  if (!u.down.empty()) s += "\nLEFT OUT OF SERVICE (could not be brought back): " + inventory::fold_nodeset(u.down) + "\n";
  if (!r.node_failures.empty()) {
    s += "\nfailed nodes:\n";
    for (const auto& [node, why] : r.node_failures) s += "  " + why + "\n";
  }
  if (r.stopped) s += "\nstopped: " + r.stop_reason + "\n";
  if (r.interrupted) s += "\ninterrupted: continue with `airlock " + verb + " --resume RUN`\n";
  if (r.ok()) s += "\n" + verb + " to " + (target.empty() ? plan.release : target) + " complete\n";
  return s;
}

nlohmann::json upgrade_result_json(const UpgradeResult& u) {
  json j = run_result_json(u.run);
  j["reverted"] = u.reverted;
  j["down"] = u.down;
  j["max_out_of_service"] = u.max_out_of_service;
  j["rollouts"] = u.rollouts;
  return j;
}

}  // namespace airlock::install
