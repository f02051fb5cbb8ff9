// What install, upgrade and rollback share (see install_common.h).
#include "installer/cli/install_common.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

#include "bundle/verify.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "installer/cli/commands.h"
#include "installer/fleet/executor.h"
#include "installer/fleet/fleet_probe.h"
#include "installer/install/act_images.h"
#include "installer/install/report.h"
#include "installer/inventory/nodeset.h"
#include "installer/validate/rules.h"

namespace airlock::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_run_id(const std::string& kind) {
  char buf[48];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", std::gmtime(&t));
  std::random_device rd;
  char tail[8];
  std::snprintf(tail, sizeof tail, "%04x", rd() & 0xffff);
  return kind + "-" + buf + "-" + tail;
}

Result<std::string> find_playbook(const std::string& given, const std::string& name) {
  if (!given.empty()) return given;
  std::vector<fs::path> dirs;
  if (const char* e = std::getenv("AIRLOCK_PLAYBOOKS"); e && *e) dirs.emplace_back(e);
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  dirs.push_back(self / "../share/airlock/playbooks");
  dirs.push_back(self / "../../playbooks");
  dirs.emplace_back(AIRLOCK_SOURCE_PLAYBOOKS);
  for (const auto& d : dirs) {
    if (fs::exists(d / name, ec)) return fs::weakly_canonical(d / name, ec).string();
  }
  return make_error(Errc::kNotFound, "playbook " + name + " not found beside " + self.string() +
                                         "; give --playbook FILE or set AIRLOCK_PLAYBOOKS");
}

Result<Verified> verify_and_extract(const BundleInput& a, const std::string& state_dir) {
  bundle::VerifyOptions vo;
  TRY_ASSIGN(vo.keys, load_public_keys(a.pubs));
  if (vo.keys.empty()) return make_error(Errc::kInvalidArgument, "give the bundle's public key(s) with --pub");
  vo.now = std::time(nullptr);
  vo.allow_expired = a.allow_expired;
  vo.progress = a.progress && Progress::stderr_is_tty();
  TRY_ASSIGN(bundle::VerifyResult first, bundle::verify_bundle(a.bundle, vo));
  std::string dir = state_dir + "/bundles/" + std::string(digest_hex(first.manifest_digest));
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(state_dir + "/bundles", ec);
    vo.extract_to = dir;
    auto second = bundle::verify_bundle(a.bundle, vo);
    if (!second.ok()) return second.error().wrap("extracting " + a.bundle);
  }
  Verified v{first.manifest, {}};
  for (const auto& c : v.manifest.components) {
    if (!bundle::is_file_component(c.type) || !c.blob) continue;
    std::string digest = c.content ? c.content->digest : c.blob->digest;
    for (const auto& e : fs::directory_iterator(dir + "/components/" + c.name, ec)) {
      v.content[digest] = e.path().string();
    }
  }
  install::add_image_blobs(v.manifest, dir, v.content);  // image blobs for `stage` and `images`
  return v;
}

Status probe_for_run(transport::TransportFactory& sessions, const std::vector<const inventory::Host*>& hosts,
                     const std::string& node_bin, const std::string& node_sha_hex, fleet::StateDb& db, int fanout,
                     bool display, const std::string& run_kind) {
  fleet::ProbeOptions po;
  po.node_binary = node_bin;
  po.node_binary_sha256 = node_sha_hex;
  po.run_id = "probe-for-" + new_run_id(run_kind);
  fleet::Executor ex(sessions, fanout);
  fleet::InterruptGuard guard(ex);
  std::vector<fleet::NodeProbe> probed;
  {
    fleet::CountsDisplay counts("probe", ex, display);
    probed = fleet::probe_fleet(ex, hosts, po, &db);
  }
  if (guard.interrupted()) return make_error(Errc::kCancelled, "interrupted while probing");
  std::vector<std::string> failed;
  for (const auto& p : probed) {
    if (!p.status.ok()) {
      failed.push_back(p.node);
      log::error(p.status.error().describe());
    }
  }
  if (!failed.empty()) {
    return make_error(Errc::kUnreachable, "could not probe " + inventory::fold_nodeset(failed) +
                                               "; fix them or leave them out with -w/-g");
  }
  return {};
}

