// What a per-node check works with: the node's facts with indexes built once (PCI functions by
// address, which of them are GPUs, accelerators, NICs and HCAs), its profile, and the
// recorder for findings, checks evaluated and checks that could not be evaluated (with why).
// Internal to installer/validate.
#pragma once

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "installer/validate/fact_path.h"
#include "installer/validate/report.h"

namespace airlock::validate {

struct NodeFacts {
  explicit NodeFacts(const json& facts);
  const json& f;
  std::unordered_map<std::string, const json*> pci;  // bdf -> PciDevice
  std::vector<const json*> gpus;          // gpus[] entries (empty when the section is an error)
  std::vector<const json*> nvidia_gpus;   // vendor nvidia
  std::vector<const json*> accels;        // accelerators[] entries
  std::vector<const json*> hcas;          // rdma[] entries that are the fabric (not Gaudi/EFA)
  std::set<std::string> loaded_modules;   // host.modules
  bool modules_known = false;

  const json* pci_of(const std::string& bdf) const;
  // A PCI function's label for messages: "NVIDIA GPU 10de:2330", "NIC 8086:37d2 (i40e)".
  std::string describe(const std::string& bdf) const;
  int num_numa_nodes() const;
};

class NodeCtx {
 public:
  NodeCtx(const NodeFacts& nf, const Profile& p, const std::set<std::string>& ignored, NodeResult* out)
      : facts(nf), f(nf.f), profile(p), ignored_(ignored), out_(out) {}

  const NodeFacts& facts;
  const json& f;
  const Profile& profile;

  bool on(const std::string& id) const { return ignored_.count(id) == 0; }
  void evaluated(const std::string& id) { evaluated_.insert(id); }
  void finding(const std::string& id, std::string subject, std::string message, std::vector<Evidence> evidence);
  // Same, with a severity other than the catalog's (user-defined rules).
  void finding(const std::string& id, Severity sev, std::string subject, std::string message,
               std::vector<Evidence> evidence);
  // The check (or a part of it) could not be evaluated. Several reasons for one check are kept
  // as the first one plus a count.
  void not_checked(const std::string& id, const std::string& reason);
  // "not configured: <what> (profile P)".
  void not_configured(const std::string& id, const std::string& what);

  // Moves the outcome into the NodeResult: findings sorted blocking-first, passed ids.
  void finish();

 private:
  const std::set<std::string>& ignored_;
  NodeResult* out_;
  std::set<std::string> evaluated_;
  std::unordered_map<std::string, size_t> nc_index_;  // id -> position in out_->not_checked
  std::unordered_map<std::string, size_t> nc_more_;   // id -> further reasons
};

// The checks, by area (node_checks_*.cc). Each runs its checks that are not ignored.
void check_facts_health(NodeCtx& c);
void check_accelerators(NodeCtx& c);
void check_gpu_software(NodeCtx& c);
void check_pcie(NodeCtx& c);
void check_topology(NodeCtx& c);
void check_rdma(NodeCtx& c);
void check_net(NodeCtx& c);
void check_host(NodeCtx& c);
void check_storage(NodeCtx& c);

// Helpers shared by the check files.
bool glob_match(const std::string& pattern, const std::string& text);
// "16.0 GT/s PCIe" / "8 GT/s" / "2.5 GT/s" -> GT/s; 0 when unknown.
double parse_gts(const json* v);
// Kernel version as numbers: "5.15.0-113-generic" -> {5, 15, 0, 113}.
std::vector<long> version_numbers(const std::string& v);
std::string fmt_bytes(uint64_t b);

}  // namespace airlock::validate
