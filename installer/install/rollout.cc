// The rolling-upgrade scheduler (see rollout.h): batch arithmetic, the global unavailable
// budget, the failure allowance, and the snapshot a resumed run restores.
#include "installer/install/rollout.h"

#include <algorithm>
#include <cctype>
#include <queue>
#include <utility>

namespace airlock::install {
namespace {

using json = nlohmann::json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Error bad(std::string_view what, std::string msg) {
  return make_error(Errc::kInvalidArgument, std::string(what) + ": " + msg);
}

std::string batches_text(const std::vector<Amount>& b) {
  std::string s;
  for (const auto& a : b) s += (s.empty() ? "" : ",") + a.text();
  return s;
}

Error snap_error(const std::string& msg) { return make_error(Errc::kParse, "rollout snapshot: " + msg); }

}  // namespace

std::string Amount::text() const { return std::to_string(value) + (percent ? "%" : ""); }

Result<Amount> parse_amount(std::string_view text, std::string_view what) {
  std::string_view t = trim(text);
  Amount a;
  if (!t.empty() && t.back() == '%') {
    a.percent = true;
    t.remove_suffix(1);
  }
  if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad(what, "expected a count like 2 or a percentage like 10%, got `" + std::string(text) + "`");
  }
  a.value = std::stoull(std::string(t));
  if (a.percent && a.value > 100) return bad(what, "a percentage is at most 100%, got `" + std::string(text) + "`");
  return a;
}

size_t percent_of(uint64_t percent, size_t total) {
  return static_cast<size_t>((static_cast<uint64_t>(total) * percent) / 100);
}

size_t resolve_amount(const Amount& a, size_t total, size_t at_least) {
  size_t n = a.percent ? percent_of(a.value, total) : static_cast<size_t>(a.value);
  return std::max(n, at_least);
}

Result<std::vector<Amount>> parse_batches(std::string_view text) {
  std::vector<Amount> out;
  if (trim(text).empty()) return bad("--batches", "expected a list like 1,5%,25%,100%");
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    TRY_ASSIGN(Amount a, parse_amount(item, "--batches"));
    if (a.value == 0) return bad("--batches", "a batch has at least 1 node (or 1%), got `" + std::string(trim(item)) + "`");
    out.push_back(a);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<size_t> batch_sizes(const std::vector<Amount>& spec, size_t nodes, size_t total) {
  std::vector<size_t> out;
  size_t left = nodes;
  for (size_t i = 0; left > 0; ++i) {
    const Amount& a = spec.empty() ? Amount{100, true} : spec[std::min(i, spec.size() - 1)];
    size_t n = std::min(resolve_amount(a, total, 1), left);
    out.push_back(n);
    left -= n;
  }
  return out;
}

size_t unavailable_budget(const Amount& max_unavailable, size_t total) {
  return resolve_amount(max_unavailable, total, 1);
}

size_t failure_allowance(const Amount& max_fail, size_t total) { return resolve_amount(max_fail, total, 0); }

Result<RolloutOptions> parse_rollout_options(std::string_view batches, std::string_view max_unavailable,
                                             std::string_view max_fail, std::string_view canary) {
  RolloutOptions o;
  if (!trim(batches).empty()) {
    TRY_ASSIGN(o.batches, parse_batches(batches));
  }
  if (!trim(max_unavailable).empty()) {
    TRY_ASSIGN(o.max_unavailable, parse_amount(max_unavailable, "--max-unavailable"));
    if (!o.max_unavailable.percent && o.max_unavailable.value == 0) {
      return bad("--max-unavailable", "must be at least 1 (no node could ever be upgraded)");
    }
  }
  if (!trim(max_fail).empty()) {
    TRY_ASSIGN(o.max_fail, parse_amount(max_fail, "--max-fail"));
  }
  if (!trim(canary).empty()) {
    TRY_ASSIGN(Amount c, parse_amount(canary, "--canary"));
    if (c.percent) return bad("--canary", "a node count like 1, not a percentage");
    o.canary = static_cast<size_t>(c.value);
  }
  return o;
}

const char* node_state_name(NodeState s) {
  switch (s) {
    case NodeState::kPending: return "pending";
    case NodeState::kRunning: return "running";
    case NodeState::kOk: return "ok";
    case NodeState::kFailed: return "failed";
    case NodeState::kDown: return "down";
  }
  return "?";
}

const char* stop_cause_name(StopCause c) {
  switch (c) {
    case StopCause::kNone: return "none";
    case StopCause::kMaxFail: return "max_fail";
    case StopCause::kCanary: return "canary";
    case StopCause::kDown: return "down";
    case StopCause::kBudget: return "budget";
    case StopCause::kOperator: return "operator";
  }
  return "?";
}

// ---- Rollout --------------------------------------------------------------------------------

Status Rollout::validate_and_index() {
  index_.clear();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].empty()) return make_error(Errc::kInvalidArgument, "rollout: an empty node name");
    if (!index_.emplace(nodes_[i], i).second) {
      return make_error(Errc::kInvalidArgument, "rollout: node " + nodes_[i] + " is listed twice");
    }
  }
  phase_of_.assign(nodes_.size(), 0);
  size_t k = 0;
  for (size_t p = 0; p < phases_.size(); ++p) {
    if (phases_[p].nodes.empty()) return make_error(Errc::kInvalidArgument, "rollout: phase " + phases_[p].name + " is empty");
    for (const auto& n : phases_[p].nodes) {
      if (k >= nodes_.size() || nodes_[k] != n) {
        return make_error(Errc::kInvalidArgument, "rollout: the phases do not list the nodes in run order (at " + n + ")");
      }
      phase_of_[k++] = p;
    }
  }
  if (k != nodes_.size()) return make_error(Errc::kInvalidArgument, "rollout: the phases leave nodes out");
  return {};
}

