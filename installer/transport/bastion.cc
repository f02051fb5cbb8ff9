// See bastion.h. The pump is a plain poll() loop over the bastion's socket, a wake pipe and one
// socketpair end per tunnel, with the bastion session in non-blocking mode. Each direction of a
// tunnel has a bounded buffer (256 KiB) and writes into a channel never exceed the peer's window,
// so one slow target cannot stall the others. libssh's ssh_connector would do the copying, but
// it writes to the socket without handling a full buffer, which could deadlock the shared pump.
#include "installer/transport/bastion.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "installer/transport/exec_channel.h"

namespace airlock::transport {
namespace {

constexpr size_t kBufferCap = 256u << 10;
const std::atomic<bool> kNeverCancelled{false};

// A byte queue with a read offset (no copying on partial writes).
struct Pending {
  std::string data;
  size_t off = 0;
  size_t size() const { return data.size() - off; }
  const char* head() const { return data.data() + off; }
  void consume(size_t n) {
    off += n;
    if (off == data.size()) {
      data.clear();
      off = 0;
    }
  }
};

}  // namespace

struct BastionLink::Request {
  std::string host;
  int port = 0;
  ssh_channel channel = nullptr;  // pump only
  // Under mu_:
  bool done = false;
  bool abandoned = false;
  UniqueFd fd;
  std::optional<Error> error;
};

struct BastionLink::Tunnel {
  ssh_channel channel = nullptr;
  UniqueFd fd;                 // our end of the socketpair, non-blocking
  std::string target;          // host:port, for messages
  Pending to_channel, to_local;
  bool local_eof = false;      // the target session closed its side
  bool eof_sent = false;
  bool remote_eof = false;
  bool shut_local = false;
  bool done = false;
};

BastionLink::BastionLink(inventory::Bastion bastion, const SshSettings& settings, KeyCache& keys,
                         StartupGate& gate)
    : bastion_(std::move(bastion)), settings_(settings), keys_(keys), gate_(gate) {
  endpoint_.label = "bastion " + bastion_.name + " (" + bastion_.address + ":" + std::to_string(bastion_.port) + ")";
  endpoint_.address = bastion_.address;
  endpoint_.port = bastion_.port;
  endpoint_.user = bastion_.user.empty() ? "root" : bastion_.user;
  endpoint_.identity_file = bastion_.identity_file;
  endpoint_.pinned = bastion_.host_key_fingerprints;
}

BastionLink::~BastionLink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  if (wake_write_.valid()) {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_write_.get(), &c, 1);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  session_.reset();
}

Status BastionLink::ensure_up(const std::atomic<bool>& cancelled) {
  std::unique_lock lock(mu_);
  while (true) {
    if (state_ == State::kUp) {
      return {};
    }
    if (state_ == State::kConnecting) {
      uint64_t waiting_for = attempt_;
      while (state_ == State::kConnecting && attempt_ == waiting_for) {
        if (cancelled.load()) {
          return make_error(Errc::kCancelled, endpoint_.label + ": cancelled while waiting for the bastion");
        }
        cv_.wait_for(lock, std::chrono::milliseconds(50));
      }
      if (state_ == State::kDown && last_failed_ && attempt_ == waiting_for) {
        return last_error_;
      }
      continue;
    }
    state_ = State::kConnecting;
    ++attempt_;
    lock.unlock();
    if (thread_.joinable()) {
      thread_.join();  // the pump of a connection that died
    }
    session_.reset();
    Result<SessionPtr> session = make_error(Errc::kCancelled, endpoint_.label + ": cancelled");
    {
      std::string key = bastion_.address + ":" + std::to_string(bastion_.port);
      auto slot = gate_.acquire(key, bastion_.max_startups, kNeverCancelled);
      auto fd = tcp_connect(endpoint_, settings_.connect_timeout, kNeverCancelled);
      if (!fd.ok()) {
        session = fd.error();
      } else {
        session = ssh_login(endpoint_, std::move(*fd), settings_, keys_, nullptr);
      }
    }
    if (session.ok() && !wake_read_.valid()) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        session = sys_error(endpoint_.label + ": pipe");
      } else {
        wake_read_ = UniqueFd(p[0]);
        wake_write_ = UniqueFd(p[1]);
      }
    }
    lock.lock();
    if (!session.ok()) {
      state_ = State::kDown;
      last_failed_ = true;
      last_error_ = session.error();
      cv_.notify_all();
      return last_error_;
    }
    session_ = std::move(*session);
    ssh_set_blocking(session_.get(), 0);
    ++logins_;
    last_failed_ = false;
    state_ = State::kUp;
    thread_ = std::thread(&BastionLink::pump, this);
    cv_.notify_all();
    return {};
  }
}

