// `airlock upgrade -i INV BUNDLE --pub KEY` and `airlock rollback -i INV [--to RELEASE]`: verify
// (upgrade), probe, plan the shipped upgrade.yaml / rollback.yaml (or --playbook), then run it
// with the rolling driver (installer/install/upgrade.h): ordinary phases as `install` runs them,
// `rolling: true` phases under the rollout scheduler (canary, batches, ONE max_unavailable
// budget for the whole run, max_fail), a node whose gate fails reverted to its last good
// release. `--resume RUN` continues a killed run from its journal and rollout snapshot.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/fs.h"
#include "common/log.h"
#include "common/sha256.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/cli/fleet_options.h"
#include "installer/cli/install_common.h"
#include "installer/fleet/executor.h"
#include "installer/install/planner.h"
#include "installer/install/playbook.h"
#include "installer/install/rollout.h"
#include "installer/install/upgrade.h"

namespace airlock::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct RolloutArgs {
  std::string kind;             // upgrade | rollback
  FleetArgs fleet;
  std::string bundle;           // upgrade
  std::vector<std::string> pubs;
  std::string to;               // rollback: last-good | previous | RELEASE
  std::string playbook;
  std::string state;
  std::string node_binary;
  std::string batches, canary, max_unavailable, max_fail;
  std::string resume;
  bool plan_only = false;
  bool allow_downgrade = false;
  bool allow_expired = false;
  bool json = false;
  bool quiet = false;
};

json rollout_event_json(const install::RolloutEvent& e) {
  return {{"type", "rollout"},     {"event", e.type},       {"phase", e.phase},
          {"group", e.group},      {"node", e.node},        {"message", e.message},
          {"out_of_service", e.out_of_service}, {"max_unavailable", e.max_unavailable}, {"failures", e.failures}};
}

