// `airlock keygen -o NAME [-W]`: a minisign-compatible key pair, NAME.pub and NAME.key.
#include <sys/stat.h>

#include <cstdio>

#include "bundle/minisign.h"
#include "common/fs.h"
#include "common/log.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/cli/passphrase.h"

namespace airlock::cli {
namespace {

struct KeygenArgs {
  std::string out;
  bool unencrypted = false;
  bool force = false;
  std::string passphrase_file;
};

Status run_keygen(const KeygenArgs& a) {
  std::string pub_path = a.out + ".pub", key_path = a.out + ".key";
  if (!a.force && (path_exists(pub_path) || path_exists(key_path))) {
    return make_error(Errc::kInvalidArgument, key_path + " or " + pub_path + " already exists (use --force to replace)");
  }
  std::optional<std::string> pass;
  if (!a.unencrypted) {
    TRY_ASSIGN(std::string p, get_passphrase(a.passphrase_file, "Passphrase for the new secret key: ", true));
    pass = p;
    log::info("deriving the key encryption key with scrypt (this takes a few seconds)...");
  }
  auto kp = bundle::generate_key_pair();
  TRY_STATUS(write_file_atomic(key_path, bundle::format_secret_key(kp.secret, pass), 0600));
  TRY_STATUS(write_file_atomic(pub_path, bundle::format_public_key(kp.pub), 0644));
  log::info("key id " + bundle::key_id_hex(kp.pub.key_id) + ": secret key " + key_path + " (keep it offline), public key " + pub_path);
  return {};
}

}  // namespace

void register_keygen(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand("keygen", "Create a minisign-compatible signing key pair (NAME.pub, NAME.key)");
  cmd->add_option("-o,--output", args->out, "Base name of the key files")->required();
  cmd->add_flag("-W,--without-passphrase", args->unencrypted,
                "Store the secret key unencrypted (for automation; minisign -W)");
  cmd->add_flag("--force", args->force, "Replace existing key files");
  cmd->add_option("--passphrase-file", args->passphrase_file,
                  "Read the passphrase from this file (else AIRLOCK_PASSPHRASE, else the terminal)");
  cmd->callback([args, &ctx] {
    apply_verbosity(ctx);
    auto st = run_keygen(*args);
    ctx.exit_code = st.ok() ? kExitOk : report_error(st.error(), false);
  });
}

}  // namespace airlock::cli
