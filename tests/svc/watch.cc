// airlock-testsvc watch / watch-report: the external availability watcher of the upgrade tests.
// `watch` polls GET /health of every target (a file of `NAME IP:PORT` lines) at once, every
// --interval-ms, and appends one JSON line per round to --out:
//   {"t_ms":<epoch ms at round start>,"down":["agent007"],"versions":{"agent001":"v1",...}}
// (down: no 200 within --timeout-ms; versions: the up ones). A round cut short by SIGTERM is
// not written, so a stop never looks like an outage. `watch-report` reads such a log and
// prints the most targets down at once and the final versions, and can assert on both.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "testsvc.h"

namespace testsvc {

namespace {

struct Target {
  std::string name;
  Addr addr;
};

std::vector<Target> read_targets(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage_error("cannot read targets file " + path);
  std::vector<Target> out;
  std::set<std::string> seen;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream ls(line);
    std::string name, addr, extra;
    if (!(ls >> name) || name[0] == '#') continue;
    std::string where = path + ":" + std::to_string(n) + ": ";
    auto a = (ls >> addr) ? parse_addr(addr) : std::nullopt;
    if (!a || (ls >> extra) || !valid_name(name) || !seen.insert(name).second)
      usage_error(where + "expected a unique 'NAME IP:PORT', got '" + line + "'");
    out.push_back({name, *a});
  }
  if (out.empty()) usage_error(path + ": no targets");
  return out;
}

std::string string_list(const std::vector<std::string>& v, const char* sep, bool json) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + (json ? json_quote(v[i]) : v[i]);
  return out;
}

}  // namespace

int watch_main(const Options& o) {
  if (!o.count("targets")) usage_error("watch needs --targets FILE");
  std::vector<Target> targets = read_targets(o.at("targets"));
  int interval = int_option(o, "interval_ms", 100, 10, 3600 * 1000);
  int timeout = int_option(o, "timeout_ms", 1000, 10, 600 * 1000);
  std::string out_path = o.count("out") ? o.at("out") : "-";
  FILE* out = out_path == "-" ? stdout : std::fopen(out_path.c_str(), "w");
  if (!out) {
    log_line("watch", "error: cannot write " + out_path);
    return 1;
  }
  log_line("watch", "polling " + std::to_string(targets.size()) + " targets every " +
                        std::to_string(interval) + " ms into " + out_path);
  long rounds = 0;
  while (!stop_requested()) {
    auto start = std::chrono::steady_clock::now();
    int64_t t_ms = now_epoch_ms();
    std::vector<ClientResult> results(targets.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < targets.size(); ++i)
      threads.emplace_back([&, i] {
        results[i] = http_call(targets[i].addr, "GET", "/health", "", timeout);
      });
    for (auto& t : threads) t.join();
    if (stop_requested()) break;
    std::vector<std::string> down;
    std::string versions;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (results[i].status != 200) {
        down.push_back(targets[i].name);
        continue;
      }
      auto body = json_parse(results[i].body);
      std::string v = body ? body->str("version").value_or("?") : "?";
      versions += (versions.empty() ? "" : ",") + json_quote(targets[i].name) + ":" + json_quote(v);
    }
    std::string line = "{\"t_ms\":" + std::to_string(t_ms) + ",\"down\":[" +
                       string_list(down, ",", true) + "],\"versions\":{" + versions + "}}\n";
    std::fputs(line.c_str(), out);
    std::fflush(out);
    ++rounds;
    auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start).count();
    if (spent < interval) sleep_unless_stopped(int(interval - spent));
  }
  if (out != stdout) std::fclose(out);
  log_line("watch", "stopped after " + std::to_string(rounds) + " rounds");
  return 0;
}

