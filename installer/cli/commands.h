// The `airlock` subcommands. Each register_* adds its subcommand to the app; its callback
// stores the process exit code in ctx.exit_code. main.cc only assembles them.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "bundle/minisign.h"
#include "common/result.h"

namespace airlock::cli {

struct Context {
  int exit_code = 0;
  bool quiet = false;
  bool verbose = false;
};

// Applies -q/-v to the logger; every subcommand callback calls it first.
void apply_verbosity(const Context& ctx, bool sub_quiet = false);

void register_keygen(CLI::App& app, Context& ctx);
void register_bundle(CLI::App& app, Context& ctx);
void register_images(CLI::App& app, Context& ctx);
void register_probe(CLI::App& app, Context& ctx);
void register_inventory(CLI::App& app, Context& ctx);
void register_exec(CLI::App& app, Context& ctx);
void register_install(CLI::App& app, Context& ctx);
void register_validate(CLI::App& app, Context& ctx);
void register_upgrade(CLI::App& app, Context& ctx);   // upgrade, rollback (cmd_upgrade.cc)
// Continues an upgrade or rollback run (what `airlock upgrade --resume RUN` does), for
// `airlock resume RUN` when the run's kind is upgrade or rollback. Returns the exit code.
int resume_rollout_run(const std::string& run_id, const std::string& state, const std::string& node_binary,
                       bool as_json, bool quiet, Context& ctx);

int report_error(const Error& e, bool json);

// Sets a subcommand's callback: verbosity from -q/-v (and the args' quiet/json), run fn(args),
// turn its Status into the exit code.
template <class Args, class Fn>
void on_run(CLI::App* cmd, std::shared_ptr<Args> args, Context& ctx, Fn fn) {
  cmd->callback([args, &ctx, fn] {
    apply_verbosity(ctx, args->quiet || args->json);
    auto st = fn(*args);
    ctx.exit_code = st.ok() ? 0 : report_error(st.error(), args->json);
  });
}

// Reads minisign public key files (--pub).
Result<std::vector<bundle::PublicKey>> load_public_keys(const std::vector<std::string>& paths);

}  // namespace airlock::cli
