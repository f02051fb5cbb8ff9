// TCP/HTTP/exec probes over plain sockets and posix_spawn, and the retry loop.
#include "node/health.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/fs.h"
#include "common/process.h"
#include "node/util.h"

namespace airlock::node {

namespace {

Result<int> parse_port(std::string_view s, std::string_view what) {
  int port = 0;
  if (s.empty() || s.size() > 5) return make_error(Errc::kInvalidArgument, std::string(what) + ": bad port");
  for (char c : s) {
    if (c < '0' || c > '9') return make_error(Errc::kInvalidArgument, std::string(what) + ": bad port");
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return make_error(Errc::kInvalidArgument, std::string(what) + ": bad port");
  return port;
}

Result<Endpoint> make_endpoint(std::string_view host, int port, std::string_view what) {
  Endpoint ep;
  ep.text = std::string(what);
  std::string h(host);
  if (h == "localhost") h = "127.0.0.1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    ep.len = sizeof(sockaddr_in);
  } else if (h.size() > 2 && h.front() == '[' && h.back() == ']' &&
             ::inet_pton(AF_INET6, h.substr(1, h.size() - 2).c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    ep.len = sizeof(sockaddr_in6);
  } else {
    return make_error(Errc::kInvalidArgument,
                      std::string(what) + ": host '" + std::string(host) +
                          "' must be a numeric IPv4 address, [IPv6] or localhost "
                          "(airlock-node resolves no names)");
  }
  return ep;
}

// Connects within timeout; the socket is non-blocking.
Result<UniqueFd> connect_to(const Endpoint& ep, int64_t deadline) {
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket");
  UniqueFd sock(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0) {
    if (errno != EINPROGRESS) return sys_error("connect " + ep.text);
    for (;;) {
      int64_t left = deadline - mono_ms();
      if (left <= 0) return make_error(Errc::kTimeout, "connect " + ep.text + ": timed out");
      pollfd p{fd, POLLOUT, 0};
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sys_error("poll");
      if (n == 0) continue;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return sys_error("connect " + ep.text, err);
      break;
    }
  }
  return sock;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view hp) {
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return make_error(Errc::kInvalidArgument, "'" + std::string(hp) + "': want HOST:PORT");
  }
  TRY_ASSIGN(int port, parse_port(hp.substr(colon + 1), hp));
  return make_endpoint(hp.substr(0, colon), port, hp);
}

Result<HttpTarget> parse_http_url(std::string_view url) {
  std::string u(url);
  std::string lower = u;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.rfind("https://", 0) == 0) {
    return make_error(Errc::kUnsupported, "'" + u + "': https is not supported (airlock-node speaks plain HTTP)");
  }
  if (lower.rfind("http://", 0) != 0) return make_error(Errc::kInvalidArgument, "'" + u + "': want http://HOST[:PORT]/PATH");
  std::string rest = u.substr(7);
  size_t end = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, end);
  std::string path = end == std::string::npos ? "/" : rest.substr(end);
  if (auto hash = path.find('#'); hash != std::string::npos) path.resize(hash);
  if (path.empty() || path[0] != '/') path = "/" + path;
  if (authority.empty() || authority.find('@') != std::string::npos) {
    return make_error(Errc::kInvalidArgument, "'" + u + "': want http://HOST[:PORT]/PATH (no user info)");
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return make_error(Errc::kInvalidArgument, "'" + u + "': the path has spaces or control characters");
    }
  }
  std::string host = authority;
  int port = 80;
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    host = authority.substr(0, colon);
    TRY_ASSIGN(port, parse_port(authority.substr(colon + 1), u));
  }
  HttpTarget t;
  TRY_ASSIGN(t.endpoint, make_endpoint(host, port, u));
  t.host_header = authority;
  t.path = path;
  return t;
}

Status tcp_attempt(const Endpoint& ep, int64_t timeout_ms) {
  auto s = connect_to(ep, mono_ms() + timeout_ms);
  if (!s.ok()) return s.error();
  return {};
}