json run_args_json(const FleetArgs& fleet, const std::string& bundle, const std::vector<std::string>& pubs,
                   const std::string& playbook, bool allow_downgrade) {
  json args = {{"inventory", fs::absolute(fleet.inventory).string()},
               {"groups", fleet.groups},
               {"nodes", fleet.nodeset},
               {"bundle", bundle.empty() ? "" : fs::absolute(bundle).string()},
               {"pubs", json::array()},
               {"playbook", playbook},
               {"allow_downgrade", allow_downgrade}};
  for (const auto& p : pubs) args["pubs"].push_back(fs::absolute(p).string());
  return args;
}

void read_run_args(const json& args, FleetArgs& fleet, std::string& bundle, std::vector<std::string>& pubs,
                   std::string& playbook, bool& allow_downgrade) {
  fleet.inventory = args.value("inventory", "");
  fleet.groups = args.value("groups", std::vector<std::string>{});
  fleet.nodeset = args.value("nodes", "");
  bundle = args.value("bundle", "");
  pubs = args.value("pubs", std::vector<std::string>{});
  playbook = args.value("playbook", "");
  allow_downgrade = args.value("allow_downgrade", false);
}

Result<StoredRun> load_run(fleet::StateDb& db, const std::string& id, const std::string& state_path) {
  TRY_ASSIGN(auto r, db.get_run(id));
  if (!r) return make_error(Errc::kNotFound, "no run " + id + " in " + state_path);
  json args = json::parse(r->args_json, nullptr, false);
  if (args.is_discarded() || !args.is_object()) return make_error(Errc::kParse, "run " + id + ": unreadable arguments");
  return StoredRun{*r, std::move(args)};
}

Result<std::map<std::string, json>> latest_facts(fleet::StateDb& db) {
  TRY_ASSIGN(auto latest, db.latest_facts());
  std::map<std::string, json> facts;
  for (const auto& rec : latest) facts[rec.node] = json::parse(rec.facts_json, nullptr, false);
  return facts;
}

Result<validate::Report> validate_for_run(fleet::StateDb& db, const std::vector<const inventory::Host*>& hosts,
                                          const ValidationOptions& o) {
  validate::Rules rules = validate::builtin_rules();
  if (!o.rules.empty()) {
    TRY_ASSIGN(rules, validate::load_rules(o.rules));
  }
  for (const auto& id : o.ignore) {
    bool own = std::any_of(rules.identical.begin(), rules.identical.end(), [&](const auto& r) { return r.id == id; });
    if (validate::find_check(id) == nullptr && !own) {
      return make_error(Errc::kInvalidArgument, "--ignore " + id + ": unknown check id (docs/validate.md lists them)");
    }
  }
  TRY_ASSIGN(auto records, db.latest_facts());
  std::map<std::string, const fleet::FactsRecord*> by_name;
  for (const auto& rec : records) by_name[rec.node] = &rec;
  std::vector<json> facts(hosts.size());
  std::vector<validate::NodeInput> inputs(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto& in = inputs[i];
    in.name = hosts[i]->name;
    in.roles = hosts[i]->roles;
    in.groups = hosts[i]->groups;
    in.labels = hosts[i]->labels;
    in.source = "state database " + db.path();
    auto it = by_name.find(in.name);
    if (it == by_name.end()) continue;  // facts.missing
    const fleet::FactsRecord& rec = *it->second;
    facts[i] = json::parse(rec.facts_json, nullptr, false);
    if (facts[i].is_discarded()) {
      in.load_error = in.source + ": facts of " + in.name + " are not JSON";
    } else {
      in.facts = &facts[i];
    }
    in.has_skew = true;
    in.skew_ns = rec.skew_ns;
    in.skew_error_ns = rec.skew_error_ns;
  }
  validate::Options vo;
  vo.ignore = o.ignore;
  vo.enforce_warnings = o.enforce_warnings;
  vo.now_ns = now_ns();
  return validate::evaluate(inputs, rules, vo);
}

