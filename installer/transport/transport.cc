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

}  // namespace airlock::transport