Result<Rollout> Rollout::create(std::vector<std::string> nodes, const RolloutOptions& opts) {
  Rollout r;
  r.nodes_ = std::move(nodes);
  size_t total = r.nodes_.size();
  r.canary_ = std::min(opts.canary, total);
  if (r.canary_ > 0) {
    r.phases_.push_back({"canary", true, {r.nodes_.begin(), r.nodes_.begin() + static_cast<ptrdiff_t>(r.canary_)}});
  }
  size_t at = r.canary_;
  size_t b = 0;
  for (size_t n : batch_sizes(opts.batches, total - r.canary_, total)) {
    auto first = r.nodes_.begin() + static_cast<ptrdiff_t>(at);
    r.phases_.push_back({"batch-" + std::to_string(++b), false, {first, first + static_cast<ptrdiff_t>(n)}});
    at += n;
  }
  TRY_STATUS(r.validate_and_index());
  r.budget_ = unavailable_budget(opts.max_unavailable, total);
  r.allowance_ = failure_allowance(opts.max_fail, total);
  r.at_start_ = opts.unavailable_at_start;
  r.budget_text_ = opts.max_unavailable.text();
  r.max_fail_text_ = opts.max_fail.text();
  r.batches_text_ = batches_text(opts.batches);
  r.state_.assign(total, NodeState::kPending);
  r.unfinished_.clear();
  for (const auto& p : r.phases_) r.unfinished_.push_back(p.nodes.size());
  r.cur_ = 0;
  r.advance();
  if (!r.done() && r.at_start_ >= r.budget_) {
    r.halt(StopCause::kBudget, std::to_string(r.at_start_) + " node(s) already out of service before the run, max_unavailable " +
                                   std::to_string(r.budget_) + ": no node can be taken out");
  }
  return r;
}