int watch_report_main(const std::vector<std::string>& args) {
  std::string path, expect;
  bool json = false;
  int max_down_limit = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--max-down" || a == "--expect-version") {
      if (i + 1 >= args.size()) usage_error("option '" + a + "' needs a value");
      if (a == "--expect-version") expect = args[++i];
      else max_down_limit = int_option({{"max_down", args[++i]}}, "max_down", 0, 0, 1 << 30);
    } else if (a.rfind("--", 0) == 0 || !path.empty()) {
      usage_error("unexpected argument '" + a + "' for watch-report");
    } else {
      path = a;
    }
  }
  if (path.empty()) usage_error("watch-report needs LOG.jsonl");
  std::ifstream in(path);
  if (!in) usage_error("cannot read " + path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();

  long rounds = 0;
  int64_t first_t = 0, last_t = 0, max_t = 0;
  std::vector<std::string> max_agents, final_down;
  std::map<std::string, std::string> final_versions;
  std::set<std::string> ever_down;
  size_t max_down = 0;
  size_t pos = 0;
  for (int n = 1; pos < text.size(); ++n) {
    size_t nl = text.find('\n', pos);
    bool last_partial = nl == std::string::npos;
    std::string line = text.substr(pos, last_partial ? std::string::npos : nl - pos);
    pos = last_partial ? text.size() : nl + 1;
    if (line.empty()) continue;
    std::string err;
    auto doc = json_parse(line, &err);
    const Json* t = doc ? doc->get("t_ms") : nullptr;
    const Json* down = doc ? doc->get("down") : nullptr;
    const Json* versions = doc ? doc->get("versions") : nullptr;
    if (!t || !down || down->kind != Json::Array || !versions || versions->kind != Json::Object) {
      if (last_partial) break;  // the watcher was killed mid-write
      usage_error(path + ":" + std::to_string(n) + ": not a watch round" +
                  (err.empty() ? "" : " (" + err + ")"));
    }
    ++rounds;
    last_t = int64_t(t->n);
    if (rounds == 1) first_t = last_t;
    final_down.clear();
    for (const Json& d : down->arr) final_down.push_back(d.s), ever_down.insert(d.s);
    final_versions.clear();
    for (auto& [k, v] : versions->obj) final_versions[k] = v.s;
    if (final_down.size() > max_down || rounds == 1) {
      max_down = final_down.size();
      max_t = last_t;
      max_agents = final_down;
    }
  }
  if (rounds == 0) {
    std::fprintf(stderr, "watch-report: no poll rounds in %s\n", path.c_str());
    return 1;
  }
  std::vector<std::string> ever(ever_down.begin(), ever_down.end());
  if (json) {
    std::string fv;
    for (auto& [k, v] : final_versions) fv += (fv.empty() ? "" : ",") + json_quote(k) + ":" + json_quote(v);
    std::printf("{\"rounds\":%ld,\"first_t_ms\":%lld,\"last_t_ms\":%lld,\"max_down\":%zu,"
                "\"max_down_t_ms\":%lld,\"max_down_agents\":[%s],\"ever_down\":[%s],"
                "\"final_versions\":{%s},\"final_down\":[%s]}\n",
                rounds, (long long)first_t, (long long)last_t, max_down, (long long)max_t,
                string_list(max_agents, ",", true).c_str(), string_list(ever, ",", true).c_str(),
                fv.c_str(), string_list(final_down, ",", true).c_str());
  } else {
    std::string fv;
    for (auto& [k, v] : final_versions) fv += (fv.empty() ? "" : " ") + k + "=" + v;
    std::printf("rounds: %ld over %.1f s\nmax_down: %zu at t_ms %lld (%s)\never_down: %s\n"
                "final_versions: %s\nfinal_down: %s\n",
                rounds, double(last_t - first_t) / 1000.0, max_down, (long long)max_t,
                string_list(max_agents, " ", false).c_str(), string_list(ever, " ", false).c_str(),
                fv.c_str(), string_list(final_down, " ", false).c_str());
  }
  int rc = 0;
  if (max_down_limit >= 0 && int(max_down) > max_down_limit) {
    std::fprintf(stderr, "watch-report: %zu down at once at t_ms %lld (%s), limit %d\n", max_down,
                 (long long)max_t, string_list(max_agents, " ", false).c_str(), max_down_limit);
    rc = 1;
  }
  if (!expect.empty()) {
    std::vector<std::string> wrong;
    for (auto& d : final_down) wrong.push_back(d + "=down");
    for (auto& [k, v] : final_versions)
      if (v != expect) wrong.push_back(k + "=" + v);
    if (!wrong.empty()) {
      std::fprintf(stderr, "watch-report: not all up on %s at the end: %s\n", expect.c_str(),
                   string_list(wrong, " ", false).c_str());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace testsvc
