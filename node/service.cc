// The airlock-node service supervisor (see service.h and docs/node-side.md).
#include "node/service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "node/util.h"

namespace airlock::node {
namespace {

using nlohmann::json;

// /proc/PID/stat: the state letter and the start time (clock ticks since boot).
bool proc_stat(int64_t pid, char* state, uint64_t* start) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat", 1 << 16);
  if (!text.ok()) return false;
  size_t rp = text->rfind(')');
  if (rp == std::string::npos || rp + 2 >= text->size()) return false;
  // After ") ": field 3 (state) ... field 22 (starttime).
  std::string rest = text->substr(rp + 2);
  std::vector<std::string> f;
  size_t i = 0;
  while (i < rest.size() && f.size() < 20) {
    size_t j = rest.find(' ', i);
    if (j == std::string::npos) j = rest.size();
    f.push_back(rest.substr(i, j - i));
    i = j + 1;
  }
  if (f.size() < 20) return false;
  *state = f[0].empty() ? '?' : f[0][0];
  *start = std::strtoull(f[19].c_str(), nullptr, 10);
  return true;
}

std::string boot_id() {
  auto b = read_file("/proc/sys/kernel/random/boot_id", 4096);
  return b.ok() ? trim_blanks(*b) : "";
}

std::string tail_of(const std::string& path, size_t max_bytes = 600) {
  auto t = read_file(path, 64ull << 20);
  if (!t.ok()) return "";
  std::string s = *t;
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// The pid file: {"pid":N,"start_time":T,"boot_id":"...","exec":[...],"started_at":"..."}.
struct PidRecord {
  int64_t pid = 0;
  uint64_t start_time = 0;
  std::string boot;
};

bool read_pid_file(const std::string& path, PidRecord* r) {
  auto t = read_file(path, 1 << 16);
  if (!t.ok()) return false;
  json j = json::parse(*t, nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer() || !j.contains("start_time") ||
      !j["start_time"].is_number_unsigned()) {
    return false;
  }
  r->pid = j["pid"].get<int64_t>();
  r->start_time = j["start_time"].get<uint64_t>();
  r->boot = j.value("boot_id", "");
  return r->pid > 1;
}

// The recorded process is still the one we started (same boot, same start time) and not a zombie.
bool alive(const PidRecord& r) {
  if (r.pid <= 1) return false;
  if (!r.boot.empty() && r.boot != boot_id()) return false;
  char state = '?';
  uint64_t start = 0;
  if (!proc_stat(r.pid, &state, &start)) return false;
  return start == r.start_time && state != 'Z' && state != 'X' && state != 'x';
}

// An exclusive flock on the service's lock file for the lifetime of the object.
class ServiceLock {
 public:
  static Result<ServiceLock> take(const std::string& path) {
    TRY_STATUS(make_dirs(dirname_of(path)));
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return sys_error("open " + path);
    ServiceLock l;
    l.fd_ = UniqueFd(fd);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return sys_error("flock " + path);
    }
    return l;
  }

 private:
  UniqueFd fd_;
};

Result<UnitSpec> load_unit(const ServicePaths& p, const std::string& name) {
  auto text = read_file(p.unit, 1 << 20);
  if (!text.ok()) {
    if (text.error().root_code() == Errc::kNotFound || !path_exists(p.unit)) {
      return make_error(Errc::kNotFound, "service " + name + ": no unit file " + p.unit);
    }
    return text.error();
  }
  return parse_unit(*text, p.unit);
}

void close_from(int lowest, int keep) {
#ifdef SYS_close_range
  if (keep >= lowest) {
    if (keep > lowest && ::syscall(SYS_close_range, lowest, keep - 1, 0) != 0) {
      for (int fd = lowest; fd < keep; ++fd) ::close(fd);
    }
    if (::syscall(SYS_close_range, keep + 1, ~0U, 0) == 0) return;
  } else if (::syscall(SYS_close_range, lowest, ~0U, 0) == 0) {
    return;
  }
#endif
  long max = ::sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = lowest; fd < max; ++fd) {
    if (fd != keep) ::close(fd);
  }
}

