// See ssh_session.h. libssh is used in blocking mode here: ssh_connect() and
// ssh_userauth_publickey() are bounded by SSH_OPTIONS_TIMEOUT; the TCP connect is ours, so its
// errors (refused, unreachable, timed out) are exact rather than parsed from libssh's text.
#include "installer/transport/ssh_session.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace airlock::transport {
namespace {

// Serialises appends to known_hosts across every factory and thread of this process.
std::mutex& known_hosts_mutex() {
  static std::mutex mu;
  return mu;
}

std::string hostport(const Endpoint& ep) { return ep.address + ":" + std::to_string(ep.port); }

Error handshake_error(const Endpoint& ep, ssh_session s, const char* what) {
  std::string detail = ssh_get_error(s);
  if (detail.find("imeout") != std::string::npos) {
    return make_error(Errc::kTimeout, ep.label + ": " + what + " timed out: " + detail);
  }
  if (detail.empty() || detail == "Success") {
    detail = "connection closed by the peer";
  }
  return make_error(Errc::kUnreachable, ep.label + ": " + what + " failed: " + detail);
}

Status check_host_key(const Endpoint& ep, ssh_session s, const SshSettings& settings) {
  TRY_ASSIGN(std::string seen, server_fingerprint(s));
  if (!ep.pinned.empty()) {
    if (std::find(ep.pinned.begin(), ep.pinned.end(), seen) != ep.pinned.end()) {
      return {};
    }
    std::string pins;
    for (const auto& p : ep.pinned) {
      pins += (pins.empty() ? "" : ", ") + p;
    }
    return make_error(Errc::kHostKey, ep.label + ": host key mismatch: the server presented " + seen +
                                          ", the inventory pins " + pins);
  }
  std::string file = settings.known_hosts_file.empty() ? "~/.ssh/known_hosts" : settings.known_hosts_file;
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return {};
    case SSH_KNOWN_HOSTS_CHANGED:
      return make_error(Errc::kHostKey, ep.label + ": host key mismatch: the server presented " + seen +
                                            ", which differs from the key in " + file);
    case SSH_KNOWN_HOSTS_OTHER:
      return make_error(Errc::kHostKey, ep.label + ": host key mismatch: the server presented " + seen +
                                            ", a key of another type than the one in " + file);
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      break;
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      return make_error(Errc::kHostKey, ep.label + ": cannot check the host key against " + file + ": " +
                                            ssh_get_error(s));
  }
  if (!settings.accept_new_host_keys) {
    return make_error(Errc::kHostKey, ep.label + ": unknown host key " + seen + " (not in " + file +
                                          "; pin it in the inventory or accept new host keys)");
  }
  std::lock_guard lock(known_hosts_mutex());
  // Another thread may have recorded this host meanwhile: look again before appending.
  enum ssh_known_hosts_e again = ssh_session_is_known_server(s);
  if (again == SSH_KNOWN_HOSTS_OK) {
    return {};
  }
  if (again != SSH_KNOWN_HOSTS_UNKNOWN && again != SSH_KNOWN_HOSTS_NOT_FOUND) {
    return make_error(Errc::kHostKey, ep.label + ": host key mismatch: the server presented " + seen +
                                          " and " + file + " changed while connecting");
  }
  if (ssh_session_update_known_hosts(s) != SSH_OK) {
    return make_error(Errc::kIo, ep.label + ": cannot record host key " + seen + " in " + file + ": " +
                                     ssh_get_error(s));
  }
  return {};
}

Status authenticate(const Endpoint& ep, ssh_session s, KeyCache& keys) {
  if (ep.identity_file.empty()) {
    return make_error(Errc::kAuth, ep.label + ": no identity file configured for user " + ep.user +
                                       " (the ssh-agent is not used)");
  }
  auto key = keys.get(ep.identity_file);
  if (!key.ok()) {
    return key.error().wrap(ep.label);
  }
  int rc = ssh_userauth_publickey(s, nullptr, key->get());
  switch (rc) {
    case SSH_AUTH_SUCCESS:
      return {};
    case SSH_AUTH_DENIED:
    case SSH_AUTH_PARTIAL:
      return make_error(Errc::kAuth, ep.label + ": public key authentication as " + ep.user + " with " +
                                         ep.identity_file + " was refused");
    case SSH_AUTH_AGAIN:
      return make_error(Errc::kTimeout, ep.label + ": authentication timed out");
    default:
      return handshake_error(ep, s, "authentication");
  }
}

}  // namespace

void SessionFree::operator()(ssh_session s) const {
  if (s != nullptr) {
    ssh_disconnect(s);
    ssh_free(s);
  }
}

void CancelState::cancel() {
  flag_.store(true);
  std::lock_guard lock(mu_);
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_RDWR);
  }
}

void CancelState::watch_fd(int fd) {
  std::lock_guard lock(mu_);
  fd_ = fd;
  if (flag_.load() && fd_ >= 0) {
    ::shutdown(fd_, SHUT_RDWR);
  }
}

void CancelState::unwatch_fd() {
  std::lock_guard lock(mu_);
  fd_ = -1;
}

KeyCache::~KeyCache() {
  for (auto& [path, key] : keys_) {
    ssh_key_free(key);
  }
}

