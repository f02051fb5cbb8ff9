// `airlock bundle create|verify|inspect|extract|diff`: the signed bundle from the command line.
// Human output on stderr/stdout as text; --json gives one JSON document on stdout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "bundle/create.h"
#include "bundle/head.h"
#include "bundle/report.h"
#include "bundle/spec.h"
#include "bundle/verify.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "images/archive_import.h"
#include "images/pull.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/cli/passphrase.h"

namespace airlock::cli {

Result<std::vector<bundle::PublicKey>> load_public_keys(const std::vector<std::string>& paths) {
  std::vector<bundle::PublicKey> keys;
  for (const auto& p : paths) {
    TRY_ASSIGN(std::string text, read_file(p, 16 * 1024));
    TRY_ASSIGN(bundle::PublicKey k, bundle::parse_public_key(text, p));
    keys.push_back(k);
  }
  return keys;
}

void apply_verbosity(const Context& ctx, bool sub_quiet) {
  using log::Level;
  log::set_level((ctx.quiet || sub_quiet) ? Level::kQuiet : ctx.verbose ? Level::kVerbose : Level::kNormal);
}

namespace {

using bundle::PublicKey;

struct CommonFlags {
  bool json = false;
  bool quiet = false;
  bool progress(const Context& ctx) const { return !json && !quiet && !ctx.quiet && Progress::stderr_is_tty(); }
};

void add_common(CLI::App* cmd, CommonFlags& f) {
  cmd->add_flag("--json", f.json, "Print one JSON document on stdout (for scripts)");
  cmd->add_flag("-q,--quiet", f.quiet, "No progress, print only errors");
}

Result<int64_t> source_date_epoch() {
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (!env || !*env) return SystemClock().now();
  std::string s(env);
  if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 12) {
    return make_error(Errc::kInvalidArgument, "SOURCE_DATE_EPOCH must be a number of seconds, got '" + s + "'");
  }
  return static_cast<int64_t>(std::stoll(s));
}

// ---- create ----------------------------------------------------------------------------------

struct CreateArgs : CommonFlags {
  std::string spec, out, base, split, passphrase_file;
  std::string registry_ca, registry_user, registry_password_file;  // for `image:` inputs
  std::string platforms;  // default platform filter for `image:` inputs
  bool registry_insecure = false;
  std::vector<std::string> keys;
  int level = 3;
};

Status run_create(const CreateArgs& a, const Context& ctx) {
  std::vector<bundle::SecretKey> secret_keys;
  for (const auto& path : a.keys) {
    TRY_ASSIGN(std::string text, read_file(path, 16 * 1024));
    TRY_ASSIGN(bool encrypted, bundle::secret_key_is_encrypted(text, path));
    std::optional<std::string> pass;
    if (encrypted) {
      TRY_ASSIGN(std::string p, get_passphrase(a.passphrase_file, "Passphrase for " + path + ": ", false));
      pass = p;
    }
    TRY_ASSIGN(bundle::SecretKey k, bundle::parse_secret_key(text, path, pass));
    secret_keys.push_back(std::move(k));
  }
  std::vector<const bundle::SecretKey*> key_ptrs;
  for (const auto& k : secret_keys) key_ptrs.push_back(&k);
  uint64_t split = 0;
  if (!a.split.empty()) {
    TRY_ASSIGN(split, parse_size(a.split));
    if (split < (1 << 20)) return make_error(Errc::kInvalidArgument, "--split must be at least 1M");
  }
  TRY_ASSIGN(bundle::BundleSpec spec, bundle::load_bundle_spec(a.spec));
  bundle::CreateOptions opts;
  TRY_ASSIGN(opts.source_date_epoch, source_date_epoch());
  opts.level = a.level;
  opts.workers = 2;
  opts.base_path = a.base;
  opts.progress = a.progress(ctx);
  TRY_ASSIGN(opts.work_dir, make_staging_dir(a.out));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { remove_tree(dir); }
  } cleanup{opts.work_dir};
  log::verbose("staging compressed payloads in " + opts.work_dir);
  // Image inputs that are not layouts yet: archives are converted, registry images pulled.
  for (const auto& c : spec.components) {
    if (c.type == "oci-image" && !c.layout.empty() && !c.platforms.empty()) {
      return make_error(Errc::kInvalidArgument, c.where + ": component '" + c.name +
                                                    "': 'platforms' applies to 'image:' inputs; a layout is packed as it is");
    }
  }
  TRY_STATUS(images::resolve_archive_inputs(spec, opts.work_dir));
  if (!a.platforms.empty()) {
    std::vector<std::string> list;
    for (size_t start = 0; start <= a.platforms.size();) {
      size_t comma = a.platforms.find(',', start);
      if (comma == std::string::npos) comma = a.platforms.size();
      std::string p = a.platforms.substr(start, comma - start);
      if (std::count(p.begin(), p.end(), '/') < 1) {
        return make_error(Errc::kInvalidArgument, "--platform: '" + p + "' is not os/arch[/variant]");
      }
      list.push_back(p);
      start = comma + 1;
    }
    for (auto& c : spec.components) {
      if (c.type == "oci-image" && !c.image.empty() && c.platforms.empty()) c.platforms = list;
    }
  }
  images::RegistryOptions registry;
  registry.insecure = a.registry_insecure;
  registry.ca_file = a.registry_ca;
  registry.user = a.registry_user;
  if (!a.registry_password_file.empty()) {
    TRY_ASSIGN(std::string pw, read_file(a.registry_password_file, 4096));
    registry.password = pw.substr(0, pw.find('\n'));
  }
  registry.note = [](const std::string& m) { log::info(m); };
  TRY_STATUS(images::resolve_registry_inputs(spec, registry, opts.work_dir));
  TRY_ASSIGN(bundle::BundlePlan plan, bundle::plan_bundle(spec, opts));
  TRY_ASSIGN(bundle::WriteResult w, bundle::write_bundle(plan, key_ptrs, a.out, split, opts.source_date_epoch, opts.progress));
  const auto& m = plan.manifest;
  if (a.json) {
    nlohmann::json j = {{"ok", true}, {"files", w.files}, {"bytes", w.bytes}, {"manifest_digest", w.manifest_digest},
                        {"name", m.bundle.name}, {"version", m.bundle.version}, {"components", m.components.size()},
                        {"delta", m.base.has_value()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::string where = w.files.size() == 1 ? w.files[0] : w.files[0] + " .. " + w.files.back() + " (" + std::to_string(w.files.size()) + " parts)";
    log::info("created " + where + ": " + m.bundle.name + " v" + std::to_string(m.bundle.version) + ", " +
              std::to_string(m.components.size()) + " components, " + std::to_string(m.files.size()) + " files, " +
              human_bytes(w.bytes) + (m.base ? ", delta on v" + std::to_string(m.base->version) : "") +
              ", signed by " + std::to_string(key_ptrs.size()) + " key(s)");
  }
  return {};
}

// ---- verify / extract --------------------------------------------------------------------------

struct VerifyArgs : CommonFlags {
  std::string bundle, dir, only, base;
  std::vector<std::string> pubs;
  size_t threshold = 1;
  bool allow_expired = false;
};

Status run_verify(const VerifyArgs& a, const Context& ctx, bool extract) {
  bundle::VerifyOptions opts;
  TRY_ASSIGN(opts.keys, load_public_keys(a.pubs));
  opts.threshold = a.threshold;
  if (opts.threshold == 0) return make_error(Errc::kInvalidArgument, "--threshold must be at least 1");
  if (opts.threshold > opts.keys.size()) {
    return make_error(Errc::kInvalidArgument, "--threshold " + std::to_string(opts.threshold) + " is more than the " +
                                                  std::to_string(opts.keys.size()) + " public key(s) given");
  }
  opts.now = SystemClock().now();
  opts.allow_expired = a.allow_expired;
  opts.progress = a.progress(ctx);
  if (extract) {
    opts.extract_to = a.dir;
    opts.only = a.only;
    opts.base_path = a.base;
  }
  TRY_ASSIGN(bundle::VerifyResult r, bundle::verify_bundle(a.bundle, opts));
  for (const auto& w : r.warnings) log::warn(w + " (accepted because of --allow-expired)");
  const auto& m = r.manifest;
  if (a.json) {
    nlohmann::json signers = nlohmann::json::array();
    for (const auto& s : r.signers) signers.push_back({{"key_id", s.key_id}, {"verified", s.pinned}});
    nlohmann::json j = {{"ok", true}, {"name", m.bundle.name}, {"channel", m.bundle.channel},
                        {"version", m.bundle.version}, {"manifest_digest", r.manifest_digest},
                        {"members", r.members}, {"bytes", r.bytes}, {"signers", signers}, {"warnings", r.warnings}};
    if (extract) j["directory"] = a.dir;
    std::printf("%s\n", j.dump().c_str());
  } else {
    size_t verified = 0;
    for (const auto& s : r.signers) verified += s.pinned ? 1 : 0;
    log::info(std::string(extract ? "extracted " : "verified ") + a.bundle + ": " + m.bundle.name + " v" +
              std::to_string(m.bundle.version) + ", " + std::to_string(r.members) + " members, " + human_bytes(r.bytes) +
              ", " + std::to_string(verified) + " of " + std::to_string(r.signers.size()) + " signature(s) verified" +
              (extract ? " -> " + a.dir : ""));
  }
  return {};
}

// ---- inspect / diff ----------------------------------------------------------------------------

struct InspectArgs : CommonFlags {
  std::string bundle;
  std::vector<std::string> pubs;
  size_t threshold = 1;
  bool sha256sum = false;
};

Status run_inspect(const InspectArgs& a) {
  TRY_ASSIGN(auto keys, load_public_keys(a.pubs));
  TRY_ASSIGN(bundle::HeadInfo info, bundle::load_head(a.bundle, keys, keys.empty() ? 0 : a.threshold));
  if (a.sha256sum) {
    std::fputs(bundle::sha256sum_listing(info).c_str(), stdout);
  } else if (a.json) {
    std::printf("%s\n", bundle::inspect_json(info).dump(2).c_str());
  } else {
    std::fputs(bundle::inspect_text(info).c_str(), stdout);
  }
  return {};
}

struct DiffArgs : CommonFlags {
  std::string old_bundle, new_bundle;
  std::vector<std::string> pubs;
};

Status run_diff(const DiffArgs& a) {
  TRY_ASSIGN(auto keys, load_public_keys(a.pubs));
  size_t threshold = keys.empty() ? 0 : 1;
  auto o = bundle::load_head(a.old_bundle, keys, threshold);
  if (!o.ok()) return o.error().wrap(a.old_bundle);
  auto n = bundle::load_head(a.new_bundle, keys, threshold);
  if (!n.ok()) return n.error().wrap(a.new_bundle);
  auto d = bundle::diff_manifests(o->manifest, n->manifest);
  if (a.json) {
    std::printf("%s\n", bundle::diff_json(d).dump(2).c_str());
  } else {
    std::fputs(bundle::diff_text(d, o->manifest, n->manifest).c_str(), stdout);
  }
  return {};
}

}  // namespace

void register_bundle(CLI::App& app, Context& ctx) {
  CLI::App* bundle = app.add_subcommand("bundle", "Create, verify, inspect, extract and compare signed bundles");
  bundle->require_subcommand(1);

  auto ca = std::make_shared<CreateArgs>();
  CLI::App* create = bundle->add_subcommand("create", "Pack the components of bundle.yaml into one signed archive");
  create->add_option("-f,--file", ca->spec, "The bundle definition (bundle.yaml)")->required();
  create->add_option("-o,--output", ca->out, "The bundle file to write")->required();
  create->add_option("--key", ca->keys, "Secret key to sign with (repeat for t-of-n signing)")->required();
  create->add_option("--passphrase-file", ca->passphrase_file, "Passphrase for encrypted keys (else AIRLOCK_PASSPHRASE or a prompt)");
  create->add_option("--split", ca->split, "Write parts of at most SIZE (e.g. 4000M for FAT32): OUT.000, OUT.001, ...");
  create->add_option("--base", ca->base, "Write a delta: omit blobs that this older bundle already has");
  create->add_option("--level", ca->level, "zstd level for compressible payloads (default 3)")->check(CLI::Range(1, 19));
  create->add_option("--platform", ca->platforms,
                     "For image: inputs without 'platforms:': keep only these, e.g. linux/amd64,linux/arm64");
  create->add_option("--registry-ca", ca->registry_ca, "For image: inputs: CA certificate of the source registry");
  create->add_flag("--registry-insecure", ca->registry_insecure, "For image: inputs: plain http to the source registry");
  create->add_option("--registry-user", ca->registry_user, "For image: inputs: registry user name");
  create->add_option("--registry-password-file", ca->registry_password_file, "For image: inputs: file with the password");
  add_common(create, *ca);
  on_run(create, ca, ctx, [&ctx](const CreateArgs& a) { return run_create(a, ctx); });

  auto va = std::make_shared<VerifyArgs>();
  CLI::App* verify = bundle->add_subcommand("verify", "Check signatures and every member's size and sha256 in one pass");
  verify->add_option("bundle", va->bundle, "The bundle file (or its first part, or - for stdin)")->required();
  verify->add_option("--pub", va->pubs, "Trusted public key (repeat for several)")->required();
  verify->add_option("--threshold", va->threshold, "Signatures by distinct trusted keys required (default 1)");
  verify->add_flag("--allow-expired", va->allow_expired, "Accept an expired bundle or an implausible clock (logged)");
  add_common(verify, *va);
  on_run(verify, va, ctx, [&ctx](const VerifyArgs& a) { return run_verify(a, ctx, false); });

  auto ea = std::make_shared<VerifyArgs>();
  CLI::App* extract = bundle->add_subcommand("extract", "Verify while copying into a private staging directory, then rename it to DIR");
  extract->add_option("bundle", ea->bundle, "The bundle file (or its first part, or - for stdin)")->required();
  extract->add_option("-C,--directory", ea->dir, "Target directory (must not exist, or be empty)")->required();
  extract->add_option("--pub", ea->pubs, "Trusted public key (repeat for several)")->required();
  extract->add_option("--threshold", ea->threshold, "Signatures by distinct trusted keys required (default 1)");
  extract->add_option("--only", ea->only, "Extract one component (with the OCI layout files it needs)");
  extract->add_option("--base", ea->base, "For a delta bundle: the base bundle that supplies the omitted blobs");
  extract->add_flag("--allow-expired", ea->allow_expired, "Accept an expired bundle or an implausible clock (logged)");
  add_common(extract, *ea);
  on_run(extract, ea, ctx, [&ctx](const VerifyArgs& a) { return run_verify(a, ctx, true); });

  auto ia = std::make_shared<InspectArgs>();
  CLI::App* inspect = bundle->add_subcommand("inspect", "Show components, versions, sizes, digests and signers (reads only the head)");
  inspect->add_option("bundle", ia->bundle, "The bundle file")->required();
  inspect->add_option("--pub", ia->pubs, "Check the signatures with these public keys");
  inspect->add_option("--threshold", ia->threshold, "Signatures required when --pub is given (default 1)");
  inspect->add_flag("--sha256sum", ia->sha256sum, "Print a `sha256sum -c` listing of bundle.json and every member");
  add_common(inspect, *ia);
  on_run(inspect, ia, ctx, [](const InspectArgs& a) { return run_inspect(a); });

  auto da = std::make_shared<DiffArgs>();
  CLI::App* diff = bundle->add_subcommand("diff", "Components added, removed and changed, and the bytes a delta needs");
  diff->add_option("old", da->old_bundle, "The older bundle")->required();
  diff->add_option("new", da->new_bundle, "The newer bundle")->required();
  diff->add_option("--pub", da->pubs, "Check both bundles' signatures with these public keys");
  add_common(diff, *da);
  on_run(diff, da, ctx, [](const DiffArgs& a) { return run_diff(a); });
}

}  // namespace airlock::cli