int run_rollout(const RolloutArgs& in, Context& ctx) {
  RolloutArgs a = in;
  auto fail = [&](const Error& e) { return report_error(e, a.json); };
  std::string state_path = a.state.empty() ? fleet::StateDb::default_path() : a.state;
  auto db = fleet::StateDb::open(state_path);
  if (!db.ok()) return fail(db.error());

  // A resumed run takes its inputs from the run record (its rollout layout from the snapshot).
  std::string run_id;
  fleet::RunRecord run;
  if (!a.resume.empty()) {
    auto stored = load_run(**db, a.resume, state_path);
    if (!stored.ok()) return fail(stored.error());
    run = stored->record;
    if (run.kind != "upgrade" && run.kind != "rollback") {
      return fail(make_error(Errc::kInvalidArgument, "run " + a.resume + " is an " + run.kind +
                                                         " run: continue it with `airlock resume " + a.resume + "`"));
    }
    const json& args = stored->args;
    a.kind = run.kind;
    read_run_args(args, a.fleet, a.bundle, a.pubs, a.playbook, a.allow_downgrade);
    a.to = args.value("to", "");
    a.batches = args.value("batches", "");
    a.canary = args.value("canary", "");
    a.max_unavailable = args.value("max_unavailable", "");
    a.max_fail = args.value("max_fail", "");
    run_id = a.resume;
  }
  bool upgrade = a.kind == "upgrade";
  if (a.fleet.inventory.empty()) return fail(make_error(Errc::kInvalidArgument, "give the inventory with -i"));
  if (upgrade && (a.bundle.empty() || a.pubs.empty())) {
    return fail(make_error(Errc::kInvalidArgument, "give the bundle and its public key(s): airlock upgrade -i INV BUNDLE --pub KEY"));
  }
  auto ropts = install::parse_rollout_options(a.batches, a.max_unavailable, a.max_fail, a.canary);
  if (!ropts.ok()) return fail(ropts.error());

  auto playbook_path = find_playbook(a.playbook, upgrade ? "upgrade.yaml" : "rollback.yaml");
  if (!playbook_path.ok()) return fail(playbook_path.error());
  auto pb = install::load_playbook(*playbook_path);
  if (!pb.ok()) return fail(pb.error());
  if (!upgrade && !a.to.empty()) pb->vars["rollback_to"] = a.to;
  bool any_rolling = false;
  for (const auto& p : pb->phases) any_rolling = any_rolling || p.rolling;
  if (!any_rolling) log::warn(*playbook_path + ": no phase is `rolling: true`; every phase runs as `install` runs it");

  auto opened = open_fleet(a.fleet);
  if (!opened.ok()) return fail(opened.error());
  auto& fl = **opened;
  std::string state_dir = fs::path(state_path).parent_path().string();
  if (state_dir.empty()) state_dir = ".";

  install::EngineOptions eo;
  bundle::Manifest manifest;
  if (upgrade) {
    auto verified = verify_and_extract({a.bundle, a.pubs, a.allow_expired, !a.quiet && !a.json}, state_dir);
    if (!verified.ok()) return fail(verified.error());
    manifest = verified->manifest;
    eo.content = verified->content;
  } else {
    manifest.bundle.name = "rollback";  // no bundle: the releases are already on the nodes
  }

  transport::CachingFactory sessions(*fl.factory);
  auto found = find_node_binary(a.node_binary);
  if (!found.ok()) return fail(found.error());
  std::string node_bin = *found;
  auto node_digest = sha256_file(node_bin);
  if (!node_digest.ok()) return fail(node_digest.error().wrap("airlock-node " + node_bin));
  if (a.resume.empty()) {
    auto probed = probe_for_run(sessions, fl.hosts, node_bin, std::string(digest_hex(*node_digest)), **db,
                                a.fleet.fanout, !a.quiet && !a.json, a.kind);
    if (!probed.ok()) return probed.error().code == Errc::kCancelled ? 130 : fail(probed.error());
  }
  auto facts = latest_facts(**db);
  if (!facts.ok()) return fail(facts.error());
  auto plan = install::make_plan(*pb, fl.inv, fl.hosts, *facts, manifest);
  if (!plan.ok()) return fail(plan.error());
  if (!upgrade) {
    plan->bundle_name.clear();  // a rollback neither compares nor records bundle versions
    plan->bundle_version = 0;
  }
  if (a.plan_only) {
    if (a.json) {
      std::printf("%s\n", plan->to_json().dump(2).c_str());
    } else {
      std::fputs(plan->render_text().c_str(), stdout);
    }
    return 0;
  }

  if (run_id.empty()) {
    run_id = new_run_id(a.kind);
    json args = run_args_json(a.fleet, a.bundle, a.pubs, *playbook_path, a.allow_downgrade);
    args["to"] = a.to;
    args["batches"] = a.batches;
    args["canary"] = a.canary;
    args["max_unavailable"] = a.max_unavailable;
    args["max_fail"] = a.max_fail;
    run = {run_id, a.kind, now_ns(), 0, "running", args.dump()};
  } else {
    run.status = "running";
  }
  if (auto st = (*db)->put_run(run); !st.ok()) return fail(st.error());
  if (a.json) {
    std::printf("%s\n", json({{"type", "run"}, {"run", run_id}, {"kind", a.kind}, {"release", plan->release}}).dump().c_str());
    std::fflush(stdout);
  }
  log::info("run " + run_id + ": " + a.kind + (upgrade ? " to " + plan->release : "") + " on " +
            std::to_string(fl.hosts.size()) + " node(s)");

  eo.run_id = run_id;
  eo.node_binary = node_bin;
  eo.node_binary_sha256 = std::string(digest_hex(*node_digest));
  eo.cache_dir = state_dir + "/cache";
  eo.allow_downgrade = a.allow_downgrade;
  eo.live_counts = !a.quiet && !a.json;
  std::error_code ec;
  fs::create_directories(eo.cache_dir, ec);

  install::UpgradeOptions uo;
  uo.rollout = *ropts;
  uo.snapshot_dir = state_dir + "/runs";
  uo.resume = !a.resume.empty();
  install::UpgradeControl control;
  install::UpgradeResult result;
  std::mutex out_mu;
  {
    fleet::InterruptGuard guard([&control] { control.cancel(); });
    result = install::run_upgrade(
        *plan, fl.inv, sessions, **db, eo, uo,
        [&](const install::StepEvent& e) {
          std::lock_guard lk(out_mu);
          if (a.json) {
            json j = {{"type", "step"},     {"phase", e.phase},   {"node", e.node},       {"step", e.step},
                      {"action", e.action}, {"status", e.status}, {"message", e.message}, {"bytes_sent", e.bytes_sent},
                      {"duration_ms", e.duration_ms}};
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
          } else if (e.status == "failed" || ctx.verbose) {
            log::info(e.node + " " + e.step + ": " + e.status + (e.message.empty() ? "" : ": " + e.message));
          }
        },
        [&](const install::RolloutEvent& e) {
          std::lock_guard lk(out_mu);
          if (a.json) {
            std::printf("%s\n", rollout_event_json(e).dump().c_str());
            std::fflush(stdout);
            return;
          }
          std::string where = e.group.empty() ? e.phase : e.phase + "/" + e.group;
          std::string budget = " [" + std::to_string(e.out_of_service) + "/" + std::to_string(e.max_unavailable) +
                               " out of service]";
          if (e.type == "layout" || e.type == "resume" || e.type == "stop" || e.type == "failed" || e.type == "down") {
            log::info(where + ": " + e.type + (e.node.empty() ? "" : " " + e.node) +
                      (e.message.empty() ? "" : ": " + e.message) + budget);
          } else if (ctx.verbose) {
            log::info(where + ": " + e.type + " " + e.node + budget);
          }
        },
        &control);
  }
  run.status = result.run.ok() ? "ok" : result.run.interrupted ? "interrupted" : "failed";
  run.finished_at_ns = now_ns();
  (void)(*db)->put_run(run);
  json report = install::upgrade_result_json(result);
  report["run"] = run_id;
  report["kind"] = a.kind;
  report["release"] = plan->release;
  fs::create_directories(state_dir + "/runs", ec);
  (void)write_file_atomic(state_dir + "/runs/" + run_id + ".json", report.dump(2) + "\n");
  if (a.json) {
    report["type"] = "summary";
    std::printf("%s\n", report.dump().c_str());
  } else {
    std::printf("run %s\n", run_id.c_str());
    std::fputs(install::render_upgrade_summary(*plan, result, a.kind, upgrade ? "" : (a.to.empty() ? "last-good" : a.to)).c_str(), stdout);
  }
  if (result.run.interrupted) return 130;
  return result.run.ok() ? 0 : kExitEnvironment;
}

