// `airlock probe --local`: the facts of the installer's own machine (or a captured tree with
// --root) as a readable summary, or the full airlock.facts/v1 JSON with --json.
// `airlock probe -i INVENTORY`: every selected node, facts stored in the state database, and a
// fleet summary (installer/fleet/fleet_probe.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "common/encoding.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/system_root.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/cli/fleet_options.h"
#include "installer/fleet/fleet_probe.h"
#include "probes/collect.h"

namespace airlock::cli {
namespace {

struct ProbeArgs {
  FleetArgs fleet;
  std::string state;        // state database; default StateDb::default_path()
  std::string node_binary;  // airlock-node to send; default: next to this airlock
  int timeout_s = 60;
  bool local = false;
  std::string root;
  bool json = false;
  bool quiet = false;
};

// A fact's value as text, or its reason in brackets ("[ENOENT]").
std::string text(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_object() && v.contains("error")) return "[" + v["error"].get<std::string>() + "]";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string os_name(const nlohmann::json& host) {
  const auto& os = host.value("os_release", nlohmann::json());
  if (os.is_object() && os.contains("PRETTY_NAME") && os["PRETTY_NAME"].is_string()) return os["PRETTY_NAME"];
  return text(os);
}

void section(const char* title) { std::printf("\n%s\n", title); }

void render(const nlohmann::json& f) {
  const auto& host = f["host"];
  const auto& cm = f["cpu_memory"];
  std::printf("host      %s, kernel %s, %s\n", os_name(host).c_str(), text(host["kernel_release"]).c_str(),
              text(host["virtualization"]).c_str());
  std::printf("cpu       %s, %s logical CPUs, %s socket(s), %zu NUMA node(s)\n", text(cm["cpu_model"]).c_str(),
              text(cm["logical_cpus"]).c_str(), text(cm["sockets"]).c_str(),
              cm["numa_nodes"].is_array() ? cm["numa_nodes"].size() : 0);
  if (cm["mem_total_bytes"].is_number()) {
    std::printf("memory    %s total, %s available\n", human_bytes(cm["mem_total_bytes"].get<uint64_t>()).c_str(),
                cm["mem_available_bytes"].is_number() ? human_bytes(cm["mem_available_bytes"].get<uint64_t>()).c_str() : "?");
  }

  section("GPUs");
  if (!f["gpus"].is_array() || f["gpus"].empty()) {
    std::printf("  none%s\n", f["gpus"].is_object() ? (" " + text(f["gpus"])).c_str() : "");
  } else {
    const auto& drv = f["gpu_driver"];
    for (const auto& g : f["gpus"]) {
      std::printf("  %-14s %-8s %-32s driver %-10s found by %s\n", g.value("bdf", "").c_str(), g.value("vendor", "").c_str(),
                  text(g["model"]).c_str(), text(g["driver"]).c_str(), g.value("found_by", "").c_str());
    }
    std::printf("  NVIDIA driver %s (%s)\n", text(drv["nvidia_version"]).c_str(), text(drv["nvidia_flavour"]).c_str());
  }
  section("Accelerators");
  if (f["accelerators"].empty()) std::printf("  none\n");
  for (const auto& a : f["accelerators"]) {
    std::printf("  %-14s %-12s %-24s driver %s\n", a.value("bdf", "").c_str(), a.value("vendor", "").c_str(),
                a.value("family", "").c_str(), text(a["driver"]).c_str());
  }
  section("RDMA ports");
  if (!f["rdma"].is_array()) {
    std::printf("  none %s\n", text(f["rdma"]).c_str());
  } else {
    for (const auto& d : f["rdma"]) {
      if (!d["ports"].is_array()) continue;
      for (const auto& p : d["ports"]) {
        std::printf("  %s/%s  %-10s %-12s %-22s %s  (PCI %s)\n", d.value("name", "").c_str(), text(p["port"]).c_str(),
                    text(p["state"]).c_str(), text(p["phys_state"]).c_str(), text(p["rate"]).c_str(),
                    text(p["link_layer"]).c_str(), text(d["pci_bdf"]).c_str());
      }
    }
  }
  section("Degraded PCIe links");
  int degraded = 0;
  if (f["pci"].is_array()) {
    for (const auto& p : f["pci"]) {
      const auto& l = p["link"];
      if (!l.is_object() || !l.value("degraded", false)) continue;
      ++degraded;
      std::printf("  %s %s:%s  %s x%s, capable of %s x%s\n", p.value("bdf", "").c_str(), text(p["vendor"]).c_str(),
                  text(p["device"]).c_str(), text(l["current_speed"]).c_str(), text(l["current_width"]).c_str(),
                  text(l["max_speed"]).c_str(), text(l["max_width"]).c_str());
    }
  }
  if (degraded == 0) std::printf("  none\n");
  section("Network interfaces");
  if (f["net"].is_array()) {
    for (const auto& n : f["net"]) {
      if (!n.value("physical", false)) continue;
      std::printf("  %-12s %-6s speed %-8s mtu %-6s driver %s\n", n.value("name", "").c_str(), text(n["operstate"]).c_str(),
                  text(n["speed_mbps"]).c_str(), text(n["mtu"]).c_str(), text(n["driver"]).c_str());
    }
  }
  section("Block devices");
  if (f["block"].is_array()) {
    for (const auto& b : f["block"]) {
      std::string size = b["size_bytes"].is_number() ? human_bytes(b["size_bytes"].get<uint64_t>()) : text(b["size_bytes"]);
      std::printf("  %-10s %10s  %s\n", b.value("name", "").c_str(), size.c_str(), text(b["model"]).c_str());
    }
  }
  section("Network and parallel filesystems");
  int shared = 0;
  if (f["mounts"].is_array()) {
    for (const auto& m : f["mounts"]) {
      if (m.value("kind", "") != "network" && m.value("kind", "") != "parallel") continue;
      ++shared;
      std::printf("  %-24s %-8s %s\n", m.value("mount_point", "").c_str(), m.value("fs_type", "").c_str(),
                  m.value("source", "").c_str());
    }
  }
  if (shared == 0) std::printf("  none\n");
}

std::string run_id_now() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "probe-%Y%m%dT%H%M%SZ", std::gmtime(&t));
  return buf;
}

