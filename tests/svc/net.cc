// airlock-testsvc: sockets and process plumbing. A tiny HTTP/1.1 server (one thread per
// connection, one request per connection, Connection: close) and client, address parsing
// without name resolution (static glibc has no NSS), SIGTERM/SIGINT turned into a stop that
// every wait in the program notices at once (a self-pipe), and one-line logging to stderr.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

#include "testsvc.h"

namespace testsvc {

namespace {

std::atomic<bool> g_stop{false};
int g_stop_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  g_stop.store(true);
  if (g_stop_pipe[1] >= 0) {
    ssize_t n = write(g_stop_pipe[1], "x", 1);
    (void)n;
  }
}

bool to_sockaddr(const Addr& a, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(uint16_t(a.port));
    len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(uint16_t(a.port));
    len = sizeof *v6;
    return true;
  }
  return false;
}

Addr from_sockaddr(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  Addr a;
  if (ss.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    a.port = ntohs(v4->sin_port);
  } else {
    auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    a.port = ntohs(v6->sin6_port);
  }
  a.host = buf;
  return a;
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 stop requested.
int wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (g_stop.load()) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return 0;
    pollfd p[2] = {{fd, events, 0}, {g_stop_pipe[0], POLLIN, 0}};
    int n = poll(p, g_stop_pipe[0] >= 0 ? 2 : 1, int(left));
    if (n < 0 && errno != EINTR) return 0;
    if (n > 0 && p[0].revents) return 1;
  }
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

bool write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

void handle_connection(int fd, std::string peer, std::string role, Handler handler) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string buf;
  char chunk[4096];
  size_t head_end = std::string::npos;
  size_t want = 0;
  bool complete = false;
  while (buf.size() < 65536) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, size_t(n));
    if (head_end == std::string::npos) {
      head_end = buf.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      std::string head = buf.substr(0, head_end);
      for (char& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
      size_t cl = head.find("\r\ncontent-length:");
      if (cl != std::string::npos) want = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    }
    if (buf.size() >= head_end + 4 + want) {
      complete = true;
      break;
    }
  }
  Request req;
  req.peer = peer;
  Response resp;
  char method[16] = {0}, path[2048] = {0};
  if (!complete || std::sscanf(buf.c_str(), "%15s %2047s HTTP/1.", method, path) != 2) {
    resp = {400, "{\"error\":\"bad request\"}"};
  } else {
    req.method = method;
    req.path = path;
    req.path = req.path.substr(0, req.path.find('?'));
    req.body = buf.substr(head_end + 4, want);
    try {
      resp = handler(req);
    } catch (const std::exception& e) {
      resp = {500, "{\"error\":" + json_quote(e.what()) + "}"};
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(resp.body.size() + 1) + "\r\nConnection: close\r\n\r\n" +
                    resp.body + "\n";
  write_all(fd, out);
  close(fd);
  log_line(role, peer + " " + (req.method.empty() ? "-" : req.method) + " " +
                     (req.path.empty() ? "-" : req.path) + " " + std::to_string(resp.status));
}

}  // namespace

void install_stop_handlers() {
  if (g_stop_pipe[0] < 0 && pipe2(g_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    g_stop_pipe[0] = g_stop_pipe[1] = -1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop.load(); }

bool sleep_unless_stopped(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!g_stop.load()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return true;
    pollfd p{g_stop_pipe[0], POLLIN, 0};
    if (g_stop_pipe[0] >= 0) poll(&p, 1, int(left));
    else std::this_thread::sleep_for(std::chrono::milliseconds(left));
  }
  return false;
}

int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
}

void log_line(const std::string& role, const std::string& text) {
  static std::mutex mu;
  int64_t ms = now_epoch_ms();
  time_t secs = time_t(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "%s.%03dZ %s %s\n", stamp, int(ms % 1000), role.c_str(), text.c_str());
  std::fflush(stderr);
}

std::optional<Addr> parse_addr(const std::string& s) {
  Addr a;
  std::string port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find("]:");
    if (close == std::string::npos) return std::nullopt;
    a.host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    a.host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (a.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs brackets
  }
  if (a.host == "localhost") a.host = "127.0.0.1";
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  a.port = std::stoi(port);
  sockaddr_storage ss;
  socklen_t len;
  if (a.port > 65535 || !to_sockaddr(a, ss, len)) return std::nullopt;
  return a;
}

std::string format_addr(const Addr& a) {
  if (a.host.find(':') != std::string::npos) return "[" + a.host + "]:" + std::to_string(a.port);
  return a.host + ":" + std::to_string(a.port);
}

int serve(const std::string& role, const Addr& listen_addr, const Handler& handler,
          const std::function<void(const Addr&)>& on_bound) {
  sockaddr_storage ss;
  socklen_t len;
  to_sockaddr(listen_addr, ss, len);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 512) != 0) {
    std::string why = std::strerror(errno);
    log_line(role, "error: cannot listen on " + format_addr(listen_addr) + ": " + why);
    if (fd >= 0) close(fd);
    return 1;
  }
  len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  Addr bound = from_sockaddr(ss);
  log_line(role, "listening on " + format_addr(bound));
  on_bound(bound);
  for (;;) {
    int ready = wait_fd(fd, POLLIN, std::chrono::steady_clock::now() + std::chrono::hours(24));
    if (ready < 0) break;
    if (ready == 0) continue;
    sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int c = accept4(fd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::thread(handle_connection, c, format_addr(from_sockaddr(peer)), role, handler).detach();
  }
  close(fd);
  log_line(role, "stopping on signal");
  return 0;
}

ClientResult http_call(const Addr& to, const std::string& method, const std::string& path,
                       const std::string& body, int timeout_ms) {
  ClientResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  sockaddr_storage ss;
  socklen_t len;
  if (!to_sockaddr(to, ss, len)) return r.error = "bad address", r;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return r.error = std::strerror(errno), r;
  auto finish = [&](const std::string& error) {
    close(fd);
    r.error = error;
    return r;
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return finish(std::strerror(errno));
    int w = wait_fd(fd, POLLOUT, deadline);
    if (w <= 0) return finish(w < 0 ? "stopped" : "connect timed out");
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return finish(std::strerror(err));
  }
  sockaddr_storage local;
  socklen_t llen = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0)
    r.local_ip = from_sockaddr(local).host;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + format_addr(to) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n > 0) { off += size_t(n); continue; }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return finish(std::strerror(errno));
    int w = wait_fd(fd, POLLOUT, deadline);
    if (w <= 0) return finish(w < 0 ? "stopped" : "send timed out");
  }
  std::string in;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0) { in.append(chunk, size_t(n)); continue; }
    if (n == 0) break;
    if (errno != EAGAIN && errno != EINTR) return finish(std::strerror(errno));
    int w = wait_fd(fd, POLLIN, deadline);
    if (w <= 0) return finish(w < 0 ? "stopped" : "read timed out");
  }
  close(fd);
  size_t head_end = in.find("\r\n\r\n");
  int status = 0;
  if (head_end == std::string::npos || std::sscanf(in.c_str(), "HTTP/1.%*d %d", &status) != 1)
    return r.error = "malformed HTTP response", r;
  r.status = status;
  r.body = in.substr(head_end + 4);
  return r;
}

}  // namespace testsvc
