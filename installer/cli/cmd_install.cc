// `airlock install -i INV BUNDLE --pub KEY`: verify the bundle, probe the nodes, validate their
// facts (what `airlock validate` checks; failures refuse the install unless --skip-validation),
// plan, apply (installer/install/engine.h) with live progress on a terminal, and write the run
// report (RUN.json, RUN.html; installer/install/report.h) and the validation report
// (RUN.validate.json, RUN.validate.html) into STATE_DIR/runs or --report DIR, at the end of
// every run. `--plan` prints the per-node plan (and the validation problems) and changes nothing.
// `airlock resume RUN` runs a killed or failed run again with the same inputs: steps the
// journal or the nodes record as done are skipped. `airlock status [RUN]` shows the recent
// runs, or where every node of one run is.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>

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
#include "installer/install/report.h"
#include "installer/inventory/nodeset.h"
#include "installer/validate/report.h"

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
  std::string report_dir;       // --report DIR (default STATE_DIR/runs)
  ValidationOptions validation; // --rules, --ignore, --enforce-warnings
  bool skip_validation = false;
  bool plan_only = false;
  bool allow_downgrade = false;
  bool allow_expired = false;
  bool json = false;
  bool quiet = false;
};

// Writes `data` to `path` atomically; logs and returns false on failure (a report that cannot
// be written does not change the run's outcome).
bool write_report(const std::string& path, const std::string& data) {
  auto st = write_file_atomic(path, data);
  if (!st.ok()) {
    log::error(st.error().wrap("report " + path).describe());
    return false;
  }
  return true;
}

std::string dump_json(const json& j, int indent) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

