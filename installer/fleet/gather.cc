// Coalescing identical outputs into node ranges (see gather.h).
#include "installer/fleet/gather.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "installer/inventory/nodeset.h"

namespace airlock::fleet {

std::string failure_label(Errc kind) {
  switch (kind) {
    case Errc::kUnreachable: return "unreachable";
    case Errc::kTimeout: return "timed out";
    case Errc::kAuth: return "authentication failed";
    case Errc::kHostKey: return "host key rejected";
    case Errc::kCancelled: return "cancelled";
    default: return errc_name(kind);
  }
}

Gathered gather(const std::vector<NodeResult>& results) {
  Gathered g;
  std::map<std::tuple<int, bool, std::string, std::string>, size_t> index;
  for (const auto& r : results) {
    if (!r.status.ok()) {
      g.failures.push_back({r.node, r.status.error().root_code(), r.status.error().describe()});
      continue;
    }
    const auto& e = r.result;
    if (e.exit_code != 0) g.nonzero_nodes++;
    auto key = std::make_tuple(e.exit_code, e.timed_out, e.out, e.err);
    auto [it, fresh] = index.emplace(key, g.groups.size());
    if (fresh) g.groups.push_back(Group{{}, "", e.exit_code, e.timed_out, e.out, e.err});
    g.groups[it->second].nodes.push_back(r.node);
  }
  for (auto& grp : g.groups) grp.folded = inventory::fold_nodeset(grp.nodes);
  std::stable_sort(g.groups.begin(), g.groups.end(),
                   [](const Group& a, const Group& b) { return a.nodes.size() > b.nodes.size(); });
  std::sort(g.failures.begin(), g.failures.end(), [](const Failure& a, const Failure& b) { return a.node < b.node; });
  return g;
}

std::string render_gathered(const Gathered& g, size_t total_nodes) {
  std::string s;
  const std::string rule = "---------------\n";
  for (const auto& grp : g.groups) {
    s += rule + grp.folded + " (" + std::to_string(grp.nodes.size()) + (grp.nodes.size() == 1 ? " node" : " nodes");
    s += grp.timed_out ? ", timed out" : ", exit " + std::to_string(grp.exit_code);
    s += ")\n" + rule;
    s += grp.out;
    if (!grp.out.empty() && grp.out.back() != '\n') s += "\n";
    if (!grp.err.empty()) {
      s += "[stderr]\n" + grp.err;
      if (grp.err.back() != '\n') s += "\n";
    }
  }
  if (!g.failures.empty()) {
    std::map<Errc, std::vector<const Failure*>> by_kind;
    for (const auto& f : g.failures) by_kind[f.kind].push_back(&f);
    for (const auto& [kind, list] : by_kind) {
      std::vector<std::string> names;
      for (const auto* f : list) names.push_back(f->node);
      s += rule + inventory::fold_nodeset(names) + " (" + failure_label(kind) + ")\n" + rule;
      for (const auto* f : list) s += f->node + ": " + f->reason + "\n";
    }
  }
  size_t ran = total_nodes - g.failures.size();
  s += "\n" + std::to_string(ran) + "/" + std::to_string(total_nodes) + " nodes ran the command";
  if (g.nonzero_nodes) s += ", " + std::to_string(g.nonzero_nodes) + " exited non-zero";
  if (!g.failures.empty()) s += ", " + std::to_string(g.failures.size()) + " failed to run it";
  s += "\n";
  return s;
}

}  // namespace airlock::fleet
