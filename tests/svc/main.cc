// airlock-testsvc: entry point. Picks the mode (manager, agent, watch, watch-report), merges the
// `key: value` config file (--config, what the installer's template step renders) under the
// command-line flags, and exits with the mode's code: 0 ok or stopped by SIGTERM, 1 cannot
// bind / environment, 2 bad arguments or a bad config file.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "testsvc.h"

namespace testsvc {

namespace {

const char* kUsage =
    "usage:\n"
    "  airlock-testsvc manager --listen IP:PORT [--state FILE] [--version V] [--drain-ms N]\n"
    "                          [--config FILE]\n"
    "  airlock-testsvc agent   --listen IP:PORT --manager IP:PORT --name NAME [--version V]\n"
    "                          [--advertise IP:PORT] [--heartbeat-ms N] [--fail-health]\n"
    "                          [--config FILE]\n"
    "  airlock-testsvc watch   --targets FILE [--interval-ms 100] [--timeout-ms 1000]\n"
    "                          [--out LOG.jsonl]\n"
    "  airlock-testsvc watch-report LOG.jsonl [--json] [--max-down N] [--expect-version V]\n"
    "config file (--config): `key: value` lines, keys as the flags with '_' (fail_health: true);\n"
    "flags override the file. Version default: " TESTSVC_VERSION "\n";

struct Spec {
  std::set<std::string> keys;   // take a value
  std::set<std::string> flags;  // booleans
  bool config = false;          // accepts --config
};

const std::map<std::string, Spec>& specs() {
  static const std::map<std::string, Spec> s = {
      {"manager", {{"listen", "state", "version", "drain_ms"}, {}, true}},
      {"agent",
       {{"listen", "manager", "name", "version", "advertise", "heartbeat_ms"}, {"fail_health"}, true}},
      {"watch", {{"targets", "interval_ms", "timeout_ms", "out"}, {}, false}},
  };
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::string to_bool(const std::string& where, const std::string& v) {
  if (v == "true" || v == "yes" || v == "1" || v == "on") return "true";
  if (v == "false" || v == "no" || v == "0" || v == "off") return "false";
  usage_error(where + ": expected true or false, got '" + v + "'");
}

// Reads `key: value` lines (blank lines and # comments skipped, quotes around a value
// dropped, an empty value leaves the key unset) into o, for keys the mode knows.
void read_config(const std::string& path, const Spec& spec, Options& o) {
  std::ifstream in(path);
  if (!in) usage_error("cannot read config file " + path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::string where = path + ":" + std::to_string(n);
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t colon = t.find(':');
    if (colon == std::string::npos) usage_error(where + ": expected 'key: value', got '" + t + "'");
    std::string key = trim(t.substr(0, colon)), value = trim(t.substr(colon + 1));
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0])
      value = value.substr(1, value.size() - 2);
    if (!spec.keys.count(key) && !spec.flags.count(key))
      usage_error(where + ": unknown key '" + key + "'");
    if (value.empty()) continue;
    o[key] = spec.flags.count(key) ? to_bool(where, value) : value;
  }
}

Options parse_flags(const std::string& mode, const std::vector<std::string>& args) {
  const Spec& spec = specs().at(mode);
  Options flags;
  std::string config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.rfind("--", 0) != 0) usage_error("unexpected argument '" + a + "'");
    std::string key = a.substr(2), value;
    bool has_value = false;
    if (size_t eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    for (char& c : key) if (c == '-') c = '_';
    if (spec.flags.count(key)) {
      flags[key] = has_value ? to_bool("--" + args[i], value) : "true";
      continue;
    }
    if (!spec.keys.count(key) && !(spec.config && key == "config"))
      usage_error("unknown option '" + a + "' for " + mode);
    if (!has_value) {
      if (i + 1 >= args.size()) usage_error("option '" + a + "' needs a value");
      value = args[++i];
    }
    if (key == "config") config = value;
    else flags[key] = value;
  }
  Options merged;
  if (!config.empty()) read_config(config, spec, merged);
  for (auto& [k, v] : flags) merged[k] = v;
  return merged;
}

}  // namespace

void usage_error(const std::string& message) {
  std::fprintf(stderr, "airlock-testsvc: %s\n%s", message.c_str(), kUsage);
  std::fflush(stderr);
  std::_Exit(2);
}

int int_option(const Options& o, const std::string& key, int def, int min, int max) {
  auto it = o.find(key);
  if (it == o.end()) return def;
  const std::string& v = it->second;
  std::string flag = key;
  for (char& c : flag) if (c == '_') c = '-';
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
    usage_error("--" + flag + ": expected a number, got '" + v + "'");
  int n = std::stoi(v);
  if (n < min || n > max)
    usage_error("--" + flag + ": " + v + " is out of range " + std::to_string(min) + ".." +
                std::to_string(max));
  return n;
}

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
         std::string::npos;
}

}  // namespace testsvc

int main(int argc, char** argv) {
  using namespace testsvc;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) usage_error("missing mode");
  std::string mode = args[0];
  args.erase(args.begin());
  if (mode == "-h" || mode == "--help" || mode == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  int rc;
  if (mode == "watch-report") {
    rc = watch_report_main(args);
  } else if (specs().count(mode)) {
    Options o = parse_flags(mode, args);
    install_stop_handlers();
    if (mode == "manager") rc = manager_main(o);
    else if (mode == "agent") rc = agent_main(o);
    else rc = watch_main(o);
  } else {
    usage_error("unknown mode '" + mode + "'");
  }
  // Connection threads may still be running: leave without running static destructors.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}
