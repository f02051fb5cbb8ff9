// airlock-testsvc agent: the fake GPU-node agent. Serves GET /health (200, or 503 when
// --fail-health / `fail_health: true` so an upgrade test can ship a broken release) and
// GET /version, and registers with the manager on start and every --heartbeat-ms (2000),
// retrying quietly while the manager is down. The address it registers is --advertise, else
// the bound address, else (listening on a wildcard) our side of the connection to the manager.
#include <mutex>
#include <thread>

#include "testsvc.h"

namespace testsvc {

namespace {

struct Agent {
  std::string name, version;
  bool fail_health = false;
  Addr manager;
  std::string advertise;  // empty: work it out once bound
  int heartbeat_ms = 2000;

  std::string identity() const {
    return "\"role\":\"agent\",\"name\":" + json_quote(name) + ",\"version\":" + json_quote(version);
  }

  Response handle(const Request& r) {
    if (r.method != "GET") return {405, "{\"error\":\"use GET\"}"};
    if (r.path == "/health") {
      if (fail_health) return {503, "{\"ok\":false," + identity() + ",\"reason\":\"fail_health\"}"};
      return {200, "{\"ok\":true," + identity() + "}"};
    }
    if (r.path == "/version") return {200, "{\"version\":" + json_quote(version) + "}"};
    return {404, "{\"error\":\"not found\"}"};
  }

  void heartbeat(Addr bound) {
    bool wildcard = bound.host == "0.0.0.0" || bound.host == "::";
    bool registered = false;
    std::string last_error;
    while (!stop_requested()) {
      std::string address = advertise;
      if (address.empty() && !wildcard) address = format_addr(bound);
      std::string body = "{\"agent\":" + json_quote(name) + ",\"address\":" + json_quote(address) +
                         ",\"version\":" + json_quote(version) + "}";
      // With a wildcard listen, connect first to learn which of our addresses reaches the manager.
      if (address.empty()) {
        ClientResult probe = http_call(manager, "GET", "/health", "", 1000);
        if (!probe.local_ip.empty())
          advertise = format_addr({probe.local_ip, bound.port});
        if (!advertise.empty()) continue;
      }
      ClientResult res = address.empty() ? ClientResult{0, "", "no address to advertise yet", ""}
                                         : http_call(manager, "POST", "/register", body, 1500);
      if (stop_requested()) break;
      if (res.status == 200) {
        if (!registered) log_line("agent", "registered with " + format_addr(manager) + " as " + address);
        registered = true;
        last_error.clear();
      } else {
        std::string why = res.status ? "HTTP " + std::to_string(res.status) : res.error;
        if (why != last_error || registered)
          log_line("agent", "cannot register with " + format_addr(manager) + ": " + why +
                                " (retrying every " + std::to_string(heartbeat_ms) + " ms)");
        registered = false;
        last_error = why;
      }
      sleep_unless_stopped(heartbeat_ms);
    }
  }
};

}  // namespace

int agent_main(const Options& o) {
  auto* a = new Agent;  // leaked on purpose, like the manager's
  for (const char* key : {"listen", "manager", "name"})
    if (!o.count(key)) usage_error(std::string("agent needs --") + key + " (or it in --config)");
  auto listen = parse_addr(o.at("listen"));
  if (!listen) usage_error("--listen: expected IP:PORT, got '" + o.at("listen") + "'");
  auto manager = parse_addr(o.at("manager"));
  if (!manager || manager->port == 0)
    usage_error("--manager: expected IP:PORT, got '" + o.at("manager") + "'");
  a->manager = *manager;
  a->name = o.at("name");
  if (!valid_name(a->name)) usage_error("--name: expected [A-Za-z0-9._-]{1,64}, got '" + a->name + "'");
  a->version = o.count("version") ? o.at("version") : TESTSVC_VERSION;
  a->fail_health = o.count("fail_health") && o.at("fail_health") == "true";
  a->heartbeat_ms = int_option(o, "heartbeat_ms", 2000, 50, 3600 * 1000);
  if (o.count("advertise")) {
    auto adv = parse_addr(o.at("advertise"));
    if (!adv) usage_error("--advertise: expected IP:PORT, got '" + o.at("advertise") + "'");
    a->advertise = format_addr(*adv);
  }
  log_line("agent", "name " + a->name + " version " + a->version + " manager " +
                        format_addr(a->manager) + (a->fail_health ? " (fail_health)" : ""));
  return serve("agent", *listen, [a](const Request& r) { return a->handle(r); },
               [a](const Addr& bound) { std::thread(&Agent::heartbeat, a, bound).detach(); });
}

}  // namespace testsvc