Result<UniqueFd> BastionLink::open_tunnel(const std::string& label, const std::string& host, int port,
                                          Clock::time_point deadline, const std::atomic<bool>& cancelled) {
  TRY_STATUS(ensure_up(cancelled));
  auto req = std::make_shared<Request>();
  req->host = host;
  req->port = port;
  std::unique_lock lock(mu_);
  if (state_ != State::kUp) {
    return make_error(Errc::kUnreachable, label + ": the connection to " + endpoint_.label + " was lost");
  }
  requests_.push_back(req);
  char c = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_write_.get(), &c, 1);
  while (!req->done) {
    if (cancelled.load()) {
      req->abandoned = true;
      return make_error(Errc::kCancelled, label + ": cancelled while opening a tunnel through " + endpoint_.label);
    }
    if (Clock::now() >= deadline) {
      req->abandoned = true;
      return make_error(Errc::kTimeout, label + ": opening a tunnel through " + endpoint_.label + " timed out");
    }
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (req->error) {
    return req->error->wrap(label);
  }
  return std::move(req->fd);
}

void BastionLink::open_requests(std::deque<std::shared_ptr<Request>>& opening) {
  ssh_session s = session_.get();
  for (auto it = opening.begin(); it != opening.end();) {
    Request& r = **it;
    bool abandoned;
    {
      std::lock_guard lock(mu_);
      abandoned = r.abandoned;
    }
    if (abandoned) {
      if (r.channel != nullptr) {
        ssh_channel_free(r.channel);
      }
      it = opening.erase(it);
      continue;
    }
    if (r.channel == nullptr) {
      r.channel = ssh_channel_new(s);
    }
    int rc = r.channel == nullptr ? SSH_ERROR : ssh_channel_open_forward(r.channel, r.host.c_str(), r.port, "127.0.0.1", 0);
    if (rc == SSH_AGAIN) {
      ++it;
      continue;
    }
    std::string target = r.host + ":" + std::to_string(r.port);
    int sv[2] = {-1, -1};
    std::optional<Error> error;
    if (rc != SSH_OK) {
      error = make_error(Errc::kUnreachable, endpoint_.label + " cannot reach " + target + ": " + ssh_get_error(s));
    } else if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      error = sys_error(endpoint_.label + ": socketpair");
    }
    if (error) {
      if (r.channel != nullptr) {
        ssh_channel_free(r.channel);
      }
    } else {
      ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
      auto t = std::make_unique<Tunnel>();
      t->channel = r.channel;
      t->fd = UniqueFd(sv[0]);
      t->target = target;
      tunnels_.push_back(std::move(t));
    }
    {
      std::lock_guard lock(mu_);
      r.done = true;
      r.error = error;
      if (!error && !r.abandoned) {
        r.fd = UniqueFd(sv[1]);
      } else if (!error) {
        ::close(sv[1]);  // nobody wants it: the tunnel sees EOF and closes
      }
    }
    cv_.notify_all();
    it = opening.erase(it);
  }
}

