// airlock-testsvc: the small manager/agent pair (and availability watcher) that install and
// upgrade tests run as real services on the simulated cluster (issues 7 and 8). This header is
// what the pieces share: just enough JSON, IPv4/IPv6 addresses, a one-request-per-connection
// HTTP/1.1 server and client, stop-on-SIGTERM, logging, and the entry point of each mode.
// Only libc, libstdc++ and pthread: the binary is linked fully static.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace testsvc {

// ---- JSON: parse into a plain tree; write by hand with json_quote ----
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  const Json* get(const std::string& key) const;  // member of an object, or nullptr
  // The string member `key`, or nullopt when absent or not a string.
  std::optional<std::string> str(const std::string& key) const;
};
std::optional<Json> json_parse(const std::string& text, std::string* error = nullptr);
std::string json_quote(const std::string& s);  // "..." with escapes

// ---- addresses: IP:PORT, [IPv6]:PORT or localhost:PORT (no name resolution) ----
struct Addr {
  std::string host;  // an IP literal
  int port = 0;
};
std::optional<Addr> parse_addr(const std::string& s);
std::string format_addr(const Addr& a);

// ---- HTTP ----
struct Request {
  std::string method, path, body, peer;
};
struct Response {
  int status = 200;
  std::string body;
};
using Handler = std::function<Response(const Request&)>;

// Listens on `listen` and serves each connection on its own thread until SIGTERM/SIGINT.
// `on_bound` runs once listening, with the real address (port 0 picks a free one).
// Returns 0 when stopped by a signal, 1 when the address cannot be bound.
int serve(const std::string& role, const Addr& listen, const Handler& handler,
          const std::function<void(const Addr&)>& on_bound);

struct ClientResult {
  int status = 0;         // 0: no HTTP answer (see error)
  std::string body;
  std::string error;
  std::string local_ip;   // our side of the connection (for advertising a wildcard listen)
};
// One request, Connection: close; gives up after timeout_ms or when a stop is requested.
ClientResult http_call(const Addr& to, const std::string& method, const std::string& path,
                       const std::string& body, int timeout_ms);

// ---- process ----
void install_stop_handlers();        // SIGTERM/SIGINT request a stop; SIGPIPE ignored
bool stop_requested();
bool sleep_unless_stopped(int ms);   // false when a stop was requested
void log_line(const std::string& role, const std::string& text);  // one line to stderr
int64_t now_epoch_ms();

// ---- options: `--key value` flags merged over a `key: value` config file ----
using Options = std::map<std::string, std::string>;  // keys with '_' (fail_health, drain_ms)
[[noreturn]] void usage_error(const std::string& message);  // message + usage, exit 2
int int_option(const Options& o, const std::string& key, int def, int min, int max);
bool valid_name(const std::string& s);  // [A-Za-z0-9._-]{1,64}

// ---- modes (main.cc parses and dispatches) ----
int manager_main(const Options& o);
int agent_main(const Options& o);
int watch_main(const Options& o);
int watch_report_main(const std::vector<std::string>& args);

}  // namespace testsvc

#ifndef TESTSVC_VERSION
#define TESTSVC_VERSION "dev"
#endif
