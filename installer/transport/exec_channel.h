// One exec channel on an authenticated session, driven without blocking: opens the channel,
// starts the command, streams standard input (a string or a file, never more than the peer's
// window, so a command that stops reading cannot wedge us), collects stdout/stderr up to a cap,
// and records the exit status or signal. pump() returns within ~100 ms of a cancel request, so
// the owner can kill the remote process group through a second channel while this one is open.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <atomic>
#include <chrono>
#include <string>

#include "common/result.h"
#include "installer/transport/ssh_session.h"

namespace airlock::transport {

// Waits until the session's socket has something for libssh (or can take pending output),
// at most `max`.
void wait_session(ssh_session s, std::chrono::milliseconds max);

class ExecChannel {
 public:
  enum class Stop { kDone, kDeadline, kCancelled };

  // `label` names the node in messages. `filter_pgid`: the first stderr line is the exec
  // wrapper's "airlock-pgid N" and is removed from err().
  ExecChannel(ssh_session s, std::string label, size_t output_cap, bool filter_pgid);
  ~ExecChannel();
  ExecChannel(const ExecChannel&) = delete;
  ExecChannel& operator=(const ExecChannel&) = delete;

  void set_stdin(std::string data) { stdin_data_ = std::move(data); }
  void set_stdin_fd(int fd) { stdin_fd_ = fd; }  // read to EOF; not closed here

  // Opens the channel and starts `command`. kUnreachable when the session is gone.
  Status start(const std::string& command, Clock::time_point deadline, const std::atomic<bool>* cancel);
  // Moves data until the command has finished (exit status and EOF seen), the deadline passes
  // or *cancel becomes true.
  Result<Stop> pump(Clock::time_point deadline, const std::atomic<bool>* cancel);

  // Exit status and EOF seen; or the exit status came 2 s ago and EOF did not (a background
  // process the command left behind still holds its stdout: do not wait for it).
  bool finished() const;
  bool has_exit() const { return exit_code_ >= 0; }
  int exit_code() const { return exit_code_; }  // 128+signal when killed by a signal
  long pgid() const { return pgid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  bool truncated() const { return truncated_; }
  uint64_t stdin_sent() const { return stdin_sent_; }
  // Why standard input could not be read locally (a file read error), if it could not.
  const Status& stdin_status() const { return stdin_status_; }

 private:
  Result<bool> step();  // one round of I/O; true when something moved
  Result<bool> feed_stdin();
  Result<bool> drain(int is_stderr);
  void append(int is_stderr, const char* data, size_t len);
  Error lost(const char* what) const;

  static void on_exit_status(ssh_session, ssh_channel, int status, void* user);
  static void on_exit_signal(ssh_session, ssh_channel, const char* signal, int core,
                             const char* errmsg, const char* lang, void* user);

  ssh_session session_;
  ssh_channel channel_ = nullptr;
  std::string label_;
  size_t cap_;
  bool filter_pgid_;
  ssh_channel_callbacks_struct callbacks_{};

  std::string stdin_data_;
  int stdin_fd_ = -1;
  std::string chunk_;      // current piece of the stdin file
  size_t chunk_off_ = 0;
  size_t data_off_ = 0;
  bool stdin_closed_ = false;
  uint64_t stdin_sent_ = 0;
  Status stdin_status_;

  std::string out_, err_;
  std::string first_line_;  // stderr until the pgid line is complete
  bool pgid_done_ = false;
  long pgid_ = -1;
  bool truncated_ = false;
  int exit_code_ = -1;
  Clock::time_point exit_seen_{};
};

}  // namespace airlock::transport
