// `airlock images list|push|export`: container images out of a verified bundle at the site.
#include <cstdio>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "images/bundle_images.h"
#include "images/export.h"
#include "images/push.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"

namespace airlock::cli {
namespace {

struct ImagesArgs {
  std::string bundle;
  std::vector<std::string> pubs;
  size_t threshold = 1;
  bool allow_expired = false;
  bool json = false;
  bool quiet = false;
};

void add_bundle_options(CLI::App* cmd, ImagesArgs& a) {
  cmd->add_option("bundle", a.bundle, "The bundle file (or its first part)")->required();
  cmd->add_option("--pub", a.pubs, "Trusted public key (repeat for several)")->required();
  cmd->add_option("--threshold", a.threshold, "Signatures by distinct trusted keys required (default 1)");
  cmd->add_flag("--allow-expired", a.allow_expired, "Accept an expired bundle (logged)");
  cmd->add_flag("--json", a.json, "Print one JSON document on stdout (for scripts)");
  cmd->add_flag("-q,--quiet", a.quiet, "No progress, print only errors");
}

// Verifies the whole bundle (one streaming pass) and opens its images.
Result<images::BundleImages> open_images(const ImagesArgs& a) {
  bundle::VerifyOptions opts;
  TRY_ASSIGN(opts.keys, load_public_keys(a.pubs));
  opts.threshold = a.threshold;
  opts.now = SystemClock().now();
  opts.allow_expired = a.allow_expired;
  opts.progress = !a.json && !a.quiet && Progress::stderr_is_tty();
  TRY_ASSIGN(auto b, images::BundleImages::open(a.bundle, opts));
  for (const auto& w : b.verified().warnings) log::warn(w + " (accepted because of --allow-expired)");
  return b;
}

Status run_list(const ImagesArgs& a) {
  TRY_ASSIGN(auto b, open_images(a));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& img : b.images()) {
    const auto& c = *img.component;
    nlohmann::json platforms = nlohmann::json::array();
    for (const auto& p : c.platforms) {
      std::string s = p.value("os", std::string()) + "/" + p.value("architecture", std::string());
      if (p.contains("variant")) s += "/" + p.value("variant", std::string());
      platforms.push_back(s);
    }
    out.push_back({{"name", c.name}, {"ref", c.ref}, {"digest", c.descriptor->digest},
                   {"media_type", c.descriptor->media_type}, {"platforms", platforms},
                   {"blobs", img.blobs.size() + img.manifests.size()}, {"bytes", img.bytes}});
  }
  if (a.json) {
    std::printf("%s\n", nlohmann::json{{"images", out}}.dump(2).c_str());
    return {};
  }
  for (const auto& i : out) {
    std::string plats;
    for (const auto& p : i["platforms"]) plats += (plats.empty() ? "" : ",") + p.get<std::string>();
    std::printf("%-40s %-12s %s  %-12s %s\n", i["name"].get<std::string>().c_str(), i["ref"].get<std::string>().c_str(),
                i["digest"].get<std::string>().c_str(), plats.empty() ? "-" : plats.c_str(),
                human_bytes(i["bytes"].get<uint64_t>()).c_str());
  }
  return {};
}

struct PushArgs : ImagesArgs {
  std::string registry, prefix, ca, user, password_file, only;
  bool insecure = false;
  int retries = 5;
  std::string chunk = "64M";
};

Status run_push(const PushArgs& a) {
  images::PushOptions opts;
  opts.registry.host = a.registry;
  opts.registry.insecure = a.insecure;
  opts.registry.ca_file = a.ca;
  opts.registry.user = a.user;
  opts.registry.retries = a.retries;
  TRY_ASSIGN(opts.registry.chunk_size, parse_size(a.chunk));
  if (opts.registry.chunk_size < (1 << 20)) return make_error(Errc::kInvalidArgument, "--chunk must be at least 1M");
  if (!a.password_file.empty()) {
    TRY_ASSIGN(std::string pw, read_file(a.password_file, 4096));
    opts.registry.password = pw.substr(0, pw.find('\n'));
  }
  if (!a.user.empty() && a.password_file.empty()) {
    return make_error(Errc::kInvalidArgument, "--user needs --password-file");
  }
  opts.registry.note = [](const std::string& m) { log::info(m); };
  opts.prefix = a.prefix;
  opts.only = a.only;
  opts.progress = !a.json && !a.quiet && Progress::stderr_is_tty();
  TRY_ASSIGN(auto b, open_images(a));
  TRY_ASSIGN(images::PushResult r, images::push_images(b, opts));
  if (a.json) {
    nlohmann::json imgs = nlohmann::json::array();
    for (const auto& i : r.images) imgs.push_back({{"repository", i.repository}, {"tag", i.tag}, {"digest", i.digest}});
    nlohmann::json j = {{"ok", true}, {"registry", a.registry}, {"images", imgs},
                        {"uploaded_blobs", r.uploaded_blobs}, {"skipped_blobs", r.skipped_blobs},
                        {"mounted_blobs", r.mounted_blobs}, {"uploaded_bytes", r.uploaded_bytes}, {"resumed", r.resumed}};
    std::printf("%s\n", j.dump().c_str());
    return {};
  }
  for (const auto& i : r.images) log::info("  " + a.registry + "/" + i.repository + ":" + i.tag + "  " + i.digest);
  log::info("pushed " + std::to_string(r.images.size()) + " image(s): " + std::to_string(r.uploaded_blobs) +
            " blob(s) uploaded (" + human_bytes(r.uploaded_bytes) + "), " + std::to_string(r.skipped_blobs) + " skipped, " +
            std::to_string(r.mounted_blobs) + " mounted" + (r.resumed ? ", resumed after interruption" : ""));
  return {};
}

struct ExportArgs : ImagesArgs {
  std::string ref, format = "docker-archive", output, platform;
};

Status run_export(const ExportArgs& a) {
  images::ExportOptions opts;
  TRY_ASSIGN(opts.format, images::parse_export_format(a.format));
  opts.platform = a.platform;
  opts.progress = !a.json && !a.quiet && Progress::stderr_is_tty();
  TRY_ASSIGN(auto b, open_images(a));
  TRY_ASSIGN(images::Image img, b.find(a.ref));
  TRY_STATUS(images::export_image(b, img, a.output, opts));
  if (a.output != "-") log::info("exported " + a.ref + " as " + a.format + " to " + a.output);
  return {};
}

}  // namespace

