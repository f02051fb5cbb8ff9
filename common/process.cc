// posix_spawn with three pipes: a thread feeds stdin, poll() drains stdout/stderr until both
// close and the child exits, or the deadline passes and the child's process group is killed.
#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/fs.h"

extern char** environ;

namespace airlock {

Result<ProcessResult> SystemProcessRunner::run(const std::vector<std::string>& argv, const ProcessOptions& opts) {
  if (argv.empty()) return make_error(Errc::kInternal, "empty argv");
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return sys_error("pipe");
  }
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (opts.stdin_writer) {
    posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  std::vector<std::string> copy = argv;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error("cannot run " + argv[0], rc);
  in_r.reset();
  out_w.reset();
  err_w.reset();

  ::signal(SIGPIPE, SIG_IGN);  // a child that stops reading must give us EPIPE, not kill us
  Status feed_status;
  std::thread feeder;
  if (opts.stdin_writer) {
    feeder = std::thread([&] {
      int fd = in_w.get();
      feed_status = opts.stdin_writer([fd, &argv](const void* data, size_t len) {
        return write_all(fd, data, len, "standard input of " + argv[0]);
      });
      in_w.reset();
    });
  } else {
    in_w.reset();
  }

  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  struct pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        fds[i].fd = -1;
        --open_fds;
      } else if (sinks[i]->size() < opts.output_cap) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (feeder.joinable()) feeder.join();
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // A child that failed or timed out explains itself better than the EPIPE we got feeding it.
  if (!feed_status.ok() && result.exit_code == 0 && !result.timed_out) return feed_status.error();
  return result;
}

}  // namespace airlock
