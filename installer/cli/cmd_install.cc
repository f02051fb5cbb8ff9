// `airlock install -i INV BUNDLE --pub KEY`: verify the bundle, probe the nodes, plan, apply
// (installer/install/engine.h). `--plan` prints the per-node plan and changes nothing.
// `airlock resume RUN` runs a killed or failed run again with the same inputs: steps the
// journal or the nodes record as done are skipped. `airlock status [RUN]` shows the recent
// runs, or where every node of one run is.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "bundle/verify.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/sha256.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/cli/fleet_options.h"
#include "installer/cli/install_common.h"
#include "installer/fleet/fleet_probe.h"
#include "installer/install/engine.h"
#include "installer/install/planner.h"
#include "installer/install/playbook.h"
#include "installer/inventory/nodeset.h"

namespace airlock::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct InstallArgs {
  FleetArgs fleet;
  std::string bundle;
  std::vector<std::string> pubs;
  std::string playbook;
  std::string state;
  std::string node_binary;
  std::string resume;           // run id (airlock resume)
  bool plan_only = false;
  bool allow_downgrade = false;
  bool allow_expired = false;
  bool json = false;
  bool quiet = false;
};

int run_install(const InstallArgs& in, Context& ctx) {
  InstallArgs a = in;
  auto fail = [&](const Error& e) { return report_error(e, a.json); };
  std::string state_path = a.state.empty() ? fleet::StateDb::default_path() : a.state;
  auto db = fleet::StateDb::open(state_path);
  if (!db.ok()) return fail(db.error());

  // A resumed run takes its inputs from the run record.
  std::string run_id;
  fleet::RunRecord run;
  if (!a.resume.empty()) {
    auto r = (*db)->get_run(a.resume);
    if (!r.ok()) return fail(r.error());
    if (!*r) return fail(make_error(Errc::kNotFound, "no run " + a.resume + " in " + state_path));
    run = **r;
    json args = json::parse(run.args_json, nullptr, false);
    if (args.is_discarded()) return fail(make_error(Errc::kParse, "run " + a.resume + ": unreadable arguments"));
    a.fleet.inventory = args.value("inventory", "");
    a.fleet.groups = args.value("groups", std::vector<std::string>{});
    a.fleet.nodeset = args.value("nodes", "");
    a.bundle = args.value("bundle", "");
    a.pubs = args.value("pubs", std::vector<std::string>{});
    a.playbook = args.value("playbook", "");
    a.allow_downgrade = args.value("allow_downgrade", false);
    run_id = a.resume;
  }
  auto playbook_path = find_playbook(a.playbook, "install.yaml");
  if (!playbook_path.ok()) return fail(playbook_path.error());
  auto pb = install::load_playbook(*playbook_path);
  if (!pb.ok()) return fail(pb.error());
  auto opened = open_fleet(a.fleet);
  if (!opened.ok()) return fail(opened.error());
  auto& fl = **opened;
  std::string state_dir = fs::path(state_path).parent_path().string();
  auto verified = verify_and_extract({a.bundle, a.pubs, a.allow_expired, !a.quiet && !a.json}, state_dir);
  if (!verified.ok()) return fail(verified.error());

  // One session per node for the whole run: the probe and every phase reuse it.
  transport::CachingFactory sessions(*fl.factory);

  // Facts: probe the nodes (a resumed run plans with the facts it had).
  std::map<std::string, json> facts;
  auto found = find_node_binary(a.node_binary);
  if (!found.ok()) return fail(found.error());
  std::string node_bin = *found;
  auto node_digest = sha256_file(node_bin);
  if (!node_digest.ok()) return fail(node_digest.error().wrap("airlock-node " + node_bin));
  if (a.resume.empty()) {
    auto probed = probe_for_run(sessions, fl.hosts, node_bin, std::string(digest_hex(*node_digest)), **db,
                                a.fleet.fanout, !a.quiet && !a.json, "install");
    if (!probed.ok()) return probed.error().code == Errc::kCancelled ? 130 : fail(probed.error());
  }
  auto latest = latest_facts(**db);
  if (!latest.ok()) return fail(latest.error());
  facts = std::move(*latest);

  auto plan = install::make_plan(*pb, fl.inv, fl.hosts, facts, verified->manifest);
  if (!plan.ok()) return fail(plan.error());
  if (a.plan_only) {
    if (a.json) {
      std::printf("%s\n", plan->to_json().dump(2).c_str());
    } else {
      std::fputs(plan->render_text().c_str(), stdout);
    }
    return 0;
  }

  if (run_id.empty()) {
    run_id = new_run_id("install");
    json args = {{"inventory", fs::absolute(a.fleet.inventory).string()}, {"groups", a.fleet.groups},
                 {"nodes", a.fleet.nodeset}, {"bundle", fs::absolute(a.bundle).string()},
                 {"pubs", json::array()}, {"playbook", *playbook_path}, {"allow_downgrade", a.allow_downgrade}};
    for (const auto& p : a.pubs) args["pubs"].push_back(fs::absolute(p).string());
    run = {run_id, "install", now_ns(), 0, "running", args.dump()};
  } else {
    run.status = "running";
  }
  if (auto st = (*db)->put_run(run); !st.ok()) return fail(st.error());
  log::info("run " + run_id + ": " + plan->release + " onto " + std::to_string(fl.hosts.size()) + " node(s)");

  install::EngineOptions eo;
  eo.run_id = run_id;
  eo.node_binary = node_bin;
  eo.node_binary_sha256 = std::string(digest_hex(*node_digest));
  eo.content = verified->content;
  eo.cache_dir = state_dir + "/cache";
  eo.allow_downgrade = a.allow_downgrade;
  eo.live_counts = !a.quiet && !a.json;
  std::error_code ec;
  fs::create_directories(eo.cache_dir, ec);

  install::EngineControl control;
  install::RunResult result;
  {
    fleet::InterruptGuard guard([&control] { control.cancel(); });
    result = install::apply_plan(*plan, fl.inv, sessions, **db, eo, [&](const install::StepEvent& e) {
      if (a.json) {
        json j = {{"type", "step"},     {"phase", e.phase},   {"node", e.node},          {"step", e.step},
                  {"action", e.action}, {"status", e.status}, {"message", e.message},    {"bytes_sent", e.bytes_sent},
                  {"duration_ms", e.duration_ms}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
      } else if (e.status == "failed" || ctx.verbose) {
        log::info(e.node + " " + e.step + ": " + e.status + (e.message.empty() ? "" : ": " + e.message));
      }
    }, &control);
  }
  run.status = result.ok() ? "ok" : result.interrupted ? "interrupted" : "failed";
  run.finished_at_ns = now_ns();
  (void)(*db)->put_run(run);
  json report = install::run_result_json(result);
  report["run"] = run_id;
  report["release"] = plan->release;
  fs::create_directories(state_dir + "/runs", ec);
  (void)write_file_atomic(state_dir + "/runs/" + run_id + ".json", report.dump(2) + "\n");
  if (a.json) {
    report["type"] = "summary";
    std::printf("%s\n", report.dump().c_str());
  } else {
    std::printf("run %s\n", run_id.c_str());
    std::fputs(install::render_run_summary(*plan, result).c_str(), stdout);
  }
  if (result.interrupted) return 130;
  return result.ok() ? 0 : kExitEnvironment;
}

int run_status(const std::string& state, const std::string& run_id, bool as_json) {
  std::string state_path = state.empty() ? fleet::StateDb::default_path() : state;
  auto db = fleet::StateDb::open(state_path);
  if (!db.ok()) return report_error(db.error(), as_json);
  if (run_id.empty()) {
    auto runs = (*db)->recent_runs(20);
    if (!runs.ok()) return report_error(runs.error(), as_json);
    json out = json::array();
    for (const auto& r : *runs) {
      out.push_back({{"run", r.id}, {"kind", r.kind}, {"status", r.status}});
      if (!as_json) std::printf("%-40s %-8s %s\n", r.id.c_str(), r.kind.c_str(), r.status.c_str());
    }
    if (as_json) std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  auto r = (*db)->get_run(run_id);
  if (!r.ok()) return report_error(r.error(), as_json);
  if (!*r) return report_error(make_error(Errc::kNotFound, "no run " + run_id + " in " + state_path), as_json);
  auto j = (*db)->journal_latest(run_id);
  if (!j.ok()) return report_error(j.error(), as_json);
  // Per node: how many steps done, the last step and its state.
  std::map<std::string, json> nodes;
  for (const auto& e : *j) {
    json& n = nodes[e.node];
    if (n.is_null()) n = {{"done", 0}, {"failed", json::array()}};
    if (e.state == "done") n["done"] = n["done"].get<int>() + 1;
    if (e.state == "failed") n["failed"].push_back({{"step", e.step}, {"message", e.message}});
    n["last"] = {{"step", e.step}, {"state", e.state}};
  }
  if (as_json) {
    std::printf("%s\n", json({{"run", run_id}, {"status", (*r)->status}, {"nodes", nodes}}).dump().c_str());
    return 0;
  }
  std::printf("run %s (%s): %s\n", run_id.c_str(), (*r)->kind.c_str(), (*r)->status.c_str());
  for (const auto& [node, n] : nodes) {
    std::printf("  %-16s %3d step(s) done, last %s (%s)\n", node.c_str(), n["done"].get<int>(),
                n["last"]["step"].get<std::string>().c_str(), n["last"]["state"].get<std::string>().c_str());
    for (const auto& f : n["failed"]) std::printf("      failed: %s\n", f["message"].get<std::string>().c_str());
  }
  return 0;
}

}  // namespace

void register_install(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<InstallArgs>();
  CLI::App* cmd = app.add_subcommand(
      "install",
      "Install a verified bundle across the cluster: probe, plan, then apply the playbook phase by phase\n"
      "with health gates; every step is journaled (resume a killed run with `airlock resume RUN`).\n"
      "Exit: 0 installed, 2 bad input, 3 some node failed or could not be reached, 130 interrupted.");
  add_fleet_options(cmd, args->fleet);
  cmd->add_option("bundle", args->bundle, "The bundle (.airlock)")->required();
  cmd->add_option("--pub", args->pubs, "Public key(s) the bundle must be signed with")->required();
  cmd->add_option("--playbook", args->playbook, "Playbook (default: the shipped playbooks/install.yaml)");
  cmd->add_option("--state", args->state, "State database (default: ~/.local/state/airlock/state.db)");
  cmd->add_option("--node-binary", args->node_binary, "airlock-node to send (default: the one next to airlock)");
  cmd->add_flag("--plan", args->plan_only, "Print the per-node plan and change nothing");
  cmd->add_flag("--allow-downgrade", args->allow_downgrade, "Install even where a newer bundle version is installed");
  cmd->add_flag("--allow-expired", args->allow_expired, "Accept an expired bundle");
  cmd->add_flag("--json", args->json, "One JSON record per step as it happens, then a summary");
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors and the summary");
  cmd->callback([args, &ctx] {
    apply_verbosity(ctx, args->quiet || args->json);
    ctx.exit_code = run_install(*args, ctx);
  });

  auto rargs = std::make_shared<InstallArgs>();
  CLI::App* res = app.add_subcommand("resume", "Run an interrupted or failed install again; done steps are skipped");
  res->add_option("run", rargs->resume, "Run id (airlock status lists them)")->required();
  res->add_option("--state", rargs->state, "State database");
  res->add_option("--node-binary", rargs->node_binary, "airlock-node to send");
  res->add_option("--fanout", rargs->fleet.fanout, "Nodes worked on at once")->default_val(64);
  res->add_flag("--accept-new-host-keys", rargs->fleet.accept_new_host_keys, "Record unknown host keys");
  res->add_flag("--json", rargs->json, "JSON records");
  res->add_flag("-q,--quiet", rargs->quiet, "Print only errors and the summary");
  res->callback([rargs, &ctx] {
    apply_verbosity(ctx, rargs->quiet || rargs->json);
    ctx.exit_code = run_install(*rargs, ctx);
  });

  auto sargs = std::make_shared<InstallArgs>();
  CLI::App* st = app.add_subcommand("status", "Recent runs, or where every node of one run is");
  st->add_option("run", sargs->resume, "Run id");
  st->add_option("--state", sargs->state, "State database");
  st->add_flag("--json", sargs->json, "JSON");
  st->callback([sargs, &ctx] { ctx.exit_code = run_status(sargs->state, sargs->resume, sargs->json); });
}

}  // namespace airlock::cli
