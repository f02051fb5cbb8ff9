// airlock-testsvc manager: the fake platform manager. Agents POST /register on start and as a
// heartbeat; GET /agents lists them with how long ago each was seen; POST /drain/<agent> and
// /undrain/<agent> flip an agent between draining and schedulable, and GET /agents/<agent>
// shows a fake session count that reaches 0 --drain-ms after a drain (so a drain hook can
// check that the drain took). With --state FILE the registrations and drain marks survive a
// restart: the file is rewritten atomically (temp file, fsync, rename) whenever they change.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "testsvc.h"

namespace testsvc {

namespace {

constexpr int kBusySessions = 3;  // the fake session count of a schedulable agent

struct AgentRecord {
  std::string address, version;
  int64_t last_seen_ms = 0;  // epoch ms
  bool draining = false;
  int64_t drained_at_ms = 0;
};

struct Manager {
  std::string version, state_path;
  int drain_ms = 300;
  std::mutex mu;
  std::map<std::string, AgentRecord> agents;

  int sessions(const AgentRecord& a, int64_t now) const {
    if (!a.draining) return kBusySessions;
    return now - a.drained_at_ms >= drain_ms ? 0 : kBusySessions;
  }

  std::string agent_json(const std::string& name, const AgentRecord& a, int64_t now) const {
    return "{\"agent\":" + json_quote(name) + ",\"address\":" + json_quote(a.address) +
           ",\"version\":" + json_quote(a.version) +
           ",\"last_seen_ms_ago\":" + std::to_string(now - a.last_seen_ms) +
           ",\"draining\":" + (a.draining ? "true" : "false") +
           ",\"sessions\":" + std::to_string(sessions(a, now)) + "}";
  }

  // Called with mu held. Returns false (and logs) when the file cannot be written.
  bool save() {
    if (state_path.empty()) return true;
    std::string out = "{\"agents\":{";
    bool first = true;
    for (auto& [name, a] : agents) {
      out += std::string(first ? "" : ",") + "\n" + json_quote(name) +
             ":{\"address\":" + json_quote(a.address) + ",\"version\":" + json_quote(a.version) +
             ",\"last_seen_ms\":" + std::to_string(a.last_seen_ms) +
             ",\"draining\":" + (a.draining ? "true" : "false") +
             ",\"drained_at_ms\":" + std::to_string(a.drained_at_ms) + "}";
      first = false;
    }
    out += "\n}}\n";
    std::string tmp = state_path + ".tmp." + std::to_string(getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, out.data(), out.size()) == ssize_t(out.size()) && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    ok = ok && rename(tmp.c_str(), state_path.c_str()) == 0;
    if (!ok) {
      log_line("manager", "error: cannot write state " + state_path + ": " + std::strerror(errno));
      unlink(tmp.c_str());
    }
    return ok;
  }

  // Returns an error message, empty when loaded (a missing file is an empty state).
  std::string load() {
    std::ifstream in(state_path);
    if (!in) return "";
    std::stringstream ss;
    ss << in.rdbuf();
    std::string err;
    auto doc = json_parse(ss.str(), &err);
    const Json* list = doc ? doc->get("agents") : nullptr;
    if (!list || list->kind != Json::Object)
      return state_path + ": not a manager state file" + (err.empty() ? "" : " (" + err + ")");
    for (auto& [name, v] : list->obj) {
      AgentRecord a;
      a.address = v.str("address").value_or("");
      a.version = v.str("version").value_or("");
      if (const Json* j = v.get("last_seen_ms")) a.last_seen_ms = int64_t(j->n);
      if (const Json* j = v.get("draining")) a.draining = j->b;
      if (const Json* j = v.get("drained_at_ms")) a.drained_at_ms = int64_t(j->n);
      agents[name] = a;
    }
    return "";
  }

  Response handle(const Request& r) {
    int64_t now = now_epoch_ms();
    if (r.path == "/health") {
      if (r.method != "GET") return {405, "{\"error\":\"use GET\"}"};
      return {200, "{\"ok\":true,\"role\":\"manager\",\"version\":" + json_quote(version) + "}"};
    }
    if (r.path == "/register") {
      if (r.method != "POST") return {405, "{\"error\":\"use POST\"}"};
      std::string err;
      auto body = json_parse(r.body, &err);
      auto name = body ? body->str("agent") : std::nullopt;
      auto address = body ? body->str("address") : std::nullopt;
      auto ver = body ? body->str("version") : std::nullopt;
      if (!name || !valid_name(*name) || !address || !ver)
        return {400, "{\"error\":\"expected {\\\"agent\\\":NAME,\\\"address\\\":\\\"IP:PORT\\\","
                     "\\\"version\\\":V}\"}"};
      std::lock_guard<std::mutex> lock(mu);
      auto it = agents.find(*name);
      bool changed = it == agents.end() || it->second.address != *address ||
                     it->second.version != *ver;
      AgentRecord& a = agents[*name];
      a.address = *address;
      a.version = *ver;
      a.last_seen_ms = now;
      if (changed) {
        log_line("manager", "agent " + *name + " at " + *address + " version " + *ver);
        save();
      }
      return {200, "{\"ok\":true}"};
    }
    if (r.path == "/agents") {
      if (r.method != "GET") return {405, "{\"error\":\"use GET\"}"};
      std::lock_guard<std::mutex> lock(mu);
      std::string out = "{\"agents\":[";
      bool first = true;
      for (auto& [name, a] : agents) {
        out += (first ? "" : ",") + agent_json(name, a, now);
        first = false;
      }
      return {200, out + "]}"};
    }
    for (const char* prefix : {"/agents/", "/drain/", "/undrain/"}) {
      std::string p = prefix;
      if (r.path.rfind(p, 0) != 0) continue;
      std::string name = r.path.substr(p.size());
      bool read = p == "/agents/";
      if (r.method != (read ? "GET" : "POST"))
        return {405, read ? "{\"error\":\"use GET\"}" : "{\"error\":\"use POST\"}"};
      std::lock_guard<std::mutex> lock(mu);
      auto it = agents.find(name);
      if (it == agents.end()) return {404, "{\"error\":\"no such agent\"}"};
      AgentRecord& a = it->second;
      if (!read) {
        bool drain = p == "/drain/";
        if (a.draining != drain) {
          a.draining = drain;
          a.drained_at_ms = drain ? now : 0;
          log_line("manager", "agent " + name + (drain ? " draining" : " schedulable"));
          save();
        }
      }
      return {200, agent_json(name, a, now)};
    }
    return {404, "{\"error\":\"not found\"}"};
  }
};

}  // namespace

int manager_main(const Options& o) {
  // Leaked on purpose: connection threads may outlive this function (main leaves with _Exit).
  auto* m = new Manager;
  auto listen = o.count("listen") ? parse_addr(o.at("listen")) : std::nullopt;
  if (!o.count("listen")) usage_error("manager needs --listen IP:PORT");
  if (!listen) usage_error("--listen: expected IP:PORT, got '" + o.at("listen") + "'");
  m->version = o.count("version") ? o.at("version") : TESTSVC_VERSION;
  m->drain_ms = int_option(o, "drain_ms", 300, 0, 3600 * 1000);
  if (o.count("state")) {
    m->state_path = o.at("state");
    std::string err = m->load();
    if (!err.empty()) usage_error(err);
    log_line("manager", "state " + m->state_path + ": " + std::to_string(m->agents.size()) +
                            " agents");
  }
  log_line("manager", "version " + m->version);
  return serve("manager", *listen, [m](const Request& r) { return m->handle(r); },
               [](const Addr&) {});
}

}  // namespace testsvc
