// See local_transport.h. cancel() cannot reach into SystemProcessRunner, so each command is
// started as `sh -c 'echo $$ > PIDFILE; exec timeout ... "$@"'`: the pid it writes is its
// process group (posix_spawn made it a group leader, and exec keeps the pid). While the command
// runs, a watcher thread sends that group TERM once cancel() is seen, and KILL 2 s later.
#include "installer/transport/local_transport.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "installer/transport/remote_command.h"

namespace airlock::transport {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kGrace{5};

long read_pid(const std::string& path) {
  auto text = read_file(path, 64);
  if (!text.ok()) {
    return -1;
  }
  long pid = std::strtol(text->c_str(), nullptr, 10);
  return pid > 1 ? pid : -1;
}

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

LocalTransport::LocalTransport(inventory::Host host) : host_(std::move(host)) {
  char tmpl[] = "/tmp/airlock-local-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) {
    pid_dir_ = tmpl;
  }
}

LocalTransport::~LocalTransport() {
  if (!pid_dir_.empty()) {
    remove_tree(pid_dir_);
  }
}

void LocalTransport::cancel() { cancelled_.store(true); }

Status LocalTransport::connect() {
  if (cancelled_.load()) {
    return make_error(Errc::kCancelled, host_.name + ": cancelled");
  }
  return {};
}

Result<ExecResult> LocalTransport::exec(const std::vector<std::string>& argv, const ExecOptions& opts) {
  TRY_STATUS(connect());
  if (argv.empty()) {
    return make_error(Errc::kInvalidArgument, host_.name + ": empty command");
  }
  if (pid_dir_.empty()) {
    return make_error(Errc::kIo, host_.name + ": cannot create a temporary folder under /tmp");
  }
  std::string pid_file = pid_dir_ + "/run-" + std::to_string(++runs_) + ".pid";
  std::string script = "echo $$ > \"$0\"; exec timeout -k " + std::to_string(kKillAfter.count()) + "s " +
                       format_seconds(std::max(opts.timeout, std::chrono::milliseconds(1))) + " \"$@\"";
  std::vector<std::string> full;
  if (host_.sudo) {
    full = {"sudo", "-n"};
  }
  full.insert(full.end(), {"sh", "-c", script, pid_file});
  full.insert(full.end(), argv.begin(), argv.end());

  ProcessOptions po;
  po.timeout = opts.timeout + kKillAfter + kGrace;
  po.output_cap = opts.output_cap + 1;  // one byte more tells us it was cut
  if (!opts.stdin_data.empty()) {
    po.stdin_writer = [&opts](const std::function<Status(const void*, size_t)>& write) {
      return write(opts.stdin_data.data(), opts.stdin_data.size());
    };
  }

  std::atomic<bool> done{false};
  std::thread watcher([&] {
    Clock::time_point termed{};
    while (!done.load()) {
      if (cancelled_.load()) {
        long pgid = read_pid(pid_file);
        if (pgid > 0 && termed == Clock::time_point{}) {
          ::kill(-pgid, SIGTERM);
          termed = Clock::now();
        } else if (pgid > 0 && Clock::now() - termed > std::chrono::seconds(2)) {
          ::kill(-pgid, SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto start = Clock::now();
  auto ran = runner_.run(full, po);
  done.store(true);
  watcher.join();
  ::unlink(pid_file.c_str());
  if (cancelled_.load()) {
    return make_error(Errc::kCancelled, host_.name + ": cancelled; the command was killed");
  }
  if (!ran.ok()) {
    return ran.error().wrap(host_.name);
  }
  ExecResult r;
  r.exit_code = ran->exit_code;
  r.out = std::move(ran->out);
  r.err = std::move(ran->err);
  for (std::string* s : {&r.out, &r.err}) {
    if (s->size() > opts.output_cap) {
      s->resize(opts.output_cap);
      r.truncated = true;
    }
  }
  r.timed_out = ran->timed_out ||
                ((r.exit_code == 124 || r.exit_code == 137) && Clock::now() - start >= opts.timeout);
  if (ran->timed_out) {
    r.exit_code = 137;
  }
  return r;
}

Result<uint64_t> LocalTransport::upload(const std::string& local_path, const std::string& remote_path,
                                        const std::string& sha256_hex, int mode) {
  TRY_STATUS(connect());
  std::string hex = sha256_hex.rfind("sha256:", 0) == 0 ? sha256_hex.substr(7) : sha256_hex;
  std::string what = host_.name + ": copy of " + local_path + " to " + remote_path;
  if (!is_hex64(hex)) {
    return make_error(Errc::kInvalidArgument, what + ": bad SHA-256 '" + sha256_hex + "'");
  }
  auto existing = sha256_file(remote_path);
  if (existing.ok() && digest_hex(*existing) == hex) {
    return uint64_t{0};
  }
  TRY_ASSIGN(UniqueFd in, open_read(local_path));
  std::string dir = dirname_of(remote_path);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(Errc::kIo, what + ": cannot create folder " + dir + ": " + ec.message());
  }
  std::string tmpl = dir + "/." + basename_of(remote_path) + ".airlock-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  UniqueFd out(::mkostemp(name.data(), O_CLOEXEC));
  if (!out.valid()) {
    return sys_error(what + ": cannot create a temporary file in " + dir);
  }
  std::string tmp = name.data();
  auto fail = [&](Error e) -> Error {
    ::unlink(tmp.c_str());
    return e;
  };
  Sha256 hash;
  uint64_t total = 0;
  std::vector<char> buf(256u << 10);
  while (true) {
    if (cancelled_.load()) {
      return fail(make_error(Errc::kCancelled, what + ": cancelled"));
    }
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return fail(sys_error(what + ": read " + local_path));
    }
    if (n == 0) {
      break;
    }
    hash.update(buf.data(), static_cast<size_t>(n));
    Status w = write_all(out.get(), buf.data(), static_cast<size_t>(n), tmp);
    if (!w.ok()) {
      return fail(w.error().wrap(what));
    }
    total += static_cast<uint64_t>(n);
  }
  std::string got(digest_hex(hash.finish_digest()));
  if (got != hex) {
    return fail(make_error(Errc::kIntegrity, what + ": digest mismatch: got " + got + ", expected " + hex));
  }
  if (::fchmod(out.get(), static_cast<mode_t>(mode) & 07777) != 0 || ::fsync(out.get()) != 0) {
    return fail(sys_error(what + ": chmod/fsync " + tmp));
  }
  out.reset();
  if (::rename(tmp.c_str(), remote_path.c_str()) != 0) {
    return fail(sys_error(what + ": rename into place"));
  }
  TRY_STATUS(fsync_path(dir));
  return total;
}

}  // namespace airlock::transport
