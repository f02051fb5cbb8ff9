// `airlock validate`: the hardware validation report (docs/validate.md). Reads every selected
// node's latest facts from the state database (or `<node>.json` files with --facts DIR, for
// offline reports from captures), evaluates the built-in checks and the rules file, prints one
// line per node and a summary, and writes the HTML/JSON/JUnit reports asked for.
// Exit 0 all pass, 1 warnings only (2 with --enforce-warnings), 2 any failure (and usage
// errors: a bad rules file, an unknown --ignore id), 3 environment (unreadable state DB).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "common/fs.h"
#include "common/log.h"
#include "installer/cli/commands.h"
#include "installer/cli/exit_codes.h"
#include "installer/inventory/inventory.h"
#include "installer/fleet/state_db.h"
#include "installer/validate/report.h"

namespace airlock::cli {
namespace {

struct ValidateArgs {
  std::string inventory;
  std::vector<std::string> groups;
  std::string nodeset;
  std::string rules;
  std::string state;
  std::string facts_dir;
  std::string html, json_out, junit;
  std::vector<std::string> ignore;
  bool enforce_warnings = false;
  bool quiet = false;
  bool json = false;  // on_run's error format: set when --json - prints to stdout
};

// One node's facts text, parsed on a worker thread.
struct Loaded {
  validate::NodeInput in;
  std::string text;
  nlohmann::json facts;
};

void parse_all(std::vector<Loaded>& nodes) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < nodes.size(); i = next++) {
      Loaded& n = nodes[i];
      if (n.text.empty()) continue;
      try {
        n.facts = nlohmann::json::parse(n.text);
        n.in.facts = &n.facts;
      } catch (const nlohmann::json::exception& e) {
        n.in.load_error = n.in.source + ": not JSON: " + e.what();
      }
      std::string().swap(n.text);
    }
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), (nodes.size() + 15) / 16);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

void read_facts_file(Loaded& n, const std::string& path) {
  n.in.source = path;
  auto text = read_file(path);
  if (!text.ok()) {
    if (text.error().sys_errno != ENOENT) n.in.load_error = text.error().describe();
    return;  // ENOENT: no facts for this node (facts.missing)
  }
  n.text = std::move(*text);
  if (n.text.empty()) n.in.load_error = path + ": empty file";
}

Result<std::vector<Loaded>> load_nodes(const ValidateArgs& a) {
  std::vector<Loaded> nodes;
  if (!a.inventory.empty()) {
    TRY_ASSIGN(auto inv, inventory::load_inventory(a.inventory));
    TRY_ASSIGN(auto hosts, inv.select(a.groups, a.nodeset));
    nodes.resize(hosts.size());
    for (size_t i = 0; i < hosts.size(); ++i) {
      nodes[i].in.name = hosts[i]->name;
      nodes[i].in.roles = hosts[i]->roles;
      nodes[i].in.groups = hosts[i]->groups;
      nodes[i].in.labels = hosts[i]->labels;
    }
  } else if (!a.groups.empty() || !a.nodeset.empty()) {
    return make_error(Errc::kInvalidArgument, "-g and -w select from an inventory: give -i INVENTORY too");
  }

  if (!a.facts_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(a.facts_dir, ec)) {
      return make_error(Errc::kNotFound, "--facts " + a.facts_dir + ": not a directory");
    }
    if (a.inventory.empty()) {
      std::vector<std::string> names;
      for (const auto& e : std::filesystem::directory_iterator(a.facts_dir, ec)) {
        std::string f = e.path().filename().string();
        if (f.size() > 5 && f.compare(f.size() - 5, 5, ".json") == 0 && f.find(".expected.") == std::string::npos) {
          names.push_back(f.substr(0, f.size() - 5));
        }
      }
      if (ec) return sys_error("--facts " + a.facts_dir, ec.value());
      std::sort(names.begin(), names.end());
      if (names.empty()) return make_error(Errc::kNotFound, "--facts " + a.facts_dir + ": no <node>.json files");
      nodes.resize(names.size());
      for (size_t i = 0; i < names.size(); ++i) nodes[i].in.name = names[i];
    }
    for (auto& n : nodes) read_facts_file(n, a.facts_dir + "/" + n.in.name + ".json");
    parse_all(nodes);
    return nodes;
  }

  std::string path = a.state.empty() ? fleet::StateDb::default_path() : a.state;
  if (a.state.empty() && !std::filesystem::exists(path) && a.inventory.empty()) {
    return make_error(Errc::kInvalidArgument, "give -i INVENTORY (facts from the state database) or --facts DIR");
  }
  TRY_ASSIGN(auto db, fleet::StateDb::open(path));
  TRY_ASSIGN(auto records, db->latest_facts());
  if (a.inventory.empty()) {
    nodes.resize(records.size());
    for (size_t i = 0; i < records.size(); ++i) nodes[i].in.name = records[i].node;
  }
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < records.size(); ++i) by_name[records[i].node] = i;
  for (auto& n : nodes) {
    n.in.source = "state database " + path;
    auto it = by_name.find(n.in.name);
    if (it == by_name.end()) continue;
    auto& rec = records[it->second];
    n.text = std::move(rec.facts_json);
    n.in.has_skew = true;
    n.in.skew_ns = rec.skew_ns;
    n.in.skew_error_ns = rec.skew_error_ns;
  }
  parse_all(nodes);
  return nodes;
}

