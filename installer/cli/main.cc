// airlock: the command-line entry point. Assembles the subcommands; no logic of its own.
#include <sodium.h>

#include <cstdio>

#include "common/log.h"
#include "installer/cli/commands.h"

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::fprintf(stderr, "airlock: error: libsodium failed to initialise\n");
    return 70;
  }
  CLI::App app{"airlock: offline installer and air-gapped deployment toolkit for GPU/AI clusters.\n"
               "Exit codes: 0 ok, 1 bundle or signature rejected, 2 usage or bad input file,\n"
               "3 environment (missing file, I/O), 70 internal error."};
  app.require_subcommand(1);
  airlock::cli::Context ctx;
  app.add_flag("-q,--quiet", ctx.quiet, "Print only errors");
  app.add_flag("-v,--verbose", ctx.verbose, "Print more detail");
  app.set_version_flag("--version", std::string("airlock ") + AIRLOCK_VERSION);
  app.add_subcommand("version", "Print the version")->callback([] { std::printf("airlock %s\n", AIRLOCK_VERSION); });
  airlock::cli::register_keygen(app, ctx);
  airlock::cli::register_bundle(app, ctx);
  airlock::cli::register_images(app, ctx);
  airlock::cli::register_probe(app, ctx);
  airlock::cli::register_inventory(app, ctx);
  airlock::cli::register_validate(app, ctx);
  airlock::cli::register_exec(app, ctx);
  airlock::cli::register_install(app, ctx);
  airlock::cli::register_upgrade(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return ctx.exit_code;
}