void Rollout::advance() {
  while (cur_ < phases_.size() && unfinished_[cur_] == 0) ++cur_;
  // Load pending_ once per phase, when it becomes current.
  if (cur_ < phases_.size() && loaded_ != cur_) {
    loaded_ = cur_;
    pending_.clear();
    for (const auto& n : phases_[cur_].nodes) {
      size_t i = index_.at(n);
      if (state_[i] == NodeState::kPending) pending_.insert(i);
    }
  }
}

void Rollout::halt(StopCause c, std::string reason) {
  if (cause_ != StopCause::kNone) return;
  cause_ = c;
  reason_ = std::move(reason);
}

std::vector<std::string> Rollout::next() const {
  std::vector<std::string> out;
  if (stopped() || cur_ >= phases_.size()) return out;
  size_t oos = out_of_service();
  size_t room = oos >= budget_ ? 0 : budget_ - oos;
  for (auto it = pending_.begin(); it != pending_.end() && out.size() < room; ++it) out.push_back(nodes_[*it]);
  return out;
}

Status Rollout::started(const std::string& node) {
  auto it = index_.find(node);
  if (it == index_.end()) return make_error(Errc::kInvalidArgument, "rollout: " + node + " is not in this run");
  if (stopped()) return make_error(Errc::kInvalidArgument, "rollout: " + node + " may not start: the run stopped (" + reason_ + ")");
  size_t i = it->second;
  if (state_[i] != NodeState::kPending) {
    return make_error(Errc::kInvalidArgument, "rollout: " + node + " may not start: it is " + node_state_name(state_[i]));
  }
  if (cur_ >= phases_.size() || phase_of_[i] != cur_) {
    return make_error(Errc::kInvalidArgument, "rollout: " + node + " may not start: it belongs to " + phases_[phase_of_[i]].name +
                                                  ", and " + (cur_ < phases_.size() ? phases_[cur_].name : "no phase") +
                                                  " is running");
  }
  if (*pending_.begin() != i) {
    return make_error(Errc::kInvalidArgument, "rollout: " + node + " may not start before " + nodes_[*pending_.begin()] +
                                                  " (nodes start in order)");
  }
  if (out_of_service() >= budget_) {
    return make_error(Errc::kInvalidArgument, "rollout: " + node + " may not start: " + std::to_string(out_of_service()) +
                                                  " node(s) out of service, max_unavailable " + std::to_string(budget_));
  }
  pending_.erase(pending_.begin());
  state_[i] = NodeState::kRunning;
  ++running_;
  return {};
}

Status Rollout::check_running(const std::string& node, size_t* index) const {
  auto it = index_.find(node);
  if (it == index_.end()) return make_error(Errc::kInvalidArgument, "rollout: " + node + " is not in this run");
  if (state_[it->second] != NodeState::kRunning) {
    return make_error(Errc::kInvalidArgument,
                      "rollout: " + node + " is " + node_state_name(state_[it->second]) + ", not running");
  }
  *index = it->second;
  return {};
}

void Rollout::settle(size_t i, NodeState st, const std::string& why) {
  state_[i] = st;
  --running_;
  --unfinished_[phase_of_[i]];
  if (st == NodeState::kFailed || st == NodeState::kDown) {
    ++failures_;
    why_[nodes_[i]] = why;
  }
  if (st == NodeState::kDown) ++down_;
  advance();
}

Status Rollout::finished(const std::string& node, bool ok, const std::string& why) {
  size_t i = 0;
  TRY_STATUS(check_running(node, &i));
  size_t phase = phase_of_[i];
  settle(i, ok ? NodeState::kOk : NodeState::kFailed, ok ? "" : (why.empty() ? "failed, reverted" : why));
  if (ok) return {};
  if (phases_[phase].canary) {
    halt(StopCause::kCanary, "canary " + node + " failed (it reverted to its previous release)" +
                                 (why.empty() ? "" : ": " + why));
  } else if (failures_exceed(failures_, allowance_)) {
    halt(StopCause::kMaxFail, std::to_string(failures_) + " node(s) failed, more than max_fail " + max_fail_text_ + " allows (" +
                                  std::to_string(allowance_) + " of " + std::to_string(nodes_.size()) + ")");
  }
  return {};
}