bool BastionLink::service(Tunnel& t) {
  bool moved = false;
  char buf[65536];
  // target session -> channel
  if (!t.local_eof && t.to_channel.size() < kBufferCap) {
    ssize_t n = ::recv(t.fd.get(), buf, std::min(sizeof buf, kBufferCap - t.to_channel.size()), 0);
    if (n > 0) {
      t.to_channel.data.append(buf, static_cast<size_t>(n));
      moved = true;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      t.local_eof = true;
      moved = true;
    }
  }
  while (t.to_channel.size() > 0 && ssh_channel_is_open(t.channel) != 0) {
    uint32_t window = ssh_channel_window_size(t.channel);
    if (window == 0) {
      break;
    }
    int n = ssh_channel_write(t.channel, t.to_channel.head(),
                              static_cast<uint32_t>(std::min<size_t>(t.to_channel.size(), window)));
    if (n < 0) {
      t.done = true;
      return true;
    }
    if (n == 0) {
      break;
    }
    t.to_channel.consume(static_cast<size_t>(n));
    moved = true;
  }
  if (t.local_eof && t.to_channel.size() == 0 && !t.eof_sent) {
    if (ssh_channel_is_open(t.channel) != 0) {
      ssh_channel_send_eof(t.channel);
    }
    t.eof_sent = true;
  }
  // channel -> target session
  while (!t.remote_eof && t.to_local.size() < kBufferCap) {
    int n = ssh_channel_read_nonblocking(t.channel, buf, static_cast<uint32_t>(std::min(sizeof buf, kBufferCap - t.to_local.size())), 0);
    if (n > 0) {
      t.to_local.data.append(buf, static_cast<size_t>(n));
      moved = true;
    } else if (n == SSH_EOF || (n == 0 && ssh_channel_is_eof(t.channel) != 0)) {
      t.remote_eof = true;
      moved = true;
    } else if (n < 0 && n != SSH_AGAIN) {
      t.done = true;
      return true;
    } else {
      break;
    }
  }
  if (t.to_local.size() > 0) {
    ssize_t n = ::send(t.fd.get(), t.to_local.head(), t.to_local.size(), MSG_NOSIGNAL);
    if (n > 0) {
      t.to_local.consume(static_cast<size_t>(n));
      moved = true;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      t.done = true;  // the target session is gone
      return true;
    }
  }
  if (t.remote_eof && t.to_local.size() == 0 && !t.shut_local) {
    ::shutdown(t.fd.get(), SHUT_WR);
    t.shut_local = true;
  }
  bool closed = ssh_channel_is_closed(t.channel) != 0;
  if ((t.local_eof && t.eof_sent && t.remote_eof && t.to_local.size() == 0) ||
      (closed && t.to_local.size() == 0)) {
    t.done = true;
  }
  return moved;
}

void BastionLink::fail_all(std::deque<std::shared_ptr<Request>>& opening, const std::string& why) {
  std::lock_guard lock(mu_);
  for (auto& r : opening) {
    if (r->channel != nullptr) {
      ssh_channel_free(r->channel);
    }
    r->done = true;
    r->error = make_error(Errc::kUnreachable, why);
  }
  for (auto& r : requests_) {
    r->done = true;
    r->error = make_error(Errc::kUnreachable, why);
  }
  requests_.clear();
  opening.clear();
  state_ = State::kDown;
  cv_.notify_all();
}

void BastionLink::pump() {
  ssh_session s = session_.get();
  std::deque<std::shared_ptr<Request>> opening;
  std::string why = "the connection to " + endpoint_.label + " was lost";
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        why = endpoint_.label + " is shutting down";
        break;
      }
      while (!requests_.empty()) {
        opening.push_back(std::move(requests_.front()));
        requests_.pop_front();
      }
    }
    char drain[64];
    while (::read(wake_read_.get(), drain, sizeof drain) > 0) {
    }
    open_requests(opening);
    bool moved = false;
    for (auto& t : tunnels_) {
      moved = service(*t) || moved;
    }
    for (auto it = tunnels_.begin(); it != tunnels_.end();) {
      if ((*it)->done) {
        if (ssh_channel_is_open((*it)->channel) != 0) {
          ssh_channel_close((*it)->channel);
        }
        ssh_channel_free((*it)->channel);
        it = tunnels_.erase(it);
      } else {
        ++it;
      }
    }
    if (ssh_is_connected(s) == 0) {
      break;
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_read_.get(), POLLIN, 0});
    short ssh_events = POLLIN;
    if ((ssh_get_poll_flags(s) & SSH_WRITE_PENDING) != 0) {
      ssh_events |= POLLOUT;
    }
    fds.push_back({ssh_get_fd(s), ssh_events, 0});
    for (auto& t : tunnels_) {
      short events = 0;
      if (!t->local_eof && t->to_channel.size() < kBufferCap) {
        events |= POLLIN;
      }
      if (t->to_local.size() > 0) {
        events |= POLLOUT;
      }
      if (events != 0) {
        fds.push_back({t->fd.get(), events, 0});
      }
    }
    ::poll(fds.data(), fds.size(), moved ? 0 : 100);
  }
  for (auto& t : tunnels_) {
    ssh_channel_free(t->channel);
  }
  tunnels_.clear();  // closing our ends: every target session sees EOF
  fail_all(opening, why);
}

}  // namespace airlock::transport
