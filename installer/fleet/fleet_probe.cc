// The fleet-wide probe and its summary (see fleet_probe.h).
#include "installer/fleet/fleet_probe.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "common/encoding.h"
#include "installer/fleet/gather.h"
#include "installer/inventory/nodeset.h"

namespace airlock::fleet {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string first_line(const std::string& s) {
  auto end = s.find('\n');
  std::string l = s.substr(0, end);
  return l.size() > 300 ? l.substr(0, 300) + "..." : l;
}

std::string remote_dir_for(const inventory::Host& h, const ProbeOptions& o) {
  if (h.vars.is_object() && h.vars.contains("airlock_bin_dir") && h.vars["airlock_bin_dir"].is_string()) {
    return h.vars["airlock_bin_dir"].get<std::string>();
  }
  if (h.vars.is_object() && h.vars.contains("airlock_prefix") && h.vars["airlock_prefix"].is_string()) {
    return h.vars["airlock_prefix"].get<std::string>() + o.remote_dir;  // the install's layout under its prefix
  }
  return o.remote_dir;
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_object() && v.contains("error")) return "";
  return v.dump();
}

// "key" -> nodes that have it, with a count per node: folds into "8x on node[001-004]".
struct Tally {
  std::map<std::string, std::map<std::string, int>> by_key;  // key -> node -> count
  void add(const std::string& key, const std::string& node, int n = 1) { by_key[key][node] += n; }
};

std::vector<std::string> tally_lines(const Tally& t) {
  std::vector<std::string> lines;
  for (const auto& [key, nodes] : t.by_key) {
    std::map<int, std::vector<std::string>> by_count;
    int total = 0;
    for (const auto& [node, n] : nodes) {
      by_count[n].push_back(node);
      total += n;
    }
    std::string l = key + ": " + std::to_string(total) + " (";
    bool first = true;
    for (const auto& [n, list] : by_count) {
      if (!first) l += "; ";
      first = false;
      l += std::to_string(n) + " on " + inventory::fold_nodeset(list);
    }
    lines.push_back(l + ")");
  }
  return lines;
}

void tally_node(const NodeProbe& p, Tally& accel, Tally& rdma) {
  const auto& f = p.facts;
  if (f.contains("gpus") && f["gpus"].is_array()) {
    for (const auto& g : f["gpus"]) {
      std::string model = str(g, "model");
      accel.add("GPU " + str(g, "vendor") + " " + (model.empty() ? "unknown model" : model), p.node);
    }
  }
  if (f.contains("accelerators") && f["accelerators"].is_array()) {
    for (const auto& a : f["accelerators"]) accel.add(str(a, "vendor") + " " + str(a, "family"), p.node);
  }
  if (f.contains("rdma") && f["rdma"].is_array()) {
    for (const auto& d : f["rdma"]) {
      if (!d.contains("ports") || !d["ports"].is_array()) continue;
      for (const auto& port : d["ports"]) {
        std::string key = str(port, "state");
        std::string rate = str(port, "rate");
        if (!rate.empty()) key += ", " + rate;
        std::string ll = str(port, "link_layer");
        if (!ll.empty()) key += ", " + ll;
        rdma.add(key, p.node);
      }
    }
  }
}

}  // namespace

Result<nlohmann::json> parse_node_facts(const std::string& node, const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::kParse, node + ": airlock-node probe printed something that is not a JSON object: " +
                                        first_line(text));
  }
  if (j.value("schema", "") != "airlock.facts/v1") {
    return make_error(Errc::kUnsupported, node + ": facts schema \"" + j.value("schema", "") +
                                              "\" is not airlock.facts/v1");
  }
  return j;
}

std::vector<NodeProbe> probe_fleet(Executor& ex, const std::vector<const inventory::Host*>& hosts,
                                   const ProbeOptions& opts, StateDb* db,
                                   const std::function<void(const NodeProbe&)>& on_node) {
  std::vector<NodeProbe> out(hosts.size());
  std::map<const inventory::Host*, size_t> index;
  for (size_t i = 0; i < hosts.size(); ++i) index[hosts[i]] = i;

  auto work = [&](const inventory::Host& h, transport::Transport& t) -> Status {
    NodeProbe& p = out[index.at(&h)];
    // Named by its digest, so "present" means "this very binary": one round trip when the node
    // has it; when it does not (exit 127), send it and run again.
    std::string remote = remote_dir_for(h, opts) + "/airlock-node-" + opts.node_binary_sha256.substr(0, 16);
    transport::ExecOptions eo;
    eo.timeout = opts.probe_timeout + std::chrono::seconds(5);
    std::vector<std::string> argv = {remote, "probe", "--timeout", std::to_string(opts.probe_timeout.count())};
    int64_t t0 = now_ns();
    auto r = t.exec(argv, eo);
    int64_t t1 = now_ns();
    if (r.ok() && (r->exit_code == 127 || r->exit_code == 126) && r->out.empty()) {
      auto sent = t.upload(opts.node_binary, remote, opts.node_binary_sha256, 0755);
      if (!sent.ok()) return sent.error().wrap(h.name + ": sending airlock-node to " + remote);
      p.bytes_sent = *sent;
      t0 = now_ns();
      r = t.exec(argv, eo);
      t1 = now_ns();
    }
    if (!r.ok()) return r.error().wrap(h.name + ": airlock-node probe");
    if (r->timed_out) {
      return make_error(Errc::kTimeout, h.name + ": airlock-node probe did not finish within " +
                                            std::to_string(eo.timeout.count() / 1000) + " s");
    }
    if (r->exit_code != 0) {
      return make_error(Errc::kIo, h.name + ": airlock-node probe exited " + std::to_string(r->exit_code) + ": " +
                                       first_line(r->err));
    }
    TRY_ASSIGN(p.facts, parse_node_facts(h.name, r->out));
    FactsRecord& rec = p.record;
    rec.node = h.name;
    rec.received_at_ns = t1;
    rec.collected_at_ns = p.facts.value("collected_at_ns", int64_t{0});
    int64_t duration = p.facts.value("duration_ns", int64_t{0});
    // The probe ran somewhere inside [t0, t1]; assume it sits in the middle of the round trip.
    rec.skew_ns = rec.collected_at_ns + duration / 2 - (t0 + t1) / 2;
    rec.skew_error_ns = std::max<int64_t>(0, (t1 - t0 - duration) / 2);
    rec.facts_json = r->out;
    if (db) {
      auto st = db->put_facts(rec);
      if (!st.ok()) return st.error().wrap(h.name);
    }
    return {};
  };

  ex.run(hosts, work, [&](const NodeOutcome& o) {
    NodeProbe& p = out[index.at(o.host)];
    p.node = o.host->name;
    p.status = o.status;
    if (db) {
      NodeRunRecord rr{opts.run_id, p.node, now_ns(), o.status.ok(), "", ""};
      if (!o.status.ok()) {
        rr.kind = errc_name(o.status.error().root_code());
        rr.reason = o.status.error().describe();
      }
      (void)db->put_node_run(rr);
    }
    if (on_node) on_node(p);
  });
  return out;
}

