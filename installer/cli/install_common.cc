// What install, upgrade and rollback share (see install_common.h).
#include "installer/cli/install_common.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>

#include "bundle/verify.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/sha256.h"
#include "installer/cli/commands.h"
#include "installer/fleet/executor.h"
#include "installer/fleet/fleet_probe.h"
#include "installer/inventory/nodeset.h"

namespace airlock::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_run_id(const std::string& kind) {
  char buf[48];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", std::gmtime(&t));
  std::random_device rd;
  char tail[8];
  std::snprintf(tail, sizeof tail, "%04x", rd() & 0xffff);
  return kind + "-" + buf + "-" + tail;
}

Result<std::string> find_playbook(const std::string& given, const std::string& name) {
  if (!given.empty()) return given;
  std::vector<fs::path> dirs;
  if (const char* e = std::getenv("AIRLOCK_PLAYBOOKS"); e && *e) dirs.emplace_back(e);
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  dirs.push_back(self / "../share/airlock/playbooks");
  dirs.push_back(self / "../../playbooks");
  dirs.emplace_back(AIRLOCK_SOURCE_PLAYBOOKS);
  for (const auto& d : dirs) {
    if (fs::exists(d / name, ec)) return fs::weakly_canonical(d / name, ec).string();
  }
  return make_error(Errc::kNotFound, "playbook " + name + " not found beside " + self.string() +
                                         "; give --playbook FILE or set AIRLOCK_PLAYBOOKS");
}

Result<Verified> verify_and_extract(const BundleInput& a, const std::string& state_dir) {
  bundle::VerifyOptions vo;
  TRY_ASSIGN(vo.keys, load_public_keys(a.pubs));
  if (vo.keys.empty()) return make_error(Errc::kInvalidArgument, "give the bundle's public key(s) with --pub");
  vo.now = std::time(nullptr);
  vo.allow_expired = a.allow_expired;
  vo.progress = a.progress;
  TRY_ASSIGN(bundle::VerifyResult first, bundle::verify_bundle(a.bundle, vo));
  std::string dir = state_dir + "/bundles/" + std::string(digest_hex(first.manifest_digest));
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(state_dir + "/bundles", ec);
    vo.extract_to = dir;
    auto second = bundle::verify_bundle(a.bundle, vo);
    if (!second.ok()) return second.error().wrap("extracting " + a.bundle);
  }
  Verified v{first.manifest, {}};
  for (const auto& c : v.manifest.components) {
    if (!bundle::is_file_component(c.type) || !c.blob) continue;
    std::string digest = c.content ? c.content->digest : c.blob->digest;
    for (const auto& e : fs::directory_iterator(dir + "/components/" + c.name, ec)) {
      v.content[digest] = e.path().string();
    }
  }
  return v;
}

Status probe_for_run(transport::TransportFactory& sessions, const std::vector<const inventory::Host*>& hosts,
                     const std::string& node_bin, const std::string& node_sha_hex, fleet::StateDb& db, int fanout,
                     bool display, const std::string& run_kind) {
  fleet::ProbeOptions po;
  po.node_binary = node_bin;
  po.node_binary_sha256 = node_sha_hex;
  po.run_id = "probe-for-" + new_run_id(run_kind);
  fleet::Executor ex(sessions, fanout);
  fleet::InterruptGuard guard(ex);
  std::vector<fleet::NodeProbe> probed;
  {
    fleet::CountsDisplay counts("probe", ex, display);
    probed = fleet::probe_fleet(ex, hosts, po, &db);
  }
  if (guard.interrupted()) return make_error(Errc::kCancelled, "interrupted while probing");
  std::vector<std::string> failed;
  for (const auto& p : probed) {
    if (!p.status.ok()) {
      failed.push_back(p.node);
      log::error(p.status.error().describe());
    }
  }
  if (!failed.empty()) {
    return make_error(Errc::kUnreachable, "could not probe " + inventory::fold_nodeset(failed) +
                                               "; fix them or leave them out with -w/-g");
  }
  return {};
}

Result<std::map<std::string, json>> latest_facts(fleet::StateDb& db) {
  TRY_ASSIGN(auto latest, db.latest_facts());
  std::map<std::string, json> facts;
  for (const auto& rec : latest) facts[rec.node] = json::parse(rec.facts_json, nullptr, false);
  return facts;
}

}  // namespace airlock::cli