Status Rollout::failed_down(const std::string& node, const std::string& why) {
  size_t i = 0;
  TRY_STATUS(check_running(node, &i));
  settle(i, NodeState::kDown, why.empty() ? "could not be brought back" : why);
  halt(StopCause::kDown, node + " is out of service and could not be brought back: stopping rather than flapping (" +
                             (why.empty() ? std::string("its previous release is unhealthy too") : why) + ")");
  return {};
}

Status Rollout::requeue(const std::string& node) {
  size_t i = 0;
  TRY_STATUS(check_running(node, &i));
  state_[i] = NodeState::kPending;
  --running_;
  pending_.insert(i);  // a running node always belongs to the current phase
  return {};
}

void Rollout::stop(const std::string& reason) { halt(StopCause::kOperator, reason.empty() ? "stopped" : reason); }

bool Rollout::done() const {
  if (cur_ >= phases_.size()) return true;
  return stopped() && running_ == 0;
}

NodeState Rollout::state(const std::string& node) const {
  auto it = index_.find(node);
  return it == index_.end() ? NodeState::kPending : state_[it->second];
}

std::vector<std::string> Rollout::with_state(NodeState s) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (state_[i] == s) out.push_back(nodes_[i]);
  }
  return out;
}

std::vector<std::string> Rollout::running() const { return with_state(NodeState::kRunning); }

json Rollout::snapshot() const {
  json phases = json::array();
  for (const auto& p : phases_) phases.push_back({{"name", p.name}, {"canary", p.canary}, {"nodes", p.nodes}});
  json states = json::object();
  for (size_t i = 0; i < nodes_.size(); ++i) states[nodes_[i]] = node_state_name(state_[i]);
  return {{"schema", "airlock.rollout/v1"},
          {"nodes", nodes_},
          {"phases", phases},
          {"options", {{"batches", batches_text_}, {"canary", canary_}, {"max_unavailable", budget_text_}, {"max_fail", max_fail_text_}}},
          {"max_unavailable", budget_},
          {"allowed_failures", allowance_},
          {"unavailable_at_start", at_start_},
          {"state", states},
          {"reasons", why_},
          {"stopped", stopped()},
          {"stop_cause", stop_cause_name(cause_)},
          {"stop_reason", reason_}};
}