std::vector<std::string> validation_problems(const validate::Report& r, bool all) {
  std::vector<std::string> out;
  for (const auto& n : r.nodes) {
    for (const auto& f : n.findings) {
      bool blocking = f.severity == validate::Severity::kFail ||
                      (f.severity == validate::Severity::kWarn && r.enforce_warnings);
      if (!blocking && !(all && f.severity == validate::Severity::kWarn)) continue;
      out.push_back(n.name + ": " + f.check + " (" + validate::severity_name(f.severity) + "): " +
                    (f.subject.empty() ? "" : f.subject + ": ") + f.message);
    }
  }
  return out;
}

bool validation_blocks(const validate::Report& r) {
  return std::any_of(r.nodes.begin(), r.nodes.end(), [](const auto& n) { return n.status == validate::Status::kFail; });
}

json validation_summary(const validate::Report& r, bool skipped) {
  auto c = r.counts();
  json problems = json::array();
  for (const auto& n : r.nodes) {
    for (const auto& f : n.findings) {
      if (f.severity == validate::Severity::kInfo) continue;
      problems.push_back({{"node", n.name}, {"check", f.check}, {"severity", validate::severity_name(f.severity)},
                          {"subject", f.subject}, {"message", f.message}});
    }
  }
  return {{"ran", true},
          {"skipped", skipped},
          {"blocks", validation_blocks(r)},
          {"rules", r.rules_source},
          {"enforce_warnings", r.enforce_warnings},
          {"counts", {{"nodes", c.nodes}, {"pass", c.pass}, {"info", c.info}, {"warn", c.warn}, {"fail", c.fail}}},
          {"problems", problems}};
}

struct RunProgress::State {
  struct Phase {
    std::string name;
    int concurrency = 1;
    std::map<std::string, size_t> expected;   // node -> its step count in this phase
    std::map<std::string, size_t> seen;       // node -> steps reported
    size_t done = 0, failed = 0;              // nodes finished (done includes failed)
    std::chrono::steady_clock::time_point started{};
    bool begun = false;
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<Phase> phases;
  std::map<std::string, size_t> by_name;
  size_t current = SIZE_MAX;
  uint64_t bytes = 0;
  bool stop = false;
  bool drawn = false;
  std::thread th;

  // Moves past finished phases (and those without nodes) to the next one, which begins now.
  void advance_locked(std::chrono::steady_clock::time_point now) {
    if (current == SIZE_MAX) current = 0;
    while (current < phases.size() && phases[current].done >= phases[current].expected.size()) ++current;
    if (current < phases.size() && !phases[current].begun) {
      phases[current].begun = true;
      phases[current].started = now;
    }
  }

  // ETA in seconds for the phase, or -1 when unknown.
  double eta(const Phase& p, std::chrono::steady_clock::time_point now) const {
    if (p.done == 0 || !p.begun) return -1;
    double elapsed = std::chrono::duration<double>(now - p.started).count();
    double rate = static_cast<double>(p.done) / std::max(elapsed, 0.001);
    return static_cast<double>(p.expected.size() - p.done) / rate;
  }

  std::string line_locked() const {
    if (current >= phases.size()) return "";
    const Phase& p = phases[current];
    if (p.expected.empty()) return "";
    auto now = std::chrono::steady_clock::now();
    size_t total = p.expected.size();
    size_t running = std::min<size_t>(static_cast<size_t>(std::max(1, p.concurrency)), total - p.done);
    size_t steps = 0, steps_done = 0;
    for (const auto& [node, n] : p.expected) {
      steps += n;
      auto it = p.seen.find(node);
      if (it != p.seen.end()) steps_done += it->second;
    }
    char buf[320];
    std::snprintf(buf, sizeof buf, "phase %s (%zu/%zu): %zu/%zu nodes done, %zu running, %zu failed; %zu/%zu steps; %s sent",
                  p.name.c_str(), current + 1, phases.size(), p.done, total, running, p.failed, steps_done, steps,
                  human_bytes(bytes).c_str());
    std::string s = buf;
    double e = eta(p, now);
    if (e >= 0 && p.done < total) {
      s += ", ETA " + (e < 60 ? std::to_string(static_cast<int>(std::ceil(e))) + " s"
                              : install::human_duration_ms(static_cast<int64_t>(e * 1000)));
    }
    return s;
  }

