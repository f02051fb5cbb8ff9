// See exec_channel.h. The session is in non-blocking mode: every libssh call returns at once and
// we sleep in poll() on the session socket between rounds (never more than 100 ms, so a cancel
// request is seen quickly). Note for libssh 0.10: ssh_channel_read_nonblocking() stops
// processing packets once the remote EOF arrived, so after EOF ssh_channel_get_exit_status()
// (non-blocking here) is what keeps packets, and so the exit status, coming in.
#include "installer/transport/exec_channel.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "installer/transport/remote_command.h"

namespace airlock::transport {
namespace {

constexpr size_t kChunk = 256u << 10;
constexpr std::chrono::milliseconds kTick{100};
constexpr std::chrono::seconds kEofWait{2};

std::chrono::milliseconds until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), kTick);
}

}  // namespace

void wait_session(ssh_session s, std::chrono::milliseconds max) {
  short events = POLLIN;
  if ((ssh_get_poll_flags(s) & SSH_WRITE_PENDING) != 0) {
    events |= POLLOUT;
  }
  pollfd p{ssh_get_fd(s), events, 0};
  ::poll(&p, 1, static_cast<int>(max.count()));
}

ExecChannel::ExecChannel(ssh_session s, std::string label, size_t output_cap, bool filter_pgid)
    : session_(s), label_(std::move(label)), cap_(output_cap), filter_pgid_(filter_pgid) {
  pgid_done_ = !filter_pgid;
}

ExecChannel::~ExecChannel() {
  if (channel_ != nullptr) {
    if (ssh_channel_is_open(channel_) != 0) {
      ssh_channel_close(channel_);
    }
    ssh_channel_free(channel_);
  }
}

Error ExecChannel::lost(const char* what) const {
  std::string detail = ssh_get_error(session_);
  if (detail.empty() || detail == "Success") {
    detail = "connection closed";
  }
  Errc code = ssh_is_connected(session_) != 0 ? Errc::kIo : Errc::kUnreachable;
  return make_error(code, label_ + ": " + what + ": " + detail);
}

void ExecChannel::on_exit_status(ssh_session, ssh_channel, int status, void* user) {
  auto* self = static_cast<ExecChannel*>(user);
  self->exit_code_ = status & 0xff;
  self->exit_seen_ = Clock::now();
}

void ExecChannel::on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*,
                                 const char*, void* user) {
  int number = signal_number(signal != nullptr ? signal : "");
  auto* self = static_cast<ExecChannel*>(user);
  self->exit_code_ = number > 0 ? 128 + number : 255;
  self->exit_seen_ = Clock::now();
}

Status ExecChannel::start(const std::string& command, Clock::time_point deadline,
                          const std::atomic<bool>* cancel) {
  channel_ = ssh_channel_new(session_);
  if (channel_ == nullptr) {
    return lost("cannot create a channel");
  }
  callbacks_.userdata = this;
  callbacks_.channel_exit_status_function = &ExecChannel::on_exit_status;
  callbacks_.channel_exit_signal_function = &ExecChannel::on_exit_signal;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_, &callbacks_);

  bool opened = false;
  while (true) {
    int rc = opened ? ssh_channel_request_exec(channel_, command.c_str()) : ssh_channel_open_session(channel_);
    if (rc == SSH_OK) {
      if (opened) {
        return {};
      }
      opened = true;
      continue;
    }
    if (rc != SSH_AGAIN) {
      return lost(opened ? "cannot start the command" : "cannot open a session channel");
    }
    // Once the exec request may have gone out, a cancel is left to pump(), which can kill
    // what it started.
    if (!opened && cancel != nullptr && cancel->load()) {
      return make_error(Errc::kCancelled, label_ + ": cancelled");
    }
    if (Clock::now() >= deadline) {
      return make_error(Errc::kTimeout, label_ + ": timed out starting the command");
    }
    wait_session(session_, until(deadline));
  }
}

bool ExecChannel::finished() const {
  if (has_exit() && Clock::now() - exit_seen_ >= kEofWait) {
    return true;
  }
  return ssh_channel_is_eof(channel_) != 0 && (has_exit() || ssh_channel_is_closed(channel_) != 0);
}

