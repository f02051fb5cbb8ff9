// The `airlock` subcommands. Each register_* adds its subcommand to the app; its callback
// stores the process exit code in ctx.exit_code. main.cc only assembles them.
#pragma once

#include <CLI/CLI.hpp>

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

}  // namespace airlock::cli