std::string render_probe_summary(const std::vector<NodeProbe>& nodes, std::chrono::nanoseconds wall) {
  Tally accel, rdma;
  std::vector<std::string> reached;
  uint64_t sent = 0;
  size_t sent_to = 0;
  const NodeProbe* worst_skew = nullptr;
  for (const auto& p : nodes) {
    if (!p.status.ok()) continue;
    reached.push_back(p.node);
    sent += p.bytes_sent;
    sent_to += p.bytes_sent ? 1 : 0;
    tally_node(p, accel, rdma);
    if (!worst_skew || std::llabs(p.record.skew_ns) > std::llabs(worst_skew->record.skew_ns)) worst_skew = &p;
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(wall).count());
  std::string s = "probed " + std::to_string(reached.size()) + "/" + std::to_string(nodes.size()) + " nodes in " + buf;
  if (!reached.empty()) s += ": " + inventory::fold_nodeset(reached);
  s += "\nairlock-node sent to " + std::to_string(sent_to) + " node(s), " + human_bytes(sent) +
       (sent_to < reached.size() ? " (the others already had it)" : "") + "\n";
  s += "\naccelerators\n";
  auto al = tally_lines(accel);
  if (al.empty()) s += "  none\n";
  for (const auto& l : al) s += "  " + l + "\n";
  s += "\nRDMA ports by state\n";
  auto rl = tally_lines(rdma);
  if (rl.empty()) s += "  none\n";
  for (const auto& l : rl) s += "  " + l + "\n";
  if (worst_skew) {
    std::snprintf(buf, sizeof buf, "%+.1f ms (+/- %.1f ms) on %s", worst_skew->record.skew_ns / 1e6,
                  worst_skew->record.skew_error_ns / 1e6, worst_skew->node.c_str());
    s += "\nlargest clock skew: " + std::string(buf) + "\n";
  }
  std::vector<NodeResult> failed;
  for (const auto& p : nodes) {
    if (!p.status.ok()) failed.push_back({p.node, p.status, {}});
  }
  if (!failed.empty()) {
    Gathered g = gather(failed);
    std::map<Errc, std::vector<const Failure*>> by_kind;
    for (const auto& f : g.failures) by_kind[f.kind].push_back(&f);
    s += "\nfailed: " + std::to_string(failed.size()) + "\n";
    for (const auto& [kind, list] : by_kind) {
      std::vector<std::string> names;
      for (const auto* f : list) names.push_back(f->node);
      s += "  " + failure_label(kind) + ": " + inventory::fold_nodeset(names) + "\n";
      for (const auto* f : list) s += "    " + f->reason + "\n";
    }
  }
  return s;
}

nlohmann::json probe_summary_json(const std::vector<NodeProbe>& nodes, std::chrono::nanoseconds wall) {
  nlohmann::json j = {{"nodes", nodes.size()}, {"wall_ms", wall.count() / 1'000'000}};
  size_t ok = 0;
  nlohmann::json failures = nlohmann::json::array();
  Tally accel, rdma;
  for (const auto& p : nodes) {
    if (p.status.ok()) {
      ++ok;
      tally_node(p, accel, rdma);
    } else {
      failures.push_back({{"node", p.node},
                          {"kind", errc_name(p.status.error().root_code())},
                          {"reason", p.status.error().describe()}});
    }
  }
  auto tally_json = [](const Tally& t) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [key, nodes] : t.by_key) {
      int total = 0;
      for (const auto& [n, c] : nodes) total += c;
      o[key] = total;
    }
    return o;
  };
  j["reached"] = ok;
  j["accelerators"] = tally_json(accel);
  j["rdma_ports"] = tally_json(rdma);
  j["failures"] = failures;
  return j;
}

}  // namespace airlock::fleet
