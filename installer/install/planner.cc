// The planner (see planner.h). Builds the template context once for the whole inventory
// (hosts.*, roles.*, bundle, release) and per node (host, vars, facts), resolves every step of
// every phase for each of its nodes, then fills each node's stage steps with the blobs that its
// other steps need, and digests every step.
#include "installer/install/planner.h"

#include <algorithm>
#include <set>

#include "common/sha256.h"
#include "installer/install/planner_steps.h"

namespace airlock::install {
namespace {

void deep_merge(nlohmann::json& into, const nlohmann::json& from) {
  if (!into.is_object() || !from.is_object()) {
    into = from;
    return;
  }
  for (auto it = from.begin(); it != from.end(); ++it) deep_merge(into[it.key()], it.value());
}

nlohmann::json host_object(const inventory::Host& h, const nlohmann::json& default_vars) {
  nlohmann::json vars = default_vars;
  deep_merge(vars, h.vars);
  std::string address = h.address.empty() && h.local ? "127.0.0.1" : h.address;
  // host.prefix: the host var airlock_prefix without trailing slashes ("" without one), the
  // same prefix the engine puts every node path under (actions.h NodePaths), for paths that
  // rendered files name (ExecStart=, config paths).
  std::string prefix;
  if (h.vars.is_object() && h.vars.contains("airlock_prefix") && h.vars["airlock_prefix"].is_string()) {
    prefix = h.vars["airlock_prefix"].get<std::string>();
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  }
  return {{"name", h.name},   {"address", address}, {"port", h.port},     {"user", h.user},
          {"roles", h.roles}, {"labels", h.labels}, {"groups", h.groups}, {"vars", std::move(vars)},
          {"local", h.local}, {"prefix", prefix}};
}

bool truthy(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    return s == "true" || s == "yes" || s == "1";
  }
  if (v.is_number()) return v.get<double>() != 0;
  return false;
}

bool valid_release(const std::string& r) {
  if (r.empty() || r == "." || r == ".." || r.size() > 200) return false;
  return r.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+") == std::string::npos;
}

// Adds `need` unless the digest is already there (first use keeps its place).
void add_need(std::vector<BlobNeed>* list, std::set<std::string>* seen, const BlobNeed& need) {
  if (seen->insert(need.digest).second) list->push_back(need);
}

}  // namespace

bool host_matches(const inventory::Host& h, const std::vector<std::string>& selectors) {
  for (const auto& s : selectors) {
    if (s == "all" || s == h.name) return true;
    if (std::find(h.roles.begin(), h.roles.end(), s) != h.roles.end()) return true;
    if (std::find(h.groups.begin(), h.groups.end(), s) != h.groups.end()) return true;
    size_t eq = s.find('=');
    if (eq != std::string::npos) {
      auto it = h.labels.find(s.substr(0, eq));
      if (it != h.labels.end() && it->second == s.substr(eq + 1)) return true;
    }
  }
  return false;
}

std::string step_digest(const std::string& action, const nlohmann::json& params) {
  nlohmann::json j = {{"action", action}, {"params", params}};
  return sha256_digest(j.dump());
}

