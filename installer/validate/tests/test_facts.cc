// Test inputs for the validator (see test_facts.h).
#include "installer/validate/tests/test_facts.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/system_root.h"
#include "probes/collect.h"

namespace airlock::validate::test {

json synthetic(const std::string& name) {
  std::ifstream in(std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic/" + name + ".expected.json");
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

json hwloc(const std::string& name) {
  DirRoot root(std::string(AIRLOCK_NODE_FIXTURES) + "/" + name);
  probes::CollectOptions opts;
  opts.now_ns = 1795824000'000000000;
  json j = probes::collect(root, opts);
  return j;
}

Report run(const std::vector<std::pair<std::string, json>>& nodes, const Rules& rules, const Options& opts) {
  std::vector<NodeInput> in;
  for (const auto& [name, facts] : nodes) {
    NodeInput n;
    n.name = name;
    n.facts = &facts;
    n.source = name + ".json";
    in.push_back(n);
  }
  return evaluate(in, rules, opts);
}

Rules rules(const std::string& yaml) {
  auto r = parse_rules(yaml, "rules.yaml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? *r : builtin_rules();
}

const NodeResult& node(const Report& r, const std::string& name) {
  for (const auto& n : r.nodes) {
    if (n.name == name) return n;
  }
  ADD_FAILURE() << "no node " << name;
  return r.nodes.at(0);
}

std::vector<Finding> findings(const Report& r, const std::string& name, const std::string& check) {
  std::vector<Finding> out;
  for (const auto& f : node(r, name).findings) {
    if (f.check == check) out.push_back(f);
  }
  return out;
}

std::string not_checked(const Report& r, const std::string& name, const std::string& check) {
  for (const auto& nc : node(r, name).not_checked) {
    if (nc.check == check) return nc.reason;
  }
  return "";
}

bool passed(const Report& r, const std::string& name, const std::string& check) {
  const auto& p = node(r, name).passed;
  return std::find(p.begin(), p.end(), check) != p.end();
}

std::string dump(const Report& r, const std::string& name) {
  std::string out;
  for (const auto& f : node(r, name).findings) {
    out += std::string(severity_name(f.severity)) + " " + f.check + " [" + f.subject + "] " + f.message + "\n";
    for (const auto& e : f.evidence) out += "    " + e.path + " = " + e.value.dump() + "\n";
  }
  return out;
}

}  // namespace airlock::validate::test
