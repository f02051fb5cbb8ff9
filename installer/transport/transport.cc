// shell_join() (the one place argv becomes shell text) and the default factory: SSH for remote
// hosts, LocalTransport for `local: true` hosts.
#include "installer/transport/transport.h"

#include "installer/transport/local_transport.h"
#include "installer/transport/ssh_transport.h"

namespace airlock::transport {
namespace {

bool needs_quotes(const std::string& arg) {
  if (arg.empty()) {
    return true;
  }
  for (char c : arg) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.' || c == '/' || c == ',' || c == ':' || c == '@' ||
                c == '%' || c == '+' || c == '=';
    if (!safe) {
      return true;
    }
  }
  return false;
}

class DefaultFactory : public TransportFactory {
 public:
  DefaultFactory(const inventory::Inventory& inv, const SshSettings& settings) : ssh_(inv, settings) {}
  std::unique_ptr<Transport> open(const inventory::Host& host) override {
    if (host.local) {
      return std::make_unique<LocalTransport>(host);
    }
    return ssh_.open(host);
  }

 private:
  SshFactory ssh_;
};

}  // namespace

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) {
      out += ' ';
    }
    if (!needs_quotes(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

std::unique_ptr<TransportFactory> make_default_factory(const inventory::Inventory& inv,
                                                       const SshSettings& settings) {
  return std::make_unique<DefaultFactory>(inv, settings);
}

namespace {
// A non-owning handle on a cached transport.
class CachedHandle : public Transport {
 public:
  explicit CachedHandle(Transport& t) : t_(t) {}
  const std::string& node() const override { return t_.node(); }
  Status connect() override { return t_.connect(); }
  Result<ExecResult> exec(const std::vector<std::string>& argv, const ExecOptions& opts) override {
    return t_.exec(argv, opts);
  }
  Result<uint64_t> upload(const std::string& local_path, const std::string& remote_path, const std::string& sha256_hex,
                          int mode) override {
    return t_.upload(local_path, remote_path, sha256_hex, mode);
  }
  void cancel() override { t_.cancel(); }

 private:
  Transport& t_;
};
}  // namespace

std::unique_ptr<Transport> CachingFactory::open(const inventory::Host& host) {
  std::lock_guard lk(mu_);
  auto& slot = cache_[host.name];
  if (!slot) slot = inner_.open(host);
  return std::make_unique<CachedHandle>(*slot);
}

}  // namespace airlock::transport