void add_rollout_options(CLI::App* cmd, RolloutArgs& a) {
  cmd->add_option("--batches", a.batches,
                  "Batch sizes after the canary, like Ansible serial: N or P% of all the nodes (rounded down, at\n"
                  "least 1); the last size repeats until no node is left (default 1,5%,25%,100%)");
  cmd->add_option("--canary", a.canary, "Nodes in the canary phase, a phase of its own before the batches (default 1; 0: none)");
  cmd->add_option("--max-unavailable", a.max_unavailable,
                  "N or P%: the most nodes out of service AT ONCE for the whole run, across the canary, every\n"
                  "batch and every rolling phase (default 1)");
  cmd->add_option("--max-fail", a.max_fail,
                  "N or P%: failed (reverted) nodes the whole run allows; the run stops when failures EXCEED it\n"
                  "(default 0: the first failure stops it). A failed canary always stops it");
  cmd->add_option("--playbook", a.playbook, "Playbook (default: the shipped one)");
  cmd->add_option("--state", a.state, "State database (default: ~/.local/state/airlock/state.db)");
  cmd->add_option("--node-binary", a.node_binary, "airlock-node to send (default: the one next to airlock)");
  cmd->add_option("--resume", a.resume,
                  "Continue run RUN (killed or interrupted) from its journal and rollout snapshot: the layout and\n"
                  "budget stay the original run's; nodes that were being worked on count as out of service until\n"
                  "checked again. Other inputs come from the run record");
  cmd->add_flag("--plan", a.plan_only, "Print the per-node plan and change nothing");
  cmd->add_flag("--json", a.json, "One JSON record per step and per rollout event as it happens, then a summary");
  cmd->add_flag("-q,--quiet", a.quiet, "Print only errors and the summary");
}

}  // namespace

