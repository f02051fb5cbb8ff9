// `airlock inventory show -i FILE [-g ROLE...] [-w NODESET] [--json]`: loads the inventory
// (docs/inventory.md), expands its ranges and prints each selected host with how it is reached
// (address:port or local, user, bastion, pinned keys) and what it is (roles, labels) as a
// table, or the whole thing as JSON. A bad file exits 2 with "file:line:col: ...".
#include <algorithm>
#include <cstdio>

#include "installer/cli/commands.h"
#include "installer/inventory/inventory.h"
#include "installer/inventory/nodeset.h"

namespace airlock::cli {
namespace {

struct InventoryArgs {
  std::string file;
  std::vector<std::string> selectors;
  std::string nodeset;
  bool json = false;
  bool quiet = false;
};

std::string joined(const std::vector<std::string>& v, const char* sep = ",") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string endpoint(const std::string& address, int port) {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string labels_text(const std::map<std::string, std::string>& labels) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : labels) kv.push_back(k + "=" + v);
  return kv.empty() ? "-" : joined(kv);
}

nlohmann::json host_json(const inventory::Host& h) {
  return {{"name", h.name},
          {"address", h.address},
          {"port", h.port},
          {"user", h.user},
          {"identity_file", h.identity_file},
          {"local", h.local},
          {"sudo", h.sudo},
          {"roles", h.roles},
          {"labels", h.labels},
          {"vars", h.vars},
          {"groups", h.groups},
          {"bastion", h.bastion},
          {"host_keys", h.host_key_fingerprints},
          {"defined_at", h.defined_at}};
}

void print_json(const inventory::Inventory& inv, const std::vector<const inventory::Host*>& hosts,
                const std::string& folded) {
  nlohmann::json bastions = nlohmann::json::array();
  for (const auto& [name, b] : inv.bastions) {
    bastions.push_back({{"name", b.name},
                        {"address", b.address},
                        {"port", b.port},
                        {"user", b.user},
                        {"identity_file", b.identity_file},
                        {"host_keys", b.host_key_fingerprints},
                        {"max_startups", b.max_startups}});
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto* h : hosts) list.push_back(host_json(*h));
  nlohmann::json out = {{"inventory", inv.path},
                        {"ssh",
                         {{"known_hosts", inv.known_hosts_file},
                          {"connect_timeout", inv.connect_timeout_s},
                          {"command_timeout", inv.command_timeout_s},
                          {"max_startups", inv.max_startups}}},
                        {"bastions", bastions},
                        {"groups", inv.groups},
                        {"nodeset", folded},
                        {"hosts", list}};
  std::printf("%s\n", out.dump(2).c_str());
}

void print_table(const inventory::Inventory& inv, const std::vector<const inventory::Host*>& hosts,
                 const std::string& folded) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "ADDRESS", "USER", "ROLES", "LABELS", "BASTION", "KEYS"});
  for (const auto* h : hosts) {
    rows.push_back({h->name, h->local ? "local" : endpoint(h->address, h->port), h->user + (h->sudo ? " (sudo)" : ""),
                    h->roles.empty() ? "-" : joined(h->roles), labels_text(h->labels),
                    h->bastion.empty() ? "-" : h->bastion, std::to_string(h->host_key_fingerprints.size())});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
  for (const auto& [name, b] : inv.bastions) {
    std::printf("\nbastion %s: %s, user %s, %zu pinned key(s), at most %d unauthenticated connections\n", name.c_str(),
                endpoint(b.address, b.port).c_str(), b.user.c_str(), b.host_key_fingerprints.size(), b.max_startups);
  }
  std::printf("\n%zu host%s: %s\n", hosts.size(), hosts.size() == 1 ? "" : "s", folded.c_str());
}

Status run_show(const InventoryArgs& a) {
  TRY_ASSIGN(inventory::Inventory inv, inventory::load_inventory(a.file));
  TRY_ASSIGN(std::vector<const inventory::Host*> hosts, inv.select(a.selectors, a.nodeset));
  std::vector<std::string> names;
  names.reserve(hosts.size());
  for (const auto* h : hosts) names.push_back(h->name);
  std::string folded = inventory::fold_nodeset(names);
  if (a.json) {
    print_json(inv, hosts, folded);
  } else if (!a.quiet) {
    print_table(inv, hosts, folded);
  }
  return {};
}

}  // namespace

void register_inventory(CLI::App& app, Context& ctx) {
  CLI::App* inv = app.add_subcommand("inventory", "Read and check an inventory (docs/inventory.md)");
  inv->require_subcommand(1);
  auto args = std::make_shared<InventoryArgs>();
  CLI::App* show = inv->add_subcommand("show", "Expand an inventory and print its hosts: how each is reached, its roles and labels");
  show->add_option("-i,--inventory", args->file, "The inventory YAML file")->required();
  show->add_option("-g,--group", args->selectors, "Only hosts with this role, group or key=value label (repeatable, or a,b)")
      ->delimiter(',');
  show->add_option("-w,--nodes", args->nodeset, "Only these hosts, as a node set such as gpu[001-064],mgr1");
  show->add_flag("--json", args->json, "Print the expanded inventory as JSON");
  show->add_flag("-q,--quiet", args->quiet, "Only check the file: print nothing unless it is wrong");
  on_run(show, args, ctx, [](const InventoryArgs& a) { return run_show(a); });
}

}  // namespace airlock::cli