void ExecChannel::append(int is_stderr, const char* data, size_t len) {
  if (is_stderr && !pgid_done_) {
    first_line_.append(data, len);
    size_t nl = first_line_.find('\n');
    if (nl == std::string::npos && first_line_.size() < 256) {
      return;
    }
    pgid_done_ = true;
    std::string rest;
    if (nl != std::string::npos) {
      pgid_ = parse_pgid_line(std::string_view(first_line_).substr(0, nl));
    }
    rest = pgid_ > 0 ? first_line_.substr(nl + 1) : first_line_;
    first_line_.clear();
    append(1, rest.data(), rest.size());
    return;
  }
  std::string& sink = is_stderr ? err_ : out_;
  size_t room = sink.size() < cap_ ? cap_ - sink.size() : 0;
  sink.append(data, std::min(room, len));
  if (len > room) {
    truncated_ = true;
  }
}

Result<bool> ExecChannel::drain(int is_stderr) {
  char buf[65536];
  bool moved = false;
  while (true) {
    int n = ssh_channel_read_nonblocking(channel_, buf, sizeof buf, is_stderr);
    if (n > 0) {
      append(is_stderr, buf, static_cast<size_t>(n));
      moved = true;
      continue;
    }
    if (n == 0 || n == SSH_EOF || n == SSH_AGAIN) {
      return moved;
    }
    return lost("reading the command's output");
  }
}

Result<bool> ExecChannel::feed_stdin() {
  if (stdin_closed_) {
    return false;
  }
  if (ssh_channel_is_closed(channel_) != 0) {
    stdin_closed_ = true;  // the command is gone; nothing more to say to it
    return false;
  }
  const char* data = nullptr;
  size_t left = 0;
  if (stdin_fd_ >= 0) {
    if (chunk_off_ == chunk_.size()) {
      chunk_.resize(kChunk);
      ssize_t got;
      do {
        got = ::read(stdin_fd_, chunk_.data(), chunk_.size());
      } while (got < 0 && errno == EINTR);
      if (got < 0) {
        stdin_status_ = sys_error(label_ + ": reading the file to send");
        got = 0;
      }
      chunk_.resize(static_cast<size_t>(got));
      chunk_off_ = 0;
    }
    data = chunk_.data() + chunk_off_;
    left = chunk_.size() - chunk_off_;
  } else {
    data = stdin_data_.data() + data_off_;
    left = stdin_data_.size() - data_off_;
  }
  if (left == 0) {
    ssh_channel_send_eof(channel_);
    stdin_closed_ = true;
    return true;
  }
  uint32_t window = ssh_channel_window_size(channel_);
  if (window == 0) {
    return false;
  }
  size_t n = std::min({left, static_cast<size_t>(window), kChunk});
  int rc = ssh_channel_write(channel_, data, static_cast<uint32_t>(n));
  if (rc == SSH_ERROR) {
    if (ssh_is_connected(session_) == 0) {
      return lost("sending standard input");
    }
    stdin_closed_ = true;  // the remote side closed its input; the exit status will tell
    return true;
  }
  if (stdin_fd_ >= 0) {
    chunk_off_ += static_cast<size_t>(rc);
  } else {
    data_off_ += static_cast<size_t>(rc);
  }
  stdin_sent_ += static_cast<uint64_t>(rc);
  return rc > 0;
}

Result<bool> ExecChannel::step() {
  TRY_ASSIGN(bool fed, feed_stdin());
  TRY_ASSIGN(bool out, drain(0));
  TRY_ASSIGN(bool err, drain(1));
  if (!has_exit() && ssh_channel_is_eof(channel_) != 0) {
    ssh_channel_get_exit_status(channel_);  // processes pending packets without blocking
  }
  if (ssh_is_connected(session_) == 0 && !finished()) {
    return lost("connection lost");
  }
  return fed || out || err;
}

Result<ExecChannel::Stop> ExecChannel::pump(Clock::time_point deadline, const std::atomic<bool>* cancel) {
  while (true) {
    if (cancel != nullptr && cancel->load()) {
      return Stop::kCancelled;
    }
    TRY_ASSIGN(bool moved, step());
    if (finished()) {
      return Stop::kDone;
    }
    if (Clock::now() >= deadline) {
      return Stop::kDeadline;
    }
    if (!moved) {
      wait_session(session_, until(deadline));
    }
  }
}

}  // namespace airlock::transport