Result<KeyPtr> KeyCache::get(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(path);
  if (it == keys_.end()) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
      return make_error(Errc::kAuth, "cannot load private key " + path +
                                         " (missing, unreadable, or protected by a passphrase)");
    }
    it = keys_.emplace(path, key).first;
  }
  ssh_key copy = ssh_key_dup(it->second);
  if (copy == nullptr) {
    return make_error(Errc::kInternal, "cannot copy private key " + path);
  }
  return KeyPtr(copy);
}

void init_libssh() {
  static std::once_flag once;
  std::call_once(once, [] { ssh_init(); });
}

Result<UniqueFd> tcp_connect(const Endpoint& ep, std::chrono::milliseconds timeout,
                             const std::atomic<bool>& cancelled) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  int rc = ::getaddrinfo(ep.address.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return make_error(Errc::kUnreachable, ep.label + ": cannot resolve " + ep.address + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return sys_error(ep.label + ": socket");
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  if (::connect(fd.get(), res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
    int err = errno;
    return make_error(Errc::kUnreachable, ep.label + ": connect to " + hostport(ep) + " failed: " + std::strerror(err));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cancelled.load()) {
      return make_error(Errc::kCancelled, ep.label + ": cancelled while connecting");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return make_error(Errc::kTimeout, ep.label + ": connect to " + hostport(ep) + " timed out after " +
                                            std::to_string(timeout.count()) + " ms");
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (n < 0 && errno != EINTR) {
      return sys_error(ep.label + ": poll");
    }
    if (n > 0) {
      break;
    }
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return make_error(Errc::kUnreachable, ep.label + ": connect to " + hostport(ep) + " failed: " + std::strerror(err));
  }
  return fd;
}

Result<std::string> server_fingerprint(ssh_session s) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s, &key) != SSH_OK) {
    return make_error(Errc::kHostKey, std::string("cannot read the server's host key: ") + ssh_get_error(s));
  }
  KeyPtr owned(key);
  unsigned char* hash = nullptr;
  size_t hlen = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0) {
    return make_error(Errc::kHostKey, "cannot hash the server's host key");
  }
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
  ssh_clean_pubkey_hash(&hash);
  if (text == nullptr) {
    return make_error(Errc::kHostKey, "cannot format the server's host key fingerprint");
  }
  std::string out = text;
  ssh_string_free_char(text);
  return out;
}

Result<SessionPtr> ssh_login(const Endpoint& ep, UniqueFd fd, const SshSettings& settings,
                             KeyCache& keys, CancelState* cancel) {
  init_libssh();
  SessionPtr s(ssh_new());
  if (!s) {
    return make_error(Errc::kInternal, ep.label + ": ssh_new failed");
  }
  int no = 0;
  int verbosity = SSH_LOG_NOLOG;
  unsigned port = static_cast<unsigned>(ep.port);
  long seconds = std::max<long>(1, static_cast<long>((settings.connect_timeout.count() + 999) / 1000));
  bool ok = ssh_options_set(s.get(), SSH_OPTIONS_LOG_VERBOSITY, &verbosity) == 0 &&
            ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no) == 0 &&
            ssh_options_set(s.get(), SSH_OPTIONS_HOST, ep.address.c_str()) == 0 &&
            ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port) == 0 &&
            ssh_options_set(s.get(), SSH_OPTIONS_USER, ep.user.c_str()) == 0 &&
            ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &seconds) == 0 &&
            ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == 0;
  if (ok && !settings.known_hosts_file.empty()) {
    ok = ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, settings.known_hosts_file.c_str()) == 0;
  }
  if (!ok) {
    return make_error(Errc::kInvalidArgument, ep.label + ": bad SSH option: " + ssh_get_error(s.get()));
  }
  // Watch a duplicate of the socket: shutdown() reaches the same connection, and the number
  // stays ours even after libssh closes its descriptor.
  UniqueFd watched(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  socket_t raw = fd.get();
  if (ssh_options_set(s.get(), SSH_OPTIONS_FD, &raw) != 0) {
    return make_error(Errc::kInternal, ep.label + ": cannot hand the socket to libssh");
  }
  fd.release();  // libssh owns and closes it from ssh_connect() on
  struct Unwatch {
    CancelState* c;
    ~Unwatch() {
      if (c != nullptr) c->unwatch_fd();
    }
  } unwatch{cancel};
  if (cancel != nullptr) {
    cancel->watch_fd(watched.get());
  }
  auto cancelled = [&] { return cancel != nullptr && cancel->cancelled(); };
  if (ssh_connect(s.get()) != SSH_OK) {
    if (cancelled()) {
      return make_error(Errc::kCancelled, ep.label + ": cancelled while connecting");
    }
    return handshake_error(ep, s.get(), "SSH handshake");
  }
  TRY_STATUS(check_host_key(ep, s.get(), settings));
  Status auth = authenticate(ep, s.get(), keys);
  if (!auth.ok()) {
    if (cancelled()) {
      return make_error(Errc::kCancelled, ep.label + ": cancelled while authenticating");
    }
    return auth.error();
  }
  return s;
}

}  // namespace airlock::transport