int resume_rollout_run(const std::string& run_id, const std::string& state, const std::string& node_binary,
                       bool as_json, bool quiet, Context& ctx) {
  RolloutArgs a;
  a.resume = run_id;
  a.state = state;
  a.node_binary = node_binary;
  a.json = as_json;
  a.quiet = quiet;
  return run_rollout(a, ctx);
}

void register_upgrade(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<RolloutArgs>();
  args->kind = "upgrade";
  CLI::App* cmd = app.add_subcommand(
      "upgrade",
      "Upgrade the cluster to a verified bundle while it keeps serving (playbooks/upgrade.yaml).\n"
      "Phases run in order; a phase marked `rolling: true` goes node by node: a canary first (a phase\n"
      "of its own), then batches; --max-unavailable is ONE budget for the whole run: airlock never has\n"
      "more nodes out of service at once. Per node: drain, stop, switch to the new release (only the\n"
      "blobs that changed are sent, at the stage phase), start, health gate with soak, undrain. A node\n"
      "whose step or gate fails is switched back to its last good release, restarted and checked, and\n"
      "counts as failed; if its old release is unhealthy too the run stops and says so. Every event\n"
      "is journaled: continue a killed run with `airlock resume RUN` (= `airlock upgrade --resume RUN`).\n"
      "Exit: 0 upgraded, 2 bad input, 3 a node failed or the run stopped, 130 interrupted.");
  add_fleet_options(cmd, args->fleet, false);
  cmd->add_option("bundle", args->bundle, "The bundle (.airlock)");
  cmd->add_option("--pub", args->pubs, "Public key(s) the bundle must be signed with");
  cmd->add_flag("--allow-downgrade", args->allow_downgrade, "Go to a lower signed bundle version than a node has");
  cmd->add_flag("--allow-expired", args->allow_expired, "Accept an expired bundle");
  add_rollout_options(cmd, *args);
  cmd->callback([args, &ctx] {
    apply_verbosity(ctx, args->quiet || args->json);
    ctx.exit_code = run_rollout(*args, ctx);
  });

  auto rargs = std::make_shared<RolloutArgs>();
  rargs->kind = "rollback";
  CLI::App* rb = app.add_subcommand(
      "rollback",
      "Take the cluster (or -w NODESET) back to an earlier release that is still on the nodes, the same\n"
      "careful way as upgrade (playbooks/rollback.yaml: agents rolling - drain, stop, switch back with\n"
      "the config files airlock wrote for that release, restart, health, undrain - then the manager).\n"
      "--to: last-good (default: the release that last passed its health gate on each node), previous\n"
      "(what `current` pointed at before its last switch) or a release name, e.g. site-1. After a\n"
      "successful upgrade the new release IS the last good one: go back with --to RELEASE (or previous).\n"
      "Exit: 0 done, 2 bad input, 3 a node failed or the run stopped, 130 interrupted.");
  add_fleet_options(rb, rargs->fleet, false);
  rb->add_option("--to", rargs->to, "last-good | previous | RELEASE (default: the playbook's, last-good)");
  add_rollout_options(rb, *rargs);
  rb->callback([rargs, &ctx] {
    apply_verbosity(ctx, rargs->quiet || rargs->json);
    ctx.exit_code = run_rollout(*rargs, ctx);
  });
}

}  // namespace airlock::cli