Result<Rollout> Rollout::restore(const json& s) {
  if (!s.is_object() || s.value("schema", "") != "airlock.rollout/v1") return snap_error("not an airlock.rollout/v1 object");
  Rollout r;
  try {
    r.nodes_ = s.at("nodes").get<std::vector<std::string>>();
    for (const auto& p : s.at("phases")) {
      r.phases_.push_back({p.at("name").get<std::string>(), p.value("canary", false), p.at("nodes").get<std::vector<std::string>>()});
    }
    r.budget_ = s.at("max_unavailable").get<size_t>();
    r.allowance_ = s.at("allowed_failures").get<size_t>();
    r.at_start_ = s.value("unavailable_at_start", size_t{0});
    const json& o = s.value("options", json::object());
    r.batches_text_ = o.value("batches", "");
    r.canary_ = o.value("canary", size_t{0});
    r.budget_text_ = o.value("max_unavailable", std::to_string(r.budget_));
    r.max_fail_text_ = o.value("max_fail", std::to_string(r.allowance_));
    r.why_ = s.value("reasons", std::map<std::string, std::string>{});
    if (s.value("stopped", false)) {
      std::string c = s.value("stop_cause", "operator");
      StopCause cause = StopCause::kOperator;
      for (StopCause k : {StopCause::kMaxFail, StopCause::kCanary, StopCause::kDown, StopCause::kBudget, StopCause::kOperator}) {
        if (c == stop_cause_name(k)) cause = k;
      }
      r.halt(cause, s.value("stop_reason", "stopped"));
    }
  } catch (const json::exception& e) {
    return snap_error(e.what());
  }
  if (r.budget_ < 1) return snap_error("max_unavailable must be at least 1");
  if (auto st = r.validate_and_index(); !st.ok()) return snap_error(st.error().message);
  const json& states = s.value("state", json::object());
  r.state_.assign(r.nodes_.size(), NodeState::kPending);
  r.unfinished_.assign(r.phases_.size(), 0);
  for (size_t i = 0; i < r.nodes_.size(); ++i) {
    if (!states.contains(r.nodes_[i]) || !states[r.nodes_[i]].is_string()) return snap_error("no state for node " + r.nodes_[i]);
    std::string name = states[r.nodes_[i]].get<std::string>();
    bool known = false;
    for (NodeState k : {NodeState::kPending, NodeState::kRunning, NodeState::kOk, NodeState::kFailed, NodeState::kDown}) {
      if (name == node_state_name(k)) {
        r.state_[i] = k;
        known = true;
      }
    }
    if (!known) return snap_error("node " + r.nodes_[i] + ": unknown state `" + name + "`");
    NodeState st = r.state_[i];
    if (st == NodeState::kPending || st == NodeState::kRunning) ++r.unfinished_[r.phase_of_[i]];
    if (st == NodeState::kRunning) ++r.running_;
    if (st == NodeState::kFailed || st == NodeState::kDown) ++r.failures_;
    if (st == NodeState::kDown) ++r.down_;
  }
  // Phases run one after another: everything before the first unfinished phase is finished
  // (advance), and nothing after it has started.
  r.cur_ = 0;
  r.advance();
  for (size_t i = 0; i < r.nodes_.size(); ++i) {
    if (r.phase_of_[i] > r.cur_ && r.state_[i] != NodeState::kPending) {
      return snap_error("node " + r.nodes_[i] + " of " + r.phases_[r.phase_of_[i]].name + " is " + node_state_name(r.state_[i]) +
                        " while an earlier phase has not finished");
    }
  }
  return r;
}

// ---- Overhead accounting --------------------------------------------------------------------

namespace {
size_t waves(size_t n, size_t budget) {
  budget = std::max<size_t>(budget, 1);
  return (n + budget - 1) / budget;
}
}  // namespace

double min_wall_seconds(const std::vector<size_t>& phase_sizes, size_t budget, double step_s, double soak_s) {
  double t = 0;
  for (size_t n : phase_sizes) t += static_cast<double>(waves(n, budget)) * (step_s + soak_s);
  return t;
}

double soak_wait_seconds(const std::vector<size_t>& phase_sizes, size_t budget, double soak_s) {
  double t = 0;
  for (size_t n : phase_sizes) t += static_cast<double>(waves(n, budget)) * soak_s;
  return t;
}

std::vector<size_t> phase_sizes(const Rollout& r) {
  std::vector<size_t> out;
  for (const auto& p : r.phases()) out.push_back(p.nodes.size());
  return out;
}

double ideal_wall_seconds(const Rollout& r, double step_s, const std::map<std::string, double>& soak_s) {
  Rollout sim = r;
  auto duration = [&](const std::string& n) {
    auto it = soak_s.find(n);
    return step_s + (it == soak_s.end() ? 0.0 : it->second);
  };
  using Ev = std::pair<double, std::string>;  // (finish time, node); earliest first, then by name
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> q;
  for (const auto& n : sim.running()) q.push({duration(n), n});
  double now = 0;
  while (!sim.done()) {
    for (const auto& n : sim.next()) {
      if (!sim.started(n).ok()) break;
      q.push({now + duration(n), n});
    }
    if (q.empty()) break;  // cannot happen while not done: a running node always finishes
    auto [t, n] = q.top();
    q.pop();
    now = t;
    (void)sim.finished(n, true);
  }
  return now;
}

}  // namespace airlock::install
