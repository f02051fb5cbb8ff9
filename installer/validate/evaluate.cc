// The evaluator: facts per node + inventory attributes + rules -> Report. Per-node checks run
// on worker threads (each node is independent and writes only its own NodeResult), then the
// cross-node checks, then each node's status. Pure: no I/O, no clock.
#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "installer/validate/cross_checks.h"
#include "installer/validate/node_ctx.h"
#include "installer/validate/report.h"

namespace airlock::validate {
namespace {

std::string text_of(const json& f, const char* a, const char* b) {
  const json* x = child(f, a);
  const json* v = x ? child(*x, b) : nullptr;
  if (v == nullptr) return "-";
  if (is_error(v)) return "[" + show((*v)["error"]) + "]";
  return show(*v);
}

std::vector<std::pair<std::string, std::string>> identity(const NodeFacts& nf) {
  const json& f = nf.f;
  std::vector<std::pair<std::string, std::string>> id;
  const json* os = child(f, "host") ? child(f["host"], "os_release") : nullptr;
  id.emplace_back("os", os && os->is_object() && os->contains("PRETTY_NAME") ? show((*os)["PRETTY_NAME"]) : "-");
  id.emplace_back("kernel", text_of(f, "host", "kernel_release"));
  const json* dmi = child(f, "host") ? child(f["host"], "dmi") : nullptr;
  if (dmi && dmi->is_object()) {
    std::string v = dmi->contains("sys_vendor") && (*dmi)["sys_vendor"].is_string() ? (*dmi)["sys_vendor"].get<std::string>() : "";
    std::string p = dmi->contains("product_name") && (*dmi)["product_name"].is_string() ? (*dmi)["product_name"].get<std::string>() : "";
    id.emplace_back("system", (v + " " + p).empty() || (v + p).empty() ? "-" : v + " " + p);
  }
  std::string cpu = text_of(f, "cpu_memory", "cpu_model") + ", " + text_of(f, "cpu_memory", "logical_cpus") + " CPUs";
  id.emplace_back("cpu", cpu);
  const json* mem = child(f, "cpu_memory") ? child(f["cpu_memory"], "mem_total_bytes") : nullptr;
  id.emplace_back("memory", mem && mem->is_number() ? fmt_bytes(mem->get<uint64_t>()) : "-");
  std::map<std::string, int> acc;
  for (const json* g : nf.gpus) {
    const json* m = child(*g, "model");
    ++acc[m && m->is_string() ? m->get<std::string>() : str_of(*g, "vendor", "") + " " + str_of(*g, "device", "")];
  }
  for (const json* a : nf.accels) ++acc[str_of(*a, "vendor", "") + " " + str_of(*a, "family", "")];
  std::string accs;
  for (const auto& [m, n] : acc) accs += (accs.empty() ? "" : ", ") + std::to_string(n) + " x " + m;
  id.emplace_back("accelerators", accs.empty() ? "none" : accs);
  if (!nf.nvidia_gpus.empty()) id.emplace_back("nvidia driver", text_of(f, "gpu_driver", "nvidia_version"));
  std::map<std::string, int> hcas;
  for (const json* h : nf.hcas) {
    std::string rate;
    if (const json* ports = child(*h, "ports"); ports && ports->is_array() && !ports->empty()) rate = " " + str_of((*ports)[0], "rate");
    ++hcas[str_of(*h, "hca_type", "?") + rate];
  }
  std::string hs;
  for (const auto& [m, n] : hcas) hs += (hs.empty() ? "" : ", ") + std::to_string(n) + " x " + m;
  if (!hs.empty()) id.emplace_back("rdma", hs);
  return id;
}

void evaluate_node(const NodeInput& in, const Rules& rules, const std::set<std::string>& ignored, NodeResult* r) {
  Profile p = profile_for(rules, in.name, in.roles, in.groups, in.labels);
  r->name = in.name;
  r->profile = p.name;
  r->roles = in.roles;
  r->source = in.source;
  if (in.facts == nullptr) {
    bool invalid = !in.load_error.empty();
    const char* id = invalid ? "facts.invalid" : "facts.missing";
    if (!ignored.count(id)) {
      r->findings.push_back(Finding{id, Severity::kFail, "",
                                    invalid ? in.load_error : "no facts for this node: run `airlock probe -i INVENTORY` first",
                                    {}});
    }
    r->not_checked.push_back(NotChecked{"*", invalid ? "facts unreadable" : "no facts"});
    return;
  }
  const json* schema = child(*in.facts, "schema");
  if (schema == nullptr || !schema->is_string() || schema->get<std::string>() != "airlock.facts/v1") {
    if (!ignored.count("facts.invalid")) {
      r->findings.push_back(Finding{"facts.invalid", Severity::kFail, "",
                                    "not airlock.facts/v1 facts (schema " + (schema ? show(*schema) : std::string("missing")) + ")",
                                    {{"schema", schema ? *schema : json()}}});
    }
    r->not_checked.push_back(NotChecked{"*", "facts of an unknown schema"});
    return;
  }
  NodeFacts nf(*in.facts);
  NodeCtx c(nf, p, ignored, r);
  check_facts_health(c);
  check_accelerators(c);
  check_gpu_software(c);
  check_pcie(c);
  check_topology(c);
  check_rdma(c);
  check_net(c);
  check_host(c);
  check_storage(c);
  c.finish();
  r->identity = identity(nf);
}

Status worst(const NodeResult& r, bool enforce) {
  Status s = Status::kPass;
  for (const auto& f : r.findings) {
    Status fs = f.severity == Severity::kFail ? Status::kFail
                : f.severity == Severity::kWarn ? (enforce ? Status::kFail : Status::kWarn)
                                                : Status::kInfo;
    s = std::max(s, fs);
  }
  return s;
}

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::kPass: return "pass";
    case Status::kInfo: return "info";
    case Status::kWarn: return "warn";
    case Status::kFail: return "fail";
  }
  return "fail";
}