void register_images(CLI::App& app, Context& ctx) {
  CLI::App* images = app.add_subcommand("images", "Container images out of a verified bundle: list, push to a registry, export");
  images->require_subcommand(1);

  auto la = std::make_shared<ImagesArgs>();
  CLI::App* list = images->add_subcommand("list", "List the images in a bundle (after verifying it)");
  add_bundle_options(list, *la);
  on_run(list, la, ctx, [](const ImagesArgs& a) { return run_list(a); });

  auto pa = std::make_shared<PushArgs>();
  CLI::App* push = images->add_subcommand("push", "Push images from a verified bundle into a registry (resumable, skips what it has)");
  add_bundle_options(push, *pa);
  push->add_option("--registry", pa->registry, "Registry HOST:PORT")->required();
  push->add_option("--prefix", pa->prefix, "Repository prefix, e.g. site -> HOST/site/<name>");
  push->add_option("--ca", pa->ca, "CA certificate (PEM) that signed the registry's certificate");
  push->add_flag("--insecure", pa->insecure, "Plain http, no TLS (a registry on a trusted network only)");
  push->add_option("--user", pa->user, "User name for basic or token authentication");
  push->add_option("--password-file", pa->password_file, "File whose first line is the password");
  push->add_option("--only", pa->only, "Push one image: NAME or NAME:REF");
  push->add_option("--retries", pa->retries, "Attempts per request after the first (default 5; backoff doubles from 0.5 s)");
  push->add_option("--chunk", pa->chunk, "Upload chunk size (default 64M)");
  on_run(push, pa, ctx, [](const PushArgs& a) { return run_push(a); });

  auto ea = std::make_shared<ExportArgs>();
  CLI::App* exp = images->add_subcommand("export", "Write one image as a docker-archive (docker load) or oci-archive stream");
  add_bundle_options(exp, *ea);
  exp->add_option("ref", ea->ref, "The image: NAME or NAME:REF")->required();
  exp->add_option("--format", ea->format, "docker-archive (default) or oci");
  exp->add_option("-o,--output", ea->output, "Output file, or - for standard output")->required();
  exp->add_option("--platform", ea->platform, "os/arch[/variant] to export from a multi-platform image (default linux/amd64)");
  on_run(exp, ea, ctx, [](const ExportArgs& a) { return run_export(a); });
}

}  // namespace airlock::cli
