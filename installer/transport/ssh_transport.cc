// See ssh_transport.h. connect(): take a MaxStartups slot, get a socket (TCP, or a tunnel through
// the bastion link), log in, release the slot. exec()/upload(): one ExecChannel each, pumped
// until done; on the local deadline (timeout + kill-after + grace) or cancel(), the remote
// process group is killed through a second channel, with the pgid the exec wrapper printed.
#include "installer/transport/ssh_transport.h"

#include <algorithm>
#include <optional>

#include "common/fs.h"
#include "installer/transport/remote_command.h"

namespace airlock::transport {
namespace {

// How long past `timeout -k` we wait before killing the group ourselves.
constexpr std::chrono::seconds kGrace{5};
// How long a kill command, or the command after TERM, gets to finish.
constexpr std::chrono::seconds kKillWait{3};

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

BastionLink* SshShared::link(const std::string& name) {
  std::lock_guard lock(mu);
  auto it = links.find(name);
  if (it != links.end()) {
    return it->second.get();
  }
  auto b = bastions.find(name);
  if (b == bastions.end()) {
    return nullptr;
  }
  inventory::Bastion bastion = b->second;
  if (bastion.name.empty()) {
    bastion.name = name;
  }
  auto link = std::make_unique<BastionLink>(bastion, settings, keys, gate);
  return links.emplace(name, std::move(link)).first->second.get();
}

SshTransport::SshTransport(std::shared_ptr<SshShared> shared, inventory::Host host)
    : shared_(std::move(shared)), host_(std::move(host)) {
  if (host_.user.empty()) {
    host_.user = "root";
  }
  label_ = host_.name + " (" + host_.address + ":" + std::to_string(host_.port);
  if (!host_.bastion.empty()) {
    label_ += " via bastion " + host_.bastion;
  }
  label_ += ")";
}

SshTransport::~SshTransport() = default;

void SshTransport::cancel() { cancel_.cancel(); }

Result<UniqueFd> SshTransport::open_socket(const Endpoint& ep) {
  const SshSettings& st = shared_->settings;
  if (host_.bastion.empty()) {
    return tcp_connect(ep, st.connect_timeout, cancel_.flag());
  }
  BastionLink* link = shared_->link(host_.bastion);
  if (link == nullptr) {
    return make_error(Errc::kInvalidArgument, label_ + ": unknown bastion " + host_.bastion);
  }
  // The bastion's own connect is bounded by its connect timeout; the tunnel gets one more.
  auto deadline = Clock::now() + 2 * st.connect_timeout;
  return link->open_tunnel(label_, host_.address, host_.port, deadline, cancel_.flag());
}

Status SshTransport::connect() {
  if (cancel_.cancelled()) {
    return make_error(Errc::kCancelled, label_ + ": cancelled");
  }
  if (session_ && !session_dead_) {
    return {};
  }
  session_.reset();
  session_dead_ = false;
  Endpoint ep;
  ep.label = label_;
  ep.address = host_.address;
  ep.port = host_.port;
  ep.user = host_.user;
  ep.identity_file = host_.identity_file;
  ep.pinned = host_.host_key_fingerprints;
  std::string key = host_.address + ":" + std::to_string(host_.port);
  // Through a bastion: one cap for everything going through it (its max_startups), one for
  // the target's sshd. Always taken in this order, so two connects cannot deadlock.
  std::optional<StartupGate::Slot> through;
  if (!host_.bastion.empty()) {
    auto b = shared_->bastions.find(host_.bastion);
    if (b == shared_->bastions.end()) {
      return make_error(Errc::kInvalidArgument, label_ + ": unknown bastion " + host_.bastion);
    }
    through = shared_->gate.acquire("via:" + host_.bastion, b->second.max_startups, cancel_.flag());
    if (!through) {
      return make_error(Errc::kCancelled, label_ + ": cancelled");
    }
    key = host_.bastion + "|" + key;
  }
  auto slot = shared_->gate.acquire(key, shared_->settings.max_startups, cancel_.flag());
  if (!slot) {
    return make_error(Errc::kCancelled, label_ + ": cancelled");
  }
  TRY_ASSIGN(UniqueFd fd, open_socket(ep));
  TRY_ASSIGN(session_, ssh_login(ep, std::move(fd), shared_->settings, shared_->keys, &cancel_));
  ssh_set_blocking(session_.get(), 0);
  return {};
}

Error SshTransport::after_failure(const Error& e) {
  if (e.code == Errc::kUnreachable) {
    // The next call reconnects. Not freed here: the failed call's channels still point into it.
    session_dead_ = true;
  }
  return e;
}

Result<ExecResult> SshTransport::exec(const std::vector<std::string>& argv, const ExecOptions& opts) {
  if (argv.empty()) {
    return make_error(Errc::kInvalidArgument, label_ + ": empty command");
  }
  TRY_STATUS(connect());
  ExecChannel ch(session_.get(), label_, opts.output_cap, true);
  ch.set_stdin(opts.stdin_data);
  return run(ch, argv, opts.timeout);
}

Result<ExecResult> SshTransport::run(ExecChannel& ch, const std::vector<std::string>& argv,
                                     std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  auto hard_deadline = start + timeout + kKillAfter + kGrace;
  Status started = ch.start(exec_wrapper(argv, timeout, host_.sudo), hard_deadline, &cancel_.flag());
  if (!started.ok()) {
    return after_failure(started.error());
  }
  auto stop = ch.pump(hard_deadline, &cancel_.flag());
  if (!stop.ok()) {
    return after_failure(stop.error());
  }
  if (*stop == ExecChannel::Stop::kCancelled) {
    stop_after_cancel(ch);
    return make_error(Errc::kCancelled, label_ + ": cancelled; the remote command was killed");
  }
  ExecResult r;
  if (*stop == ExecChannel::Stop::kDeadline) {
    // `timeout` did not end it (stopped, or gone while something still holds the channel).
    kill_group(ch, "KILL");
    r.exit_code = ch.has_exit() ? ch.exit_code() : 137;
    r.timed_out = true;
  } else if (!ch.has_exit()) {
    return after_failure(make_error(Errc::kUnreachable, label_ + ": the command ended without an exit status"));
  } else {
    r.exit_code = ch.exit_code();
    r.timed_out = (r.exit_code == 124 || r.exit_code == 137) && Clock::now() - start >= timeout;
  }
  r.out = ch.out();
  r.err = ch.err();
  r.truncated = ch.truncated();
  return r;
}

void SshTransport::kill_group(ExecChannel& main, const char* signal) {
  // The pgid line is the first thing the wrapper prints; give it a moment if it is not here yet.
  auto limit = Clock::now() + kKillWait;
  while (main.pgid() <= 0 && !main.finished() && Clock::now() < limit) {
    auto stop = main.pump(std::min(limit, Clock::now() + std::chrono::milliseconds(100)), nullptr);
    if (!stop.ok()) {
      return;
    }
  }
  if (main.pgid() <= 0 || main.finished()) {
    return;
  }
  ExecChannel killer(session_.get(), label_, 4096, false);
  auto deadline = Clock::now() + kKillWait;
  if (killer.start(kill_command(main.pgid(), signal, host_.sudo), deadline, nullptr).ok()) {
    (void)killer.pump(deadline, nullptr);
  }
  // Let the main channel see the command go, so the session is clean for the next step.
  (void)main.pump(Clock::now() + kKillWait, nullptr);
}

void SshTransport::stop_after_cancel(ExecChannel& main) {
  kill_group(main, "TERM");
  if (!main.finished()) {
    kill_group(main, "KILL");
  }
}

Result<uint64_t> SshTransport::upload(const std::string& local_path, const std::string& remote_path,
                                      const std::string& sha256_hex, int mode) {
  std::string hex = sha256_hex.rfind("sha256:", 0) == 0 ? sha256_hex.substr(7) : sha256_hex;
  if (!is_hex64(hex)) {
    return make_error(Errc::kInvalidArgument, label_ + ": upload of " + local_path + ": bad SHA-256 '" + sha256_hex + "'");
  }
  TRY_ASSIGN(UniqueFd file, open_read(local_path));
  TRY_ASSIGN(uint64_t size, file_size(local_path));
  TRY_STATUS(connect());
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(shared_->command_timeout) +
                 std::chrono::milliseconds(size / 1024);  // + 1 s per MiB
  {
    ExecChannel check(session_.get(), label_, 4096, true);
    TRY_ASSIGN(ExecResult have, run(check, digest_argv(remote_path), timeout));
    if (have.exit_code == 0 && have.out.substr(0, 64) == hex) {
      return uint64_t{0};
    }
  }
  ExecChannel ch(session_.get(), label_, 64u << 10, true);
  ch.set_stdin_fd(file.get());
  TRY_ASSIGN(ExecResult r, run(ch, upload_argv(remote_path, mode, hex), timeout));
  std::string what = label_ + ": upload of " + local_path + " to " + remote_path;
  if (!ch.stdin_status().ok()) {
    return ch.stdin_status().error().wrap(what);
  }
  if (r.timed_out) {
    return make_error(Errc::kTimeout, what + " timed out");
  }
  if (r.exit_code != 0) {
    std::string err = trim(r.err);
    Errc code = err.find("digest mismatch") != std::string::npos ? Errc::kIntegrity : Errc::kIo;
    return make_error(code, what + " failed (exit " + std::to_string(r.exit_code) + "): " + err);
  }
  return ch.stdin_sent();
}

SshFactory::SshFactory(const inventory::Inventory& inv, const SshSettings& settings)
    : shared_(std::make_shared<SshShared>()) {
  init_libssh();
  shared_->settings = settings;
  shared_->command_timeout = std::chrono::seconds(inv.command_timeout_s);
  shared_->bastions = inv.bastions;
}

std::unique_ptr<Transport> SshFactory::open(const inventory::Host& host) {
  return std::make_unique<SshTransport>(shared_, host);
}

int SshFactory::bastion_logins(const std::string& name) const {
  std::lock_guard lock(shared_->mu);
  auto it = shared_->links.find(name);
  return it == shared_->links.end() ? 0 : it->second->logins();
}

}  // namespace airlock::transport