Report::Counts Report::counts() const {
  Counts c;
  c.nodes = nodes.size();
  for (const auto& n : nodes) {
    switch (n.status) {
      case Status::kPass: ++c.pass; break;
      case Status::kInfo: ++c.info; break;
      case Status::kWarn: ++c.warn; break;
      case Status::kFail: ++c.fail; break;
    }
    for (const auto& f : n.findings) {
      (f.severity == Severity::kFail ? c.findings_fail : f.severity == Severity::kWarn ? c.findings_warn : c.findings_info)++;
    }
    c.not_checked += n.not_checked.size();
  }
  return c;
}

int Report::exit_code() const {
  Counts c = counts();
  if (c.fail > 0) return 2;
  if (c.warn > 0) return 1;
  return 0;
}

Report evaluate(const std::vector<NodeInput>& nodes, const Rules& rules, const Options& opts) {
  Report rep;
  rep.rules_source = rules.source;
  rep.enforce_warnings = opts.enforce_warnings;
  rep.generated_at_ns = opts.now_ns;
  std::set<std::string> ignored(rules.ignore.begin(), rules.ignore.end());
  ignored.insert(opts.ignore.begin(), opts.ignore.end());
  rep.ignored.assign(ignored.begin(), ignored.end());
  for (const auto& c : catalog()) {
    if (!ignored.count(c.id)) rep.check_ids.push_back(c.id);
  }
  for (const auto& r : rules.identical) {
    if (!ignored.count(r.id)) rep.check_ids.push_back(r.id);
  }

  rep.nodes.resize(nodes.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < nodes.size(); i = next++) evaluate_node(nodes[i], rules, ignored, &rep.nodes[i]);
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), (nodes.size() + 63) / 64);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  std::vector<CrossInput> cross;
  for (size_t i = 0; i < nodes.size(); ++i) cross.push_back(CrossInput{&nodes[i], &rep.nodes[i], rep.nodes[i].profile});
  run_cross_checks(cross, rules, ignored, &rep.matrices);

  for (auto& n : rep.nodes) {
    std::stable_sort(n.findings.begin(), n.findings.end(), [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
    std::set<std::string> with;
    for (const auto& f : n.findings) with.insert(f.check);
    for (const auto& nc : n.not_checked) with.insert(nc.check);
    n.passed.erase(std::remove_if(n.passed.begin(), n.passed.end(), [&](const std::string& id) { return with.count(id) > 0; }),
                   n.passed.end());
    std::sort(n.passed.begin(), n.passed.end());
    n.status = worst(n, opts.enforce_warnings);
  }
  return rep;
}

}  // namespace airlock::validate
