// airlock-node: the static binary that runs on cluster nodes. Subcommands: `probe [--root DIR]
// [--timeout S]` prints the node's facts as JSON (docs/facts-schema.md); `version`. Plain argv
// parsing keeps the binary small and free of shared-library dependencies.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/system_root.h"
#include "probes/collect.h"

namespace {

constexpr const char* kUsage =
    "usage: airlock-node probe [--root DIR] [--timeout SECONDS]\n"
    "       airlock-node version\n";

void on_alarm(int) {
  static const char msg[] = "airlock-node: probe exceeded its timeout (hard limit)\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  ::_exit(124);
}

int cmd_probe(const std::vector<std::string>& args) {
  std::string root_dir;
  long timeout_s = 60;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "airlock-node probe: %s needs a value\n", name);
        return nullptr;
      }
      return &args[++i];
    };
    if (a == "--root") {
      const std::string* v = value("--root");
      if (!v) return 2;
      root_dir = *v;
    } else if (a == "--timeout") {
      const std::string* v = value("--timeout");
      if (!v) return 2;
      char* end = nullptr;
      timeout_s = std::strtol(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || timeout_s <= 0 || timeout_s > 86400) {
        std::fprintf(stderr, "airlock-node probe: --timeout wants whole seconds 1..86400, got '%s'\n",
                     v->c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "airlock-node probe: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (!root_dir.empty() && ::access(root_dir.c_str(), R_OK | X_OK) != 0) {
    std::fprintf(stderr, "airlock-node probe: --root %s: %s\n", root_dir.c_str(),
                 std::strerror(errno));
    return 2;
  }
  // Soft deadline: remaining sections report {"error":"timeout"}. Hard limit a little later in
  // case a single read blocks.
  ::signal(SIGALRM, on_alarm);
  ::alarm(static_cast<unsigned>(timeout_s + 5));
  airlock::probes::CollectOptions opts;
  opts.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  opts.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  airlock::HostRoot host;
  airlock::DirRoot dir(root_dir.empty() ? "/" : root_dir);
  const airlock::SystemRoot& root =
      root_dir.empty() ? static_cast<const airlock::SystemRoot&>(host) : dir;
  airlock::probes::Facts facts = airlock::probes::collect(root, opts);
  nlohmann::json j = facts;
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "version" || cmd == "--version") {
#ifdef AIRLOCK_VERSION
    std::printf("airlock-node %s (%s)\n", AIRLOCK_VERSION, airlock::probes::kFactsSchema);
#endif
    return 0;
  }
  if (cmd == "probe") return cmd_probe(args);
  if (cmd == "capture") {
    std::fprintf(stderr, "airlock-node capture: not implemented yet\n");
    return 3;
  }
  std::fprintf(stderr, "airlock-node: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}
