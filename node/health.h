// Health probes the installer's gates run on a node: a TCP connect, a plain HTTP/1.0 GET, or a
// command, retried every interval until it succeeds (and, with a soak time, keeps succeeding
// that long) or the deadline passes. Only numeric IPv4, [IPv6] and "localhost" are accepted:
// the node binary is static and resolves no names (no getaddrinfo, no NSS). No TLS.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock::node {

struct HealthOptions {
  int64_t deadline_ms = 30000;  // for the whole check, soak included
  int64_t interval_ms = 500;    // between attempts
  int64_t soak_ms = 0;          // must stay healthy this long (every attempt passing)
  int64_t attempt_timeout_ms = 10000;  // per attempt cap (tcp, http); exec gets the rest
};

struct HealthResult {
  bool ok = false;
  int attempts = 0;
  int64_t elapsed_ms = 0;
  std::string last_error;  // of the last failed attempt
  int http_status = 0;     // http: of the last response
  int exit_code = -1;      // exec: of the last run
};

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // as given, for messages
};
// "1.2.3.4:80", "[::1]:80", "localhost:80".
Result<Endpoint> parse_endpoint(std::string_view host_port);

struct HttpTarget {
  Endpoint endpoint;
  std::string host_header;  // host[:port] as in the URL
  std::string path;         // "/..." with the query
};
// http://HOST[:PORT][/PATH][?QUERY]; https is refused.
Result<HttpTarget> parse_http_url(std::string_view url);

struct HttpExpect {
  int status = 0;  // 0: any 2xx
  std::string body_contains;
};

// One attempt each; ok or the reason it failed.
Status tcp_attempt(const Endpoint& ep, int64_t timeout_ms);
Status http_attempt(const HttpTarget& t, const HttpExpect& e, int64_t timeout_ms, int* status);

// The retry loop around probe(timeout_ms). Always makes at least one attempt.
HealthResult health_loop(const HealthOptions& o, const std::function<Status(int64_t)>& probe);

HealthResult health_tcp(const Endpoint& ep, const HealthOptions& o);
HealthResult health_http(const HttpTarget& t, const HttpExpect& e, const HealthOptions& o);
HealthResult health_exec(const std::vector<std::string>& argv, const HealthOptions& o);

}  // namespace airlock::node
