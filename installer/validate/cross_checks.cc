// Cross-node checks (see cross_checks.h).
#include "installer/validate/cross_checks.h"

#include <algorithm>
#include <functional>
#include <map>

#include "installer/validate/fact_path.h"
#include "installer/validate/node_ctx.h"

namespace airlock::validate {
namespace {

// What one node contributes to a comparison: (key, value) pairs compared per key across the
// scope ("" when the fact has one value per node), or why it could not.
struct Extracted {
  bool applicable = true;
  std::vector<std::pair<std::string, std::string>> kv;
  std::string missing;
  std::string evidence_path;  // fact path for the evidence line (key substituted by the caller)
};
using Extract = std::function<Extracted(const json&)>;

struct Scope {
  std::string label;
  std::vector<CrossInput*> nodes;
};

void add_finding(CrossInput& n, const std::string& id, Severity sev, std::string subject, std::string msg, std::vector<Evidence> ev) {
  n.out->findings.push_back(Finding{id, sev, std::move(subject), std::move(msg), std::move(ev)});
}

void add_not_checked(CrossInput& n, const std::string& id, const std::string& reason) {
  for (const auto& nc : n.out->not_checked) {
    if (nc.check == id) return;
  }
  n.out->not_checked.push_back(NotChecked{id, reason});
}

void mark_passed(CrossInput& n, const std::string& id) {
  for (const auto& f : n.out->findings) {
    if (f.check == id) return;
  }
  for (const auto& nc : n.out->not_checked) {
    if (nc.check == id) return;
  }
  if (std::find(n.out->passed.begin(), n.out->passed.end(), id) == n.out->passed.end()) n.out->passed.push_back(id);
}

void compare(const std::vector<Scope>& scopes, const std::string& id, Severity sev, const std::string& title,
             const std::string& fact, const Extract& extract, std::vector<Matrix>* matrices) {
  for (const Scope& s : scopes) {
    // key -> value -> nodes
    std::map<std::string, std::map<std::string, std::vector<CrossInput*>>> seen;
    std::map<CrossInput*, Extracted> got;
    for (CrossInput* n : s.nodes) {
      if (n->in->facts == nullptr) continue;
      Extracted e = extract(*n->in->facts);
      if (!e.applicable) continue;
      if (e.kv.empty()) {
        add_not_checked(*n, id, e.missing.empty() ? "missing fact " + fact : e.missing);
        continue;
      }
      for (const auto& [k, v] : e.kv) seen[k][v].push_back(n);
      got.emplace(n, std::move(e));
    }
    if (got.empty()) continue;
    Matrix m{id, title, fact, s.label, {}};
    std::set<CrossInput*> flagged;
    for (auto& [key, values] : seen) {
      size_t best = 0, total = 0, ties = 0;
      for (const auto& [v, ns] : values) {
        total += ns.size();
        if (ns.size() > best) {
          best = ns.size();
          ties = 1;
        } else if (ns.size() == best) {
          ++ties;
        }
      }
      std::string ref;
      for (const auto& [v, ns] : values) {
        if (ns.size() == best && ref.empty()) ref = v;
      }
      std::vector<MatrixRow> rows;
      for (const auto& [v, ns] : values) {
        bool outlier = values.size() > 1 && (ns.size() < best || ties > 1);
        MatrixRow row{key.empty() ? v : key + ": " + v, {}, outlier};
        for (CrossInput* n : ns) row.nodes.push_back(n->in->name);
        rows.push_back(std::move(row));
        if (!outlier) continue;
        for (CrossInput* n : ns) {
          std::string what = title + (key.empty() ? "" : " " + key);
          std::string msg = ties > 1 && ns.size() == best
                                ? what + ": " + v + " here; " + std::to_string(values.size()) + " values in " + s.label + ", none on most nodes"
                                : what + ": " + v + " here, " + ref + " on " + std::to_string(best) + " of " +
                                      std::to_string(total) + " nodes (" + s.label + ")";
          std::string path = got[n].evidence_path;
          if (size_t at = path.find("{}"); at != std::string::npos) path.replace(at, 2, key);
          add_finding(*n, id, sev, key, msg, {{path, v}});
          flagged.insert(n);
        }
      }
      std::stable_sort(rows.begin(), rows.end(), [](const MatrixRow& a, const MatrixRow& b) { return a.nodes.size() > b.nodes.size(); });
      for (auto& r : rows) m.rows.push_back(std::move(r));
    }
    for (auto& [n, e] : got) {
      if (!flagged.count(n)) mark_passed(*n, id);
    }
    matrices->push_back(std::move(m));
  }
}

const json* at(const json& f, const char* a, const char* b) {
  const json* x = child(f, a);
  return x ? child(*x, b) : nullptr;
}

bool has_nvidia(const json& f) {
  const json* g = child(f, "gpus");
  if (g == nullptr || !g->is_array()) return false;
  return std::any_of(g->begin(), g->end(), [](const json& x) { return str_of(x, "vendor", "") == "nvidia"; });
}

// One value from a plain fact path.
Extract single(const char* a, const char* b, std::function<bool(const json&)> applies = nullptr) {
  std::string path = std::string(a) + "." + b;
  return [=](const json& f) {
    Extracted e;
    if (applies && !applies(f)) {
      e.applicable = false;
      return e;
    }
    const json* v = at(f, a, b);
    e.evidence_path = path;
    if (v == nullptr || is_error(v) || v->is_null()) {
      e.missing = why_absent(v, path);
    } else {
      e.kv.emplace_back("", show(*v));
    }
    return e;
  };
}

}  // namespace

void run_cross_checks(std::vector<CrossInput>& nodes, const Rules& rules, const std::set<std::string>& ignored,
                      std::vector<Matrix>* matrices) {
  // The built-in checks' scopes: per profile, or all nodes.
  std::vector<Scope> scopes;
  if (rules.scope == "all") {
    scopes.push_back({"all nodes", {}});
    for (auto& n : nodes) scopes[0].nodes.push_back(&n);
  } else {
    std::map<std::string, size_t> idx;
    for (auto& n : nodes) {
      auto [it, added] = idx.emplace(n.profile, scopes.size());
      if (added) scopes.push_back({"profile " + n.profile, {}});
      scopes[it->second].nodes.push_back(&n);
    }
  }
  auto on = [&](const char* id) { return !ignored.count(id); };

  if (on("gpu.driver.mismatch")) {
    compare(scopes, "gpu.driver.mismatch", Severity::kFail, "NVIDIA driver", "gpu_driver.nvidia_version, nvidia_flavour",
            [](const json& f) {
              Extracted e;
              e.applicable = has_nvidia(f);
              e.evidence_path = "gpu_driver.nvidia_version";
              const json* v = at(f, "gpu_driver", "nvidia_version");
              const json* fl = at(f, "gpu_driver", "nvidia_flavour");
              if (v == nullptr || !v->is_string()) {
                e.missing = why_absent(v, "gpu_driver.nvidia_version");
              } else {
                e.kv.emplace_back("", show(*v) + (fl && fl->is_string() ? " (" + show(*fl) + ")" : ""));
              }
              return e;
            },
            matrices);
  }
  if (on("kernel.mismatch")) {
    compare(scopes, "kernel.mismatch", Severity::kWarn, "Kernel", "host.kernel_release", single("host", "kernel_release"), matrices);
  }
  if (on("firmware.mismatch")) {
    compare(scopes, "firmware.mismatch", Severity::kWarn, "GPU VBIOS", "gpus[*].information.Video BIOS (per model)",
            [](const json& f) {
              Extracted e;
              e.applicable = has_nvidia(f);
              e.evidence_path = "gpus[*].information.Video BIOS";
              if (!e.applicable) return e;
              std::map<std::string, std::set<std::string>> per_model;
              for (const auto& g : f["gpus"]) {
                const json* info = child(g, "information");
                const json* vb = info ? child(*info, "Video BIOS") : nullptr;
                if (vb && vb->is_string()) per_model[str_of(g, "model", str_of(g, "device", "?"))].insert(vb->get<std::string>());
              }
              for (const auto& [model, vs] : per_model) e.kv.emplace_back(model, join(std::vector<std::string>(vs.begin(), vs.end())));
              if (e.kv.empty()) e.missing = "missing fact gpus[].information.Video BIOS (NVIDIA driver not loaded?)";
              return e;
            },
            matrices);
    compare(scopes, "firmware.mismatch", Severity::kWarn, "BIOS", "host.dmi.bios_version (per product)",
            [](const json& f) {
              Extracted e;
              const json* dmi = at(f, "host", "dmi");
              const json* v = dmi ? child(*dmi, "bios_version") : nullptr;
              const json* prod = dmi ? child(*dmi, "product_name") : nullptr;
              e.evidence_path = "host.dmi.bios_version";
              if (v == nullptr || !v->is_string()) {
                e.missing = why_absent(v, "host.dmi.bios_version");
              } else {
                e.kv.emplace_back(prod && prod->is_string() ? prod->get<std::string>() : "", v->get<std::string>());
              }
              return e;
            },
            matrices);
  }
  if (on("rdma.fw.mismatch")) {
    compare(scopes, "rdma.fw.mismatch", Severity::kWarn, "HCA firmware", "rdma[*].fw_ver, board_id (per HCA type)",
            [](const json& f) {
              Extracted e;
              const json* r = child(f, "rdma");
              e.applicable = r != nullptr && r->is_array() && !r->empty();
              e.evidence_path = "rdma[*].fw_ver";
              if (!e.applicable) return e;
              std::map<std::string, std::set<std::string>> per_type;
              for (const auto& d : *r) {
                const json* fw = child(d, "fw_ver");
                if (fw == nullptr || !fw->is_string()) continue;
                std::string psid = d.contains("board_id") && d["board_id"].is_string() ? " " + d["board_id"].get<std::string>() : "";
                per_type[str_of(d, "hca_type", "?")].insert(fw->get<std::string>() + psid);
              }
              for (const auto& [t, vs] : per_type) e.kv.emplace_back(t, join(std::vector<std::string>(vs.begin(), vs.end())));
              if (e.kv.empty()) e.missing = "missing fact rdma[].fw_ver";
              return e;
            },
            matrices);
  }
  if (on("rdma.ofed.mismatch")) {
    compare(scopes, "rdma.ofed.mismatch", Severity::kWarn, "OFED", "ofed_version",
            [](const json& f) {
              Extracted e;
              const json* r = child(f, "rdma");
              e.applicable = r != nullptr && r->is_array() && !r->empty();
              e.evidence_path = "ofed_version";
              const json* v = child(f, "ofed_version");
              if (v == nullptr || is_error(v)) {
                e.missing = why_absent(v, "ofed_version") + " (ofed_info is not collected)";
              } else {
                e.kv.emplace_back("", show(*v));
              }
              return e;
            },
            matrices);
  }
  if (on("accel.model.heterogeneous")) {
    compare(scopes, "accel.model.heterogeneous", Severity::kWarn, "Accelerators", "gpus[*].model, accelerators[*].family (count x model)",
            [](const json& f) {
              Extracted e;
              e.evidence_path = "gpus, accelerators";
              std::map<std::string, int> models;
              const json* g = child(f, "gpus");
              if (g == nullptr || !g->is_array()) {
                e.missing = why_absent(g, "gpus");
                return e;
              }
              for (const auto& x : *g) ++models[str_of(x, "vendor", "") + " " + (x.contains("model") && x["model"].is_string() ? x["model"].get<std::string>() : str_of(x, "device", "?"))];
              if (const json* a = child(f, "accelerators"); a && a->is_array()) {
                for (const auto& x : *a) {
                  if (!bool_of(x, "is_vf", false)) ++models[str_of(x, "vendor", "") + " " + str_of(x, "family", "?")];
                }
              }
              e.applicable = !models.empty();
              std::string v;
              for (const auto& [m, n] : models) v += (v.empty() ? "" : " + ") + std::to_string(n) + " x " + m;
              e.kv.emplace_back("", v);
              return e;
            },
            matrices);
  }
  if (on("rdma.port.link_layer")) {
    compare(scopes, "rdma.port.link_layer", Severity::kFail, "RDMA link layer", "rdma[*].ports[*].link_layer (per rail)",
            [](const json& f) {
              Extracted e;
              const json* r = child(f, "rdma");
              e.applicable = r != nullptr && r->is_array() && !r->empty();
              e.evidence_path = "rdma[{}].link_layer";
              if (!e.applicable) return e;
              for (const auto& d : *r) {
                const json* ports = child(d, "ports");
                if (ports == nullptr || !ports->is_array()) continue;
                for (const auto& p : *ports) {
                  if (p.contains("link_layer")) e.kv.emplace_back(str_of(d, "name", "?") + "/" + show(p.value("port", json(1))), show(p["link_layer"]));
                }
              }
              if (e.kv.empty()) e.missing = "missing fact rdma[].ports[].link_layer";
              return e;
            },
            matrices);
  }
  if (on("net.mtu.mismatch") || on("net.mtu")) {
    // Fabrics from the rules: required MTU, or identical across the scope. Without fabrics,
    // each physical interface name is compared across the scope.
    auto iface_mtu = [](const json& f, const Fabric* fab) {
      Extracted e;
      e.evidence_path = "net[{}].mtu";
      const json* net = child(f, "net");
      if (net == nullptr || !net->is_array()) {
        e.missing = why_absent(net, "net");
        return e;
      }
      for (const auto& n : *net) {
        std::string name = str_of(n, "name", "");
        if (!bool_of(n, "physical", false) || !n.contains("mtu") || !n["mtu"].is_number()) continue;
        if (fab && std::none_of(fab->interfaces.begin(), fab->interfaces.end(), [&](const std::string& g) { return glob_match(g, name); })) continue;
        e.kv.emplace_back(name, show(n["mtu"]));
      }
      e.applicable = !e.kv.empty() || fab == nullptr;
      if (e.kv.empty()) e.missing = "net: no physical interface";
      return e;
    };
    if (rules.fabrics.empty()) {
      if (on("net.mtu.mismatch")) {
        compare(scopes, "net.mtu.mismatch", Severity::kFail, "MTU", "net[*].mtu (per interface)",
                [&](const json& f) { return iface_mtu(f, nullptr); }, matrices);
      }
    }
    for (const Fabric& fab : rules.fabrics) {
      if (fab.mtu && on("net.mtu")) {
        for (auto& n : nodes) {
          if (n.in->facts == nullptr) continue;
          Extracted e = iface_mtu(*n.in->facts, &fab);
          for (const auto& [name, mtu] : e.kv) {
            if (mtu != std::to_string(*fab.mtu)) {
              add_finding(n, "net.mtu", Severity::kFail, name, "interface " + name + " (fabric " + fab.name + ") has MTU " + mtu +
                                                                  ", the fabric requires " + std::to_string(*fab.mtu),
                          {{"net[" + name + "].mtu", std::stoll(mtu)}});
            }
          }
          if (!e.kv.empty()) mark_passed(n, "net.mtu");
        }
      }
      if (on("net.mtu.mismatch")) {
        compare(scopes, "net.mtu.mismatch", Severity::kFail, "MTU (fabric " + fab.name + ")", "net[*].mtu (" + join(fab.interfaces) + ")",
                [&](const json& f) { return iface_mtu(f, &fab); }, matrices);
      }
    }
  }
  // User-defined identical facts.
  for (const IdenticalRule& r : rules.identical) {
    if (ignored.count(r.id)) continue;
    std::vector<Scope> own;
    if (r.scope.empty()) {
      own = scopes;
    } else {
      own.push_back({r.scope, {}});
      for (auto& n : nodes) {
        if (selector_matches(r.scope, n.in->roles, n.in->groups, n.in->labels)) own[0].nodes.push_back(&n);
      }
    }
    for (const std::string& text : r.facts) {
      std::string why;
      auto path = FactPath::parse(text, &why);
      if (!path) continue;
      compare(own, r.id, r.severity, text, text,
              [&](const json& f) {
                Extracted e;
                e.evidence_path = text;
                auto vs = path->values(f, &e.missing);
                if (!vs.empty()) e.kv.emplace_back("", join(vs));
                return e;
              },
              matrices);
    }
  }
  // 44: clock skew, from the state database's estimate.
  if (on("time.skew")) {
    for (auto& n : nodes) {
      if (n.in->facts == nullptr) continue;
      if (!n.in->has_skew) {
        add_not_checked(n, "time.skew", "no clock reading: facts read from " + (n.in->source.empty() ? "a file" : n.in->source) +
                                            " carry no installer timestamp (use the state database)");
        continue;
      }
      int64_t off = std::llabs(n.in->skew_ns) - std::llabs(n.in->skew_error_ns);
      if (off > rules.clock_skew_max_ns) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "clock off by %.0f ms (+/- %.0f ms), limit %.0f ms", n.in->skew_ns / 1e6,
                      n.in->skew_error_ns / 1e6, rules.clock_skew_max_ns / 1e6);
        add_finding(n, "time.skew", Severity::kFail, "", msg, {{"skew_ns", n.in->skew_ns}, {"skew_error_ns", n.in->skew_error_ns}});
      } else {
        mark_passed(n, "time.skew");
      }
    }
  }
}

}  // namespace airlock::validate
