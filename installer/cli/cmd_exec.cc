// `airlock exec -i INV [-g ROLE] [-w NODES] -- CMD...`: runs one command on many nodes at once
// and prints identical results once under a node range, like `clush -b`. --json streams one
// record per node as it finishes. Exit: 0 every node exited 0; 1 some exited non-zero; 3 some
// could not run it (unreachable, host key, timeout); 130 interrupted.
#include <cstdio>

#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/cli/fleet_options.h"
#include "installer/fleet/executor.h"
#include "installer/fleet/gather.h"

namespace airlock::cli {
namespace {

struct ExecArgs {
  FleetArgs fleet;
  std::vector<std::string> argv;
  int timeout_s = 600;
  bool json = false;
  bool quiet = false;
};

nlohmann::json node_record(const fleet::NodeResult& r, const fleet::NodeOutcome& o) {
  nlohmann::json j = {{"type", "node"}, {"node", r.node}, {"duration_ms", o.elapsed.count() / 1'000'000}};
  if (!r.status.ok()) {
    j["error"] = {{"kind", errc_name(r.status.error().root_code())}, {"message", r.status.error().describe()}};
  } else {
    j["exit_code"] = r.result.exit_code;
    j["timed_out"] = r.result.timed_out;
    j["stdout"] = r.result.out;
    j["stderr"] = r.result.err;
  }
  return j;
}

int run_exec(const ExecArgs& a) {
  auto opened = open_fleet(a.fleet);
  if (!opened.ok()) return report_error(opened.error(), a.json);
  auto& fl = **opened;
  fleet::Executor ex(*fl.factory, a.fleet.fanout);
  fleet::InterruptGuard guard(ex);
  std::vector<fleet::NodeResult> results(fl.hosts.size());
  std::map<const inventory::Host*, size_t> index;
  for (size_t i = 0; i < fl.hosts.size(); ++i) index[fl.hosts[i]] = i;

  auto work = [&](const inventory::Host& h, transport::Transport& t) -> Status {
    transport::ExecOptions o;
    o.timeout = std::chrono::seconds(a.timeout_s);
    auto r = t.exec(a.argv, o);
    if (!r.ok()) return r.error();
    if (r->timed_out) {
      return make_error(Errc::kTimeout, h.name + ": command did not finish within " + std::to_string(a.timeout_s) +
                                            " s (killed)");
    }
    results[index.at(&h)].result = std::move(*r);
    return {};
  };
  {
    fleet::CountsDisplay display("exec", ex, !a.quiet && !a.json);
    ex.run(fl.hosts, work, [&](const fleet::NodeOutcome& o) {
      auto& r = results[index.at(o.host)];
      r.node = o.host->name;
      r.status = o.status;
      if (a.json) {
        std::printf("%s\n", node_record(r, o).dump().c_str());
        std::fflush(stdout);
      }
    });
  }
  fleet::Gathered g = fleet::gather(results);
  if (a.json) {
    nlohmann::json s = {{"type", "summary"},
                        {"nodes", results.size()},
                        {"nonzero", g.nonzero_nodes},
                        {"failed", g.failures.size()},
                        {"interrupted", guard.interrupted()}};
    std::printf("%s\n", s.dump().c_str());
  } else {
    std::fputs(fleet::render_gathered(g, results.size()).c_str(), stdout);
  }
  if (guard.interrupted()) return 130;
  if (!g.failures.empty()) return kExitEnvironment;
  return g.nonzero_nodes ? 1 : 0;
}

}  // namespace

void register_exec(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ExecArgs>();
  CLI::App* cmd = app.add_subcommand(
      "exec",
      "Run a command on many nodes at once; identical output is printed once under a node range.\n"
      "Exit: 0 all exited 0, 1 some exited non-zero, 3 some could not run it, 130 interrupted.");
  add_fleet_options(cmd, args->fleet);
  cmd->add_option("--timeout", args->timeout_s, "Seconds the command may run on each node (then it is killed)")
      ->default_val(600);
  cmd->add_flag("--json", args->json, "One JSON record per node as it finishes, then a summary record");
  cmd->add_flag("-q,--quiet", args->quiet, "No live progress");
  cmd->add_option("command", args->argv, "The command and its arguments (after --)")->required();
  cmd->callback([args, &ctx] {
    apply_verbosity(ctx, args->quiet || args->json);
    ctx.exit_code = run_exec(*args);
  });
}

}  // namespace airlock::cli