int run_fleet_probe(const ProbeArgs& a) {
  auto fail = [&](const Error& e) { return report_error(e, a.json); };
  auto bin = find_node_binary(a.node_binary);
  if (!bin.ok()) return fail(bin.error());
  auto digest = sha256_file(*bin);
  if (!digest.ok()) return fail(digest.error().wrap("airlock-node " + *bin));
  auto opened = open_fleet(a.fleet);
  if (!opened.ok()) return fail(opened.error());
  auto& fl = **opened;
  std::string state_path = a.state.empty() ? fleet::StateDb::default_path() : a.state;
  auto db = fleet::StateDb::open(state_path);
  if (!db.ok()) return fail(db.error());

  fleet::ProbeOptions o;
  o.node_binary = *bin;
  o.node_binary_sha256 = std::string(digest_hex(*digest));
  o.probe_timeout = std::chrono::seconds(a.timeout_s);
  o.run_id = run_id_now();
  fleet::Executor ex(*fl.factory, a.fleet.fanout);
  fleet::InterruptGuard guard(ex);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<fleet::NodeProbe> nodes;
  {
    fleet::CountsDisplay display("probe", ex, !a.quiet && !a.json);
    nodes = fleet::probe_fleet(ex, fl.hosts, o, db->get(), [&](const fleet::NodeProbe& p) {
      if (!a.json) return;
      nlohmann::json j = {{"type", "node"}, {"node", p.node}, {"ok", p.status.ok()}};
      if (p.status.ok()) {
        j["skew_ms"] = p.record.skew_ns / 1e6;
        j["skew_error_ms"] = p.record.skew_error_ns / 1e6;
        j["bytes_sent"] = p.bytes_sent;
      } else {
        j["error"] = {{"kind", errc_name(p.status.error().root_code())}, {"message", p.status.error().describe()}};
      }
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    });
  }
  auto wall = std::chrono::steady_clock::now() - t0;
  if (a.json) {
    nlohmann::json s = fleet::probe_summary_json(nodes, wall);
    s["type"] = "summary";
    s["run"] = o.run_id;
    s["state"] = state_path;
    std::printf("%s\n", s.dump().c_str());
  } else {
    std::fputs(fleet::render_probe_summary(nodes, wall).c_str(), stdout);
    log::info("facts stored in " + state_path + " (run " + o.run_id + ")");
  }
  if (guard.interrupted()) return 130;
  for (const auto& n : nodes) {
    if (!n.status.ok()) return kExitEnvironment;
  }
  return 0;
}


Status run_probe(const ProbeArgs& a) {
  if (!a.local && a.root.empty()) {
    return make_error(Errc::kInvalidArgument, "give -i INVENTORY (the fleet), --local (this machine) or --root DIR "
                                              "(a captured tree)");
  }
  std::unique_ptr<SystemRoot> root;
  if (a.root.empty()) {
    root = std::make_unique<HostRoot>();
  } else {
    root = std::make_unique<DirRoot>(a.root);
  }
  probes::CollectOptions opts;
  opts.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  opts.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  nlohmann::json facts = probes::collect(*root, opts);
  if (a.json) {
    std::printf("%s\n", facts.dump(2).c_str());
  } else {
    render(facts);
  }
  return {};
}

}  // namespace

void register_probe(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ProbeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "probe",
      "Hardware facts: GPUs, accelerators, RDMA ports, PCIe links, storage.\n"
      "With -i: every selected node over SSH (airlock-node is sent once, by digest), facts stored in the\n"
      "state database, a fleet summary printed. Exit 3 when some node could not be probed.");
  add_fleet_options(cmd, args->fleet, false);
  cmd->add_option("--state", args->state, "State database (default: ~/.local/state/airlock/state.db)");
  cmd->add_option("--node-binary", args->node_binary, "airlock-node to send (default: the one next to airlock)");
  cmd->add_option("--timeout", args->timeout_s, "Seconds the probe may take on each node")->default_val(60);
  cmd->add_flag("--local", args->local, "Probe this machine");
  cmd->add_option("--root", args->root, "Probe a captured tree (as written by airlock-node capture) instead");
  cmd->add_flag("--json", args->json, "Print the airlock.facts/v1 JSON document");
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors");
  cmd->callback([args, &ctx] {
    apply_verbosity(ctx, args->quiet || args->json);
    if (!args->fleet.inventory.empty()) {
      ctx.exit_code = run_fleet_probe(*args);
      return;
    }
    auto st = run_probe(*args);
    ctx.exit_code = st.ok() ? 0 : report_error(st.error(), args->json);
  });
}

}  // namespace airlock::cli