Status write_out(const std::string& path, const std::string& data, const char* what) {
  if (path == "-") {
    std::fwrite(data.data(), 1, data.size(), stdout);
    return {};
  }
  auto st = write_file_atomic(path, data);
  if (!st.ok()) return st.error().wrap(std::string(what) + " report");
  log::info(std::string(what) + " report: " + path + " (" + std::to_string(data.size()) + " bytes)");
  return {};
}

int run_validate(const ValidateArgs& a) {
  bool json_stdout = a.json_out == "-";
  auto fail = [&](const Error& e) { return report_error(e, json_stdout); };
  validate::Rules rules = validate::builtin_rules();
  if (!a.rules.empty()) {
    auto r = validate::load_rules(a.rules);
    if (!r.ok()) return fail(r.error());
    rules = std::move(*r);
  }
  for (const auto& id : a.ignore) {
    bool own = std::any_of(rules.identical.begin(), rules.identical.end(), [&](const auto& r) { return r.id == id; });
    if (validate::find_check(id) == nullptr && !own) {
      return fail(make_error(Errc::kInvalidArgument, "--ignore " + id + ": unknown check id (docs/validate.md lists them)"));
    }
  }
  if (a.inventory.empty() && a.facts_dir.empty() && a.state.empty()) {
    return fail(make_error(Errc::kInvalidArgument, "give -i INVENTORY (facts from the state database) or --facts DIR"));
  }
  auto loaded = load_nodes(a);
  if (!loaded.ok()) return fail(loaded.error());
  std::vector<validate::NodeInput> inputs;
  inputs.reserve(loaded->size());
  for (auto& n : *loaded) inputs.push_back(n.in);

  validate::Options opts;
  opts.ignore = a.ignore;
  opts.enforce_warnings = a.enforce_warnings;
  opts.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  validate::Report report = validate::evaluate(inputs, rules, opts);

  if (!a.html.empty()) {
    if (auto st = write_out(a.html, validate::render_html(report), "HTML"); !st.ok()) return fail(st.error());
  }
  if (!a.junit.empty()) {
    if (auto st = write_out(a.junit, validate::render_junit(report), "JUnit"); !st.ok()) return fail(st.error());
  }
  if (!a.json_out.empty()) {
    if (auto st = write_out(a.json_out, validate::render_json(report).dump(1) + "\n", "JSON"); !st.ok()) return fail(st.error());
  }
  if (!json_stdout && !a.quiet) {
    bool color = ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
    std::fputs(validate::render_terminal(report, color).c_str(), stdout);
  }
  return report.exit_code();
}

}  // namespace

void register_validate(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Hardware validation report: built-in checks (docs/validate.md) and a rules file over every node's facts.\n"
      "Facts come from the state database (airlock probe -i) or, with --facts DIR, from <node>.json files.\n"
      "Exit 0 all pass, 1 warnings only (2 with --enforce-warnings), 2 any failure or a usage error.");
  cmd->add_option("-i,--inventory", args->inventory, "Inventory file (YAML, docs/inventory.md)");
  cmd->add_option("-g,--group", args->groups, "Only hosts with this role, group or label (key=value); repeatable");
  cmd->add_option("-w,--nodes", args->nodeset, "Only these hosts, as a node set: gpu[001-064],mgr1");
  cmd->add_option("--rules", args->rules, "Rules file (YAML): node profiles and cross-node rules (default: built-in)");
  cmd->add_option("--state", args->state, "State database (default: ~/.local/state/airlock/state.db)");
  cmd->add_option("--facts", args->facts_dir, "Read <node>.json facts files from DIR instead of the state database");
  cmd->add_option("--html", args->html, "Write the self-contained HTML report to FILE");
  cmd->add_option("--json", args->json_out, "Write the JSON report (airlock.validate/v1) to FILE, or - for stdout");
  cmd->add_option("--junit", args->junit, "Write JUnit XML to FILE");
  cmd->add_option("--ignore", args->ignore, "Skip this check id; repeatable");
  cmd->add_flag("--enforce-warnings", args->enforce_warnings, "Warnings block too (exit 2)");
  cmd->add_flag("-q,--quiet", args->quiet, "Print only errors (the reports are still written)");
  cmd->callback([args, &ctx] {
    apply_verbosity(ctx, args->quiet || args->json_out == "-");
    ctx.exit_code = run_validate(*args);
  });
}

}  // namespace airlock::cli