int run_install(const InstallArgs& in, Context& ctx) {
  InstallArgs a = in;
  auto t_start = std::chrono::steady_clock::now();
  int64_t started_at_ns = now_ns();
  auto fail = [&](const Error& e) { return report_error(e, a.json); };
  std::string state_path = a.state.empty() ? fleet::StateDb::default_path() : a.state;
  auto db = fleet::StateDb::open(state_path);
  if (!db.ok()) return fail(db.error());

  // A resumed run takes its inputs from the run record.
  std::string run_id;
  fleet::RunRecord run;
  if (!a.resume.empty()) {
    auto stored = load_run(**db, a.resume, state_path);
    if (!stored.ok()) return fail(stored.error());
    run = stored->record;
    if (run.kind == "upgrade" || run.kind == "rollback") {
      return resume_rollout_run(a.resume, a.state, a.node_binary, a.json, a.quiet, ctx);
    }
    const json& args = stored->args;
    read_run_args(args, a.fleet, a.bundle, a.pubs, a.playbook, a.allow_downgrade);
    a.validation.rules = args.value("rules", "");
    a.validation.ignore = args.value("ignore", std::vector<std::string>{});
    a.validation.enforce_warnings = args.value("enforce_warnings", false);
    a.skip_validation = args.value("skip_validation", false);
    if (a.report_dir.empty()) a.report_dir = args.value("report_dir", "");
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

  // The validation gate: what `airlock validate` says about the selected nodes' facts.
  auto vreport = validate_for_run(**db, fl.hosts, a.validation);
  if (!vreport.ok()) return fail(vreport.error());
  bool vblocks = validation_blocks(*vreport);
  std::vector<std::string> problems = validation_problems(*vreport, /*all=*/true);
  std::vector<std::string> blocking = validation_problems(*vreport);

  if (a.plan_only) {
    if (a.json) {
      std::printf("%s\n", dump_json(plan->to_json(), 2).c_str());
      for (const auto& p : problems) log::warn("validation: " + p);
    } else {
      std::fputs(plan->render_text().c_str(), stdout);
      if (!problems.empty()) {
        std::printf("\nvalidation: %zu problem(s)%s\n", problems.size(),
                    vblocks ? (a.skip_validation ? " (failures; --skip-validation given)"
                                                 : "; the install would refuse (fix them, or --skip-validation)")
                            : " (warnings do not block)");
        for (const auto& p : problems) std::printf("  %s\n", p.c_str());
      }
    }
    return 0;
  }

  if (run_id.empty()) run_id = new_run_id("install");
  std::string runs_dir = state_dir + "/runs";
  std::string report_dir = a.report_dir.empty() ? runs_dir : a.report_dir;
  std::error_code ec;
  fs::create_directories(report_dir, ec);
  if (ec) return fail(sys_error("--report " + report_dir, ec.value()));
  fs::create_directories(runs_dir, ec);
  std::string vjson_path = report_dir + "/" + run_id + ".validate.json";
  std::string vhtml_path = report_dir + "/" + run_id + ".validate.html";
  bool vwritten = write_report(vjson_path, dump_json(validate::render_json(*vreport), 1) + "\n");
  vwritten = write_report(vhtml_path, validate::render_html(*vreport)) && vwritten;
  json vsummary = validation_summary(*vreport, a.skip_validation);
  if (vwritten) vsummary["reports"] = {{"json", vjson_path}, {"html", vhtml_path}};

  if (vblocks && !a.skip_validation) {
    for (const auto& p : blocking) log::error("validation: " + p);
    if (a.json) {
      json j = {{"type", "validation"}, {"ok", false}, {"validation", vsummary}};
      std::printf("%s\n", dump_json(j, -1).c_str());
    }
    log::error("validation report: " + vhtml_path);
    return fail(make_error(Errc::kInvalidArgument,
                           "validation failed: " + std::to_string(blocking.size()) + " blocking finding(s) on " +
                               std::to_string(vreport->counts().fail) +
                               " node(s); nothing was changed (fix them, adjust --rules/--ignore, or --skip-validation)"));
  }
  if (vblocks) {
    log::warn("--skip-validation: installing despite " + std::to_string(blocking.size()) + " blocking validation finding(s):");
    for (const auto& p : blocking) log::warn("  skipped: " + p);
  }
  for (const auto& p : problems) {
    if (std::find(blocking.begin(), blocking.end(), p) == blocking.end()) log::warn("validation: " + p);
  }

  if (a.resume.empty()) {
    json args = run_args_json(a.fleet, a.bundle, a.pubs, *playbook_path, a.allow_downgrade);
    args["rules"] = a.validation.rules.empty() ? "" : fs::absolute(a.validation.rules).string();
    args["ignore"] = a.validation.ignore;
    args["enforce_warnings"] = a.validation.enforce_warnings;
    args["skip_validation"] = a.skip_validation;
    args["report_dir"] = a.report_dir.empty() ? "" : fs::absolute(a.report_dir).string();
    run = {run_id, "install", now_ns(), 0, "running", args.dump()};
  } else {
    run.status = "running";
  }
  if (auto st = (*db)->put_run(run); !st.ok()) return fail(st.error());
  log::info("run " + run_id + ": " + plan->release + " onto " + std::to_string(fl.hosts.size()) + " node(s)");
  if (a.json) {
    std::printf("%s\n", dump_json({{"type", "run"}, {"run", run_id}, {"kind", run.kind}, {"release", plan->release}}, -1).c_str());
    std::fflush(stdout);
  }

  install::EngineOptions eo;
  eo.run_id = run_id;
  eo.node_binary = node_bin;
  eo.node_binary_sha256 = std::string(digest_hex(*node_digest));
  eo.content = verified->content;
  eo.cache_dir = state_dir + "/cache";
  eo.allow_downgrade = a.allow_downgrade;
  eo.live_counts = false;  // RunProgress draws the progress instead
  fs::create_directories(eo.cache_dir, ec);

  install::EngineControl control;
  install::RunResult result;
  std::vector<install::StepEvent> events;
  std::mutex events_mu;
  {
    RunProgress progress(*plan, !a.quiet && !a.json);
    fleet::InterruptGuard guard([&control] { control.cancel(); });
    result = install::apply_plan(*plan, fl.inv, sessions, **db, eo, [&](const install::StepEvent& e) {
      {
        std::lock_guard lk(events_mu);
        events.push_back(e);
      }
      auto prog = progress.on_event(e);
      if (a.json) {
        json j = {{"type", "step"},     {"phase", e.phase},   {"node", e.node},          {"step", e.step},
                  {"action", e.action}, {"status", e.status}, {"message", e.message},    {"bytes_sent", e.bytes_sent},
                  {"duration_ms", e.duration_ms}};
        std::printf("%s\n", dump_json(j, -1).c_str());
        if (prog) std::printf("%s\n", dump_json(*prog, -1).c_str());
        std::fflush(stdout);
      } else if (e.status == "failed" || ctx.verbose) {
        progress.above([&] {
          log::info(e.node + " " + e.step + ": " + e.status + (e.message.empty() ? "" : ": " + e.message));
        });
      }
    }, &control);
  }
  run.status = result.ok() ? "ok" : result.interrupted ? "interrupted" : "failed";
  run.finished_at_ns = now_ns();
  (void)(*db)->put_run(run);

  install::RunReportInfo info;
  info.run_id = run_id;
  info.kind = run.kind;
  info.status = run.status;
  info.started_at_ns = started_at_ns;
  info.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t_start).count();
  info.validation = vsummary;
  json report = install::run_report_json(*plan, result, events, info);
  std::string json_path = report_dir + "/" + run_id + ".json";
  std::string html_path = report_dir + "/" + run_id + ".html";
  std::string report_json = dump_json(report, 2) + "\n";
  json reports = json::object();
  if (write_report(json_path, report_json)) reports["json"] = json_path;
  if (write_report(html_path, install::run_report_html(*plan, result, events, info))) reports["html"] = html_path;
  if (vwritten) {
    reports["validation_json"] = vjson_path;
    reports["validation_html"] = vhtml_path;
  }
  // `airlock status` and other tools find RUN.json in STATE_DIR/runs whatever --report says.
  if (report_dir != runs_dir) (void)write_report(runs_dir + "/" + run_id + ".json", report_json);
  if (a.json) {
    report["type"] = "summary";
    report["reports"] = reports;
    std::printf("%s\n", dump_json(report, -1).c_str());
  } else {
    std::printf("run %s\n", run_id.c_str());
    std::fputs(install::render_run_summary(*plan, result).c_str(), stdout);
    if (reports.contains("html")) {
      std::printf("report: %s (%s)\n", reports["html"].get<std::string>().c_str(),
                  reports.value("json", std::string("-")).c_str());
    }
    if (vwritten) std::printf("validation report: %s\n", vhtml_path.c_str());
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
      "Validates the probed facts first (as `airlock validate`); failures refuse the install.\n"
      "Exit: 0 installed, 2 bad input or validation failures, 3 some node failed or could not be reached,\n"
      "130 interrupted.");
  add_fleet_options(cmd, args->fleet);
  cmd->add_option("bundle", args->bundle, "The bundle (.airlock)")->required();
  cmd->add_option("--pub", args->pubs, "Public key(s) the bundle must be signed with")->required();
  cmd->add_option("--playbook", args->playbook, "Playbook (default: the shipped playbooks/install.yaml)");
  cmd->add_option("--state", args->state, "State database (default: ~/.local/state/airlock/state.db)");
  cmd->add_option("--node-binary", args->node_binary, "airlock-node to send (default: the one next to airlock)");
  cmd->add_flag("--plan", args->plan_only, "Print the per-node plan and change nothing");
  cmd->add_flag("--allow-downgrade", args->allow_downgrade, "Install even where a newer bundle version is installed");
  cmd->add_flag("--allow-expired", args->allow_expired, "Accept an expired bundle");
  cmd->add_option("--rules", args->validation.rules, "Validation rules file (YAML, docs/validate.md; default: built-in)");
  cmd->add_option("--ignore", args->validation.ignore, "Skip this validation check id; repeatable")->allow_extra_args(false);
  cmd->add_flag("--enforce-warnings", args->validation.enforce_warnings, "Validation warnings refuse the install too");
  cmd->add_flag("--skip-validation", args->skip_validation,
                "Install even when validation fails (the failures are logged and in the report)");
  cmd->add_option("--report", args->report_dir, "Write RUN.json, RUN.html and the validation reports here (default: STATE_DIR/runs)");
  cmd->add_flag("--json", args->json, "One JSON record per step (and per node finished) as it happens, then a summary");
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
  res->add_option("--report", rargs->report_dir, "Write the reports here (default: the run's)");
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
