// A tiny HTTP responder on 127.0.0.1 for the health tests: answers each request with the next
// scripted (status, body), repeating the last one; or, with listen_later, binds at once (so the
// port is known and connects are refused) and starts listening after a delay.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace airlock::node::test {

class Responder {
 public:
  // replies empty: accept and close (a plain TCP listener).
  explicit Responder(std::vector<std::pair<int, std::string>> replies, int listen_after_ms = 0)
      : replies_(std::move(replies)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (listen_after_ms <= 0) ::listen(fd_, 16);
    thread_ = std::thread([this, listen_after_ms] { serve(listen_after_ms); });
  }
  ~Responder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::string last_request() const { return last_; }

 private:
  void serve(int listen_after_ms) {
    if (listen_after_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(listen_after_ms));
      ::listen(fd_, 16);
    }
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (!replies_.empty() && req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      int i = requests_.fetch_add(1);
      if (!replies_.empty()) {
        last_ = req;
        const auto& [status, body] = replies_[std::min<size_t>(static_cast<size_t>(i), replies_.size() - 1)];
        std::string resp = "HTTP/1.0 " + std::to_string(status) + " X\r\nContent-Type: text/plain\r\n\r\n" + body;
        (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      }
      ::close(c);
    }
  }

  std::vector<std::pair<int, std::string>> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::string last_;
  std::thread thread_;
};

}  // namespace airlock::node::test