  void draw_locked() {
    std::string l = line_locked();
    if (l.empty()) return;
    std::fprintf(stderr, "\r\033[K%s", l.c_str());
    std::fflush(stderr);
    drawn = true;
  }

  void clear_locked() {
    if (!drawn) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn = false;
  }
};

RunProgress::RunProgress(const install::Plan& plan, bool display) : s_(std::make_unique<State>()) {
  for (const auto& ph : plan.phases) {
    State::Phase p;
    p.name = ph.name;
    p.concurrency = ph.concurrency;
    for (const auto& n : ph.nodes) {
      auto it = ph.steps.find(n);
      if (it != ph.steps.end() && !it->second.empty()) p.expected[n] = it->second.size();
    }
    s_->by_name[p.name] = s_->phases.size();
    s_->phases.push_back(std::move(p));
  }
  s_->advance_locked(std::chrono::steady_clock::now());
  if (!display || !::isatty(STDERR_FILENO)) return;
  State* s = s_.get();
  s_->th = std::thread([s] {
    std::unique_lock lk(s->mu);
    while (!s->cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return s->stop; })) s->draw_locked();
  });
}

RunProgress::~RunProgress() {
  {
    std::lock_guard lk(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  if (s_->th.joinable()) s_->th.join();
  std::lock_guard lk(s_->mu);
  s_->clear_locked();
}

std::optional<json> RunProgress::on_event(const install::StepEvent& e) {
  std::lock_guard lk(s_->mu);
  auto now = std::chrono::steady_clock::now();
  s_->bytes += e.bytes_sent;
  auto pi = s_->by_name.find(e.phase);
  if (pi == s_->by_name.end()) return std::nullopt;
  // Events come phase by phase: a later phase has begun (an earlier one may have lost nodes
  // that reported no step, like one that could not be reached).
  if (s_->current == SIZE_MAX || pi->second > s_->current) {
    s_->current = pi->second;
    State::Phase& p = s_->phases[s_->current];
    if (!p.begun) {
      p.begun = true;
      p.started = now;
    }
  }
  State::Phase& p = s_->phases[pi->second];
  auto ex = p.expected.find(e.node);
  if (ex == p.expected.end()) return std::nullopt;
  size_t& seen = p.seen[e.node];
  if (seen >= ex->second) return std::nullopt;  // already finished (failed earlier)
  bool failed = e.status == "failed";
  seen = failed ? ex->second : seen + 1;
  if (seen < ex->second) return std::nullopt;
  p.done++;
  if (failed) {
    p.failed++;
    // A failed node takes no part in later phases.
    for (size_t j = pi->second + 1; j < s_->phases.size(); ++j) s_->phases[j].expected.erase(e.node);
  }
  double eta = s_->eta(p, now);
  json rec{{"type", "progress"},
           {"phase", p.name},
           {"node", e.node},
           {"node_status", failed ? "failed" : "ok"},
           {"done", p.done},
           {"failed", p.failed},
           {"total", p.expected.size()},
           {"bytes_sent", s_->bytes},
           {"eta_s", eta >= 0 ? json(std::round(eta * 10) / 10) : json(nullptr)}};
  s_->advance_locked(now);
  return rec;
}

void RunProgress::above(const std::function<void()>& print) {
  std::lock_guard lk(s_->mu);
  s_->clear_locked();
  print();
}

std::string RunProgress::line() const {
  std::lock_guard lk(s_->mu);
  return s_->line_locked();
}

}  // namespace airlock::cli