Status http_attempt(const HttpTarget& t, const HttpExpect& e, int64_t timeout_ms, int* status) {
  int64_t deadline = mono_ms() + timeout_ms;
  TRY_ASSIGN(UniqueFd sock, connect_to(t.endpoint, deadline));
  std::string req = "GET " + t.path + " HTTP/1.0\r\nHost: " + t.host_header +
                    "\r\nUser-Agent: airlock-node\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  std::string resp;
  bool eof = false;
  char buf[16384];
  while (!eof) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) return make_error(Errc::kTimeout, "GET " + t.endpoint.text + ": timed out");
    pollfd p{sock.get(), static_cast<short>(sent < req.size() ? POLLOUT : POLLIN), 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("poll");
    if (n == 0) continue;
    if (sent < req.size()) {
      ssize_t w = ::send(sock.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) return sys_error("send to " + t.endpoint.text);
      if (w > 0) sent += static_cast<size_t>(w);
      continue;
    }
    ssize_t r = ::recv(sock.get(), buf, sizeof buf, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r < 0) return sys_error("read from " + t.endpoint.text);
    if (r == 0) eof = true;
    resp.append(buf, static_cast<size_t>(r));
    if (resp.size() > (1u << 20)) break;  // enough to judge
  }
  // "HTTP/1.x NNN reason"
  if (resp.rfind("HTTP/", 0) != 0 || resp.size() < 12 || resp[8] != ' ') {
    return make_error(Errc::kParse, "GET " + t.endpoint.text + ": not an HTTP response");
  }
  int code = std::atoi(resp.substr(9, 3).c_str());
  if (status) *status = code;
  bool status_ok = e.status ? code == e.status : (code >= 200 && code < 300);
  if (!status_ok) {
    return make_error(Errc::kIntegrity, "GET " + t.endpoint.text + ": status " + std::to_string(code) +
                                            (e.status ? ", want " + std::to_string(e.status) : ", want 2xx"));
  }
  if (!e.body_contains.empty()) {
    size_t hdr_end = resp.find("\r\n\r\n");
    std::string body = hdr_end == std::string::npos ? "" : resp.substr(hdr_end + 4);
    if (body.find(e.body_contains) == std::string::npos) {
      return make_error(Errc::kIntegrity, "GET " + t.endpoint.text + ": body does not contain '" +
                                              e.body_contains + "'");
    }
  }
  return {};
}

HealthResult health_loop(const HealthOptions& o, const std::function<Status(int64_t)>& probe) {
  HealthResult r;
  int64_t start = mono_ms();
  int64_t end = start + std::max<int64_t>(o.deadline_ms, 0);
  int64_t healthy_since = -1;
  for (;;) {
    ++r.attempts;
    int64_t left = end - mono_ms();
    int64_t timeout = std::max<int64_t>(std::min(left, o.attempt_timeout_ms), 100);
    Status st = probe(timeout);
    int64_t now = mono_ms();
    if (st.ok()) {
      if (healthy_since < 0) healthy_since = now;
      if (now - healthy_since >= o.soak_ms) {
        r.ok = true;
        r.last_error.clear();
        break;
      }
    } else {
      r.last_error = st.error().describe();
      healthy_since = -1;
    }
    if (now + o.interval_ms > end) {
      if (healthy_since >= 0) {
        r.last_error = "healthy for only " + std::to_string(now - healthy_since) + " ms of the " +
                       std::to_string(o.soak_ms) + " ms soak when the deadline came";
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
  }
  r.elapsed_ms = mono_ms() - start;
  return r;
}

HealthResult health_tcp(const Endpoint& ep, const HealthOptions& o) {
  return health_loop(o, [&](int64_t timeout) { return tcp_attempt(ep, timeout); });
}

HealthResult health_http(const HttpTarget& t, const HttpExpect& e, const HealthOptions& o) {
  int status = 0;
  HealthResult r = health_loop(o, [&](int64_t timeout) { return http_attempt(t, e, timeout, &status); });
  r.http_status = status;
  return r;
}

HealthResult health_exec(const std::vector<std::string>& argv, const HealthOptions& o) {
  SystemProcessRunner runner;
  int exit_code = -1;
  int64_t end = mono_ms() + o.deadline_ms;
  HealthResult r = health_loop(o, [&](int64_t) -> Status {
    ProcessOptions po;
    po.timeout = std::chrono::milliseconds(std::max<int64_t>(end - mono_ms(), 100));
    po.output_cap = 64 * 1024;
    auto res = runner.run(argv, po);
    if (!res.ok()) return res.error();
    exit_code = res->exit_code;
    if (res->timed_out) return make_error(Errc::kTimeout, argv[0] + ": timed out");
    if (res->exit_code == 0) return {};
    std::string tail = res->err.empty() ? res->out : res->err;
    if (tail.size() > 400) tail = tail.substr(tail.size() - 400);
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
    return make_error(Errc::kIntegrity, argv[0] + ": exit " + std::to_string(res->exit_code) +
                                            (tail.empty() ? "" : ": " + tail));
  });
  r.exit_code = exit_code;
  return r;
}

}  // namespace airlock::node