Result<Plan> make_plan(const Playbook& pb, const inventory::Inventory& inv,
                       const std::vector<const inventory::Host*>& selected,
                       const std::map<std::string, nlohmann::json>& facts_by_node, const bundle::Manifest& manifest) {
  Plan plan;
  plan.playbook = pb.name;
  plan.bundle_name = manifest.bundle.name;
  plan.bundle_version = manifest.bundle.version;
  plan.bundle_release = manifest.bundle.release;

  // The shared part of the context.
  nlohmann::json bundle = {{"name", manifest.bundle.name},
                           {"version", manifest.bundle.version},
                           {"release", manifest.bundle.release}};
  TemplateContext base;
  base.roots["bundle"] = &bundle;
  {
    auto r = render_inline(pb.release, pb.file + ": release", base);
    if (!r.ok()) return r.error();
    plan.release = std::move(r).value();
  }
  if (!valid_release(plan.release)) {
    return make_error(Errc::kInvalidArgument, pb.file + ": release `" + plan.release +
                                                  "` is not a usable directory name (letters, digits, . _ - +)");
  }
  nlohmann::json release = plan.release;
  nlohmann::json hosts = nlohmann::json::object();
  nlohmann::json roles = nlohmann::json::object();
  for (const auto& h : inv.hosts) hosts[h.name] = host_object(h, pb.vars);
  for (const auto& h : inv.hosts) {
    const nlohmann::json& obj = hosts[h.name];
    for (const auto& role : h.roles) {
      nlohmann::json& r = roles[role];
      if (r.is_null()) r = {{"addresses", ""}, {"names", ""}, {"count", 0}, {"first", obj}};
      std::string& addrs = r["addresses"].get_ref<std::string&>();
      std::string& names = r["names"].get_ref<std::string&>();
      addrs += (addrs.empty() ? "" : ",") + obj["address"].get<std::string>();
      names += (names.empty() ? "" : ",") + h.name;
      r["count"] = r["count"].get<int>() + 1;
    }
  }
  base.roots["release"] = &release;
  base.roots["hosts"] = &hosts;
  base.roots["roles"] = &roles;

  std::set<std::string> chosen;
  for (const auto* h : selected) chosen.insert(h->name);

  // node -> (phase index, step index in that phase's node list) of its stage steps, filled last.
  std::map<std::string, std::vector<std::pair<size_t, size_t>>> stage_steps;
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& phase : pb.phases) {
    PhasePlan pp;
    pp.name = phase.name;
    pp.concurrency = phase.concurrency;
    pp.max_fail = phase.max_fail;
    pp.stop_on_failure = phase.stop_on_failure;
    pp.rolling = phase.rolling;
    for (const auto& h : inv.hosts) {
      if (!chosen.count(h.name) || !host_matches(h, phase.hosts)) continue;
      pp.nodes.push_back(h.name);
      TemplateContext ctx = base;
      const nlohmann::json& host = hosts[h.name];
      ctx.roots["host"] = &host;
      ctx.roots["vars"] = &host["vars"];
      auto f = facts_by_node.find(h.name);
      NodeInputs in;
      in.node = h.name;
      in.facts = f != facts_by_node.end() ? &f->second : nullptr;
      if (in.facts != nullptr) ctx.roots["facts"] = in.facts;
      in.ctx = &ctx;
      in.manifest = &manifest;
      in.release = plan.release;
      std::vector<PlanStep>& steps = pp.steps[h.name];
      for (size_t i = 0; i < phase.steps.size(); ++i) {
        const Step& step = phase.steps[i];
        PlanStep ps;
        ps.id = phase.name + "." + std::to_string(i) + "." + step.action;
        ps.action = step.action;
        ps.defined_at = step.defined_at;
        std::string context = step.defined_at + ": step " + ps.id + " on node " + h.name;
        if (!step.when.empty()) {
          const nlohmann::json* w = ctx.find(step.when);
          if (w == nullptr) return make_error(Errc::kNotFound, context + ": when: no value for `" + step.when + "`");
          if (!truthy(*w)) continue;
        }
        if (step.action == "stage") {
          stage_steps[h.name].push_back({plan.phases.size(), steps.size()});
        } else {
          auto r = resolve_step(step, in);
          if (!r.ok()) return r.error().wrap(context);
          ps.params = std::move(r->params);
          for (const auto& need : r->blobs) add_need(&plan.blobs[h.name], &seen[h.name], need);
        }
        steps.push_back(std::move(ps));
      }
    }
    plan.phases.push_back(std::move(pp));
  }

  // Stage steps carry every blob the node's other steps use.
  for (const auto& [node, places] : stage_steps) {
    nlohmann::json blobs = nlohmann::json::array();
    auto it = plan.blobs.find(node);
    if (it != plan.blobs.end()) {
      for (const auto& b : it->second) blobs.push_back({{"digest", b.digest}, {"size", b.size}, {"component", b.component}});
    }
    for (const auto& [phase, index] : places) plan.phases[phase].steps[node][index].params = {{"blobs", blobs}};
  }
  // A service or health step also covers the node's earlier steps in its phase ("after"), so
  // that a changed config or binary restarts the service and re-checks its health even though
  // the unit itself did not change; an unchanged node skips them all.
  for (auto& phase : plan.phases) {
    for (auto& [node, steps] : phase.steps) {
      nlohmann::json earlier = nlohmann::json::array();
      for (auto& s : steps) {
        if (s.action == "service" || s.action == "health") s.params["after"] = earlier;
        s.digest = step_digest(s.action, s.params);
        earlier.push_back(s.digest);
      }
    }
  }
  return plan;
}

}  // namespace airlock::install