// Starts the unit's ExecStart detached; the service's pid. Exec errors come back through a pipe.
Result<int64_t> spawn(const UnitSpec& u, const ServicePaths& p) {
  std::string wd = u.working_directory.empty() ? "/" : u.working_directory;
  if (u.working_directory_optional) {
    struct stat st;
    if (::stat(wd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) wd = "/";
  }
  if (::access(u.exec_start[0].c_str(), X_OK) != 0) {
    return sys_error(u.path + ": ExecStart program " + u.exec_start[0] + " cannot be run");
  }
  TRY_STATUS(make_dirs(dirname_of(p.log_file)));
  UniqueFd log(::open(p.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!log.valid()) return sys_error("open " + p.log_file);
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return sys_error("open /dev/null");

  // Everything the child needs, built before fork (nothing allocates after it).
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& e : u.environment) {
    std::string key = e.substr(0, e.find('='));
    std::erase_if(env, [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    env.push_back(e);
  }
  std::vector<char*> argv, envp;
  for (const auto& a : u.exec_start) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  pid_t mid = ::fork();
  if (mid < 0) return sys_error("fork");
  if (mid == 0) {
    // The intermediate child exits at once, so the service (a grandchild) is adopted by init
    // (or the nearest subreaper) and leads a new session and process group of its own.
    pid_t svc = ::fork();
    if (svc != 0) {
      int64_t v = svc;
      (void)!::write(wr.get(), &v, sizeof v);
      ::_exit(0);
    }
    int report[2] = {0, 0};
    ::setsid();
    ::umask(022);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
    if (::dup2(devnull.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) {
      report[0] = 1;
    } else if (::chdir(wd.c_str()) != 0) {
      report[0] = 2;
    } else {
      close_from(3, wr.get());
      ::execve(argv[0], argv.data(), envp.data());
      report[0] = 3;
    }
    report[1] = errno;
    (void)!::write(wr.get(), report, sizeof report);
    ::_exit(127);
  }
  wr.reset();
  int status = 0;
  while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }
  int64_t pid = 0;
  ssize_t n = ::read(rd.get(), &pid, sizeof pid);
  if (n != static_cast<ssize_t>(sizeof pid) || pid <= 0) {
    return make_error(Errc::kIo, u.path + ": could not start " + u.exec_start[0] + " (fork failed)");
  }
  int report[2] = {0, 0};
  size_t got = 0;
  while (got < sizeof report) {
    ssize_t r = ::read(rd.get(), reinterpret_cast<char*>(report) + got, sizeof report - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  if (got == sizeof report) {
    const char* what = report[0] == 1 ? "redirect output to " : report[0] == 2 ? "change to WorkingDirectory " : "exec ";
    std::string obj = report[0] == 1 ? p.log_file : report[0] == 2 ? wd : u.exec_start[0];
    return make_error(Errc::kIo, u.path + ": could not " + what + obj + ": " + std::strerror(report[1]));
  }
  return pid;
}

void sleep_ms(int64_t ms) {
  struct timespec ts = {static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Waits until the process is gone (or a zombie); false at the deadline.
bool wait_gone(const PidRecord& r, int64_t ms) {
  int64_t end = mono_ms() + ms;
  for (;;) {
    if (!alive(r)) return true;
    if (mono_ms() >= end) return false;
    sleep_ms(20);
  }
}

std::string utc_now() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Result<ServiceState> start_locked(const Layout& l, const std::string& name, const ServicePaths& p,
                                  const StartOptions& o) {
  ServiceState s;
  PidRecord rec;
  if (read_pid_file(p.pid_file, &rec) && alive(rec)) {
    s.active = true;
    s.pid = rec.pid;
    return s;
  }
  (void)l;
  TRY_ASSIGN(UnitSpec u, load_unit(p, name));
  TRY_ASSIGN(int64_t pid, spawn(u, p));
  char state = '?';
  rec = PidRecord{pid, 0, boot_id()};
  if (!proc_stat(pid, &state, &rec.start_time)) {
    return make_error(Errc::kIo, "service " + name + " exited at once; " + p.log_file + ": " + tail_of(p.log_file));
  }
  json j = {{"pid", pid},         {"start_time", rec.start_time}, {"boot_id", rec.boot},
            {"exec", u.exec_start}, {"unit", p.unit},             {"started_at", utc_now()}};
  TRY_STATUS(make_dirs(dirname_of(p.pid_file)));
  TRY_STATUS(write_file_atomic(p.pid_file, j.dump() + "\n", 0644));
  if (o.settle_ms > 0) sleep_ms(o.settle_ms);
  if (!alive(rec)) {
    (void)::unlink(p.pid_file.c_str());
    return make_error(Errc::kIo, "service " + name + " exited right after it started; last output in " + p.log_file +
                                     ": " + tail_of(p.log_file));
  }
  s.active = true;
  s.pid = pid;
  s.changed = true;
  return s;
}

Result<ServiceState> stop_locked(const std::string& name, const ServicePaths& p) {
  ServiceState s;
  PidRecord rec;
  bool have = read_pid_file(p.pid_file, &rec);
  if (!have || !alive(rec)) {
    if (path_exists(p.pid_file)) {
      if (::unlink(p.pid_file.c_str()) != 0 && errno != ENOENT) return sys_error("remove " + p.pid_file);
      s.stale_pid_file = true;
    }
    return s;
  }
  // The unit decides the signal and the grace period; without a readable unit, systemd's defaults.
  int sig = SIGTERM;
  int64_t grace = 90000;
  if (auto u = load_unit(p, name); u.ok()) {
    sig = u->kill_signal;
    grace = u->timeout_stop_ms;
  }
  // The service leads its own session and process group (setsid at start): signal the group.
  pid_t pgid = ::getpgid(static_cast<pid_t>(rec.pid));
  auto signal_all = [&](int sg) {
    if (pgid == rec.pid) {
      (void)::kill(-pgid, sg);
    } else {
      (void)::kill(static_cast<pid_t>(rec.pid), sg);
    }
  };
  signal_all(sig);
  if (!wait_gone(rec, grace)) {
    signal_all(SIGKILL);
    s.killed = true;
    if (!wait_gone(rec, 5000)) {
      return make_error(Errc::kIo, "service " + name + " (pid " + std::to_string(rec.pid) +
                                       ") is still running 5 s after SIGKILL");
    }
  }
  // Whatever is left of its process group (children it started) goes too.
  if (pgid == rec.pid && ::kill(-pgid, 0) == 0) (void)::kill(-pgid, SIGKILL);
  if (::unlink(p.pid_file.c_str()) != 0 && errno != ENOENT) return sys_error("remove " + p.pid_file);
  s.changed = true;
  return s;
}

// --- the CLI ---------------------------------------------------------------------------------

int emit(json j, int rc) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
  return rc;
}

int usage(const std::string& msg) {
  std::fprintf(stderr, "airlock-node service: %s\nusage:\n%s", msg.c_str(), kServiceUsage);
  return emit({{"ok", false}, {"error", "airlock-node service: " + msg}, {"code", "usage"}}, 2);
}

int failed(const std::string& name, const Error& e) {
  return emit({{"ok", false}, {"name", name}, {"error", e.describe()}, {"code", errc_name(e.root_code())}}, 1);
}

}  // namespace

const char* const kServiceUsage =
    "       airlock-node service start|stop|restart|is-active|status NAME [--root-dir P]\n";

Status check_service_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' && name[0] != '-' &&
            name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.@-") ==
                std::string_view::npos;
  if (!ok) {
    return make_error(Errc::kInvalidArgument, "bad service name '" + std::string(name) +
                                                  "' (1..128 of letters, digits, : _ . @ -, not starting with . or -)");
  }
  return {};
}

ServicePaths service_paths(const Layout& l, const std::string& name) {
  return {join_path(l.prefix, "etc/systemd/system/" + name + ".service"),
          join_path(l.prefix, "run/airlock/" + name + ".pid"), join_path(l.prefix, "run/airlock/" + name + ".lock"),
          join_path(l.prefix, "var/log/airlock/" + name + ".log")};
}

Result<ServiceState> service_start(const Layout& l, const std::string& name, const StartOptions& o) {
  ServicePaths p = service_paths(l, name);
  TRY_ASSIGN(ServiceLock lock, ServiceLock::take(p.lock_file));
  return start_locked(l, name, p, o);
}

Result<ServiceState> service_stop(const Layout& l, const std::string& name) {
  ServicePaths p = service_paths(l, name);
  TRY_ASSIGN(ServiceLock lock, ServiceLock::take(p.lock_file));
  return stop_locked(name, p);
}

Result<ServiceState> service_restart(const Layout& l, const std::string& name, const StartOptions& o) {
  ServicePaths p = service_paths(l, name);
  TRY_ASSIGN(ServiceLock lock, ServiceLock::take(p.lock_file));
  // Check the unit before stopping, so a broken unit does not leave the service down.
  TRY_ASSIGN(UnitSpec u, load_unit(p, name));
  (void)u;
  TRY_ASSIGN(ServiceState stopped, stop_locked(name, p));
  TRY_ASSIGN(ServiceState s, start_locked(l, name, p, o));
  s.killed = stopped.killed;
  s.changed = true;
  return s;
}

Result<ServiceState> service_status(const Layout& l, const std::string& name) {
  ServicePaths p = service_paths(l, name);
  ServiceState s;
  PidRecord rec;
  if (read_pid_file(p.pid_file, &rec) && alive(rec)) {
    s.active = true;
    s.pid = rec.pid;
  }
  return s;
}

int run_service_cli(const std::vector<std::string>& args) {
  std::string verb, name, root = "/";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--root-dir") {
      if (i + 1 >= args.size()) return usage("--root-dir needs a value");
      root = args[++i];
    } else if (a.size() > 1 && a[0] == '-') {
      return usage("unknown option '" + a + "'");
    } else if (verb.empty()) {
      verb = a;
    } else if (name.empty()) {
      name = a;
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }
  if (verb.empty()) return usage("start, stop, restart, is-active or status?");
  if (verb != "start" && verb != "stop" && verb != "restart" && verb != "is-active" && verb != "status") {
    return usage("unknown subcommand '" + verb + "'");
  }
  if (name.empty()) return usage(verb + ": want a service NAME");
  if (name.size() > 8 && name.substr(name.size() - 8) == ".service") name.resize(name.size() - 8);
  if (auto st = check_service_name(name); !st.ok()) return usage(st.error().describe());
  struct stat st;
  if (root.empty() || ::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return usage("--root-dir '" + root + "' is not a directory");
  }
  Layout l;
  l.prefix = root;
  ServicePaths p = service_paths(l, name);
  Result<ServiceState> r = verb == "start"     ? service_start(l, name)
                           : verb == "stop"    ? service_stop(l, name)
                           : verb == "restart" ? service_restart(l, name)
                                               : service_status(l, name);
  if (!r.ok()) return failed(name, r.error());
  json j = {{"ok", true}, {"name", name}, {"active", r->active}, {"pid", r->active ? json(r->pid) : json()}};
  if (verb == "start" || verb == "stop" || verb == "restart") j["changed"] = r->changed;
  if (verb == "stop" || verb == "restart") j["killed"] = r->killed;
  if (verb == "status") {
    j["unit"] = p.unit;
    j["unit_exists"] = path_exists(p.unit);
    j["log"] = p.log_file;
    j["pid_file"] = p.pid_file;
    if (auto u = load_unit(p, name); u.ok()) {
      j["exec"] = u->exec_start;
    } else if (path_exists(p.unit)) {
      j["unit_error"] = u.error().describe();
    }
  }
  if (verb == "start" || verb == "restart") j["log"] = p.log_file;
  // is-active answers like systemctl: exit 0 when active, 3 when not.
  return emit(j, verb == "is-active" && !r->active ? 3 : 0);
}

}  // namespace airlock::node
