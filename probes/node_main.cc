// airlock-node: the static binary that runs on cluster nodes. Subcommands: `probe [--root DIR |
// --root CAPTURE.tar.zst] [--timeout S]` prints the node's facts as JSON (docs/facts-schema.md);
// `capture -o FILE.tar.zst [--root DIR]` saves exactly what probe reads (probes/capture.h);
// `version`; and the node-side install steps (store, release, switch, mark-good, state, health:
// node/cli.h, docs/node-side.md). Only a probe of the live machine runs anything (nvidia-smi,
// under the timeout); a --root tree or archive is only read. Plain argv parsing keeps the binary
// small and free of shared-library dependencies.
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

#include "common/fs.h"
#include "common/system_root.h"
#include "node/cli.h"
#include "probes/capture.h"
#include "probes/collect.h"

namespace {

constexpr const char* kUsage =
    "usage: airlock-node probe [--root DIR|CAPTURE.tar.zst] [--timeout SECONDS]\n"
    "       airlock-node capture -o FILE.tar.zst [--root DIR|CAPTURE.tar.zst] [--timeout SECONDS]\n"
    "       airlock-node version\n";

// Both usage texts: the probe's and the node-side steps'.
void print_usage(FILE* to) {
  std::fputs(kUsage, to);
  std::fputs(airlock::node::kCliUsage, to);
}

void on_alarm(int) {
  static const char msg[] = "airlock-node: exceeded its timeout (hard limit)\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  ::_exit(124);
}

struct Options {
  std::string root_dir;
  std::string out;  // capture only
  long timeout_s = 60;
};

// Parses the options probe and capture share (capture also takes -o). 0 = ok, else exit code.
int parse_options(const char* cmd, const std::vector<std::string>& args, bool want_out,
                  Options* o) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "airlock-node %s: %s needs a value\n", cmd, name);
        return nullptr;
      }
      return &args[++i];
    };
    if (a == "--root") {
      const std::string* v = value("--root");
      if (!v) return 2;
      o->root_dir = *v;
    } else if (want_out && (a == "-o" || a == "--output")) {
      const std::string* v = value("-o");
      if (!v) return 2;
      o->out = *v;
    } else if (a == "--timeout") {
      const std::string* v = value("--timeout");
      if (!v) return 2;
      char* end = nullptr;
      o->timeout_s = std::strtol(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || o->timeout_s <= 0 || o->timeout_s > 86400) {
        std::fprintf(stderr, "airlock-node %s: --timeout wants whole seconds 1..86400, got '%s'\n",
                     cmd, v->c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "airlock-node %s: unknown argument '%s'\n%s", cmd, a.c_str(), kUsage);
      return 2;
    }
  }
  if (want_out && o->out.empty()) {
    std::fprintf(stderr, "airlock-node %s: -o FILE.tar.zst is required\n%s", cmd, kUsage);
    return 2;
  }
  if (!o->root_dir.empty() && !airlock::probes::is_capture_archive(o->root_dir) &&
      ::access(o->root_dir.c_str(), R_OK | X_OK) != 0) {
    std::fprintf(stderr, "airlock-node %s: --root %s: %s\n", cmd, o->root_dir.c_str(),
                 std::strerror(errno));
    return 2;
  }
  return 0;
}

// The tree --root names: the directory itself, or a capture archive unpacked into a private
// temporary directory (removed by the destructor).
class RootTree {
 public:
  ~RootTree() {
    if (!tmp_.empty()) airlock::remove_tree(tmp_);
  }
  // "" for the live machine; else the directory to read, or an error message.
  bool open(const std::string& root, const char* cmd) {
    if (root.empty() || !airlock::probes::is_capture_archive(root)) {
      dir_ = root;
      return true;
    }
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/airlock-node-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "airlock-node %s: cannot make a temporary directory: %s\n", cmd,
                   std::strerror(errno));
      return false;
    }
    tmp_ = dir_ = tmpl;
    auto st = airlock::probes::extract_capture(root, tmp_);
    if (!st.ok()) {
      std::fprintf(stderr, "airlock-node %s: %s\n", cmd, st.error().describe().c_str());
      return false;
    }
    return true;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string tmp_;
};

// Runs the collectors over root under the --timeout deadline. live: the root is this machine,
// so its tools may run; outputs: command output to keep for a capture.
airlock::probes::Facts collect_with_deadline(const airlock::SystemRoot& root, const Options& o,
                                             bool live,
                                             airlock::probes::CommandOutputs* outputs = nullptr) {
  // Soft deadline: remaining sections report {"error":"timeout"}. Hard limit a little later in
  // case a single read blocks.
  ::signal(SIGALRM, on_alarm);
  ::alarm(static_cast<unsigned>(o.timeout_s + 5));
  airlock::probes::CollectOptions opts;
  opts.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  if (live) opts.run_command = airlock::probes::system_command_runner("/");
  opts.command_outputs = outputs;
  opts.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  airlock::probes::Facts facts = airlock::probes::collect(root, opts);
  ::alarm(0);
  return facts;
}

std::string to_text(const airlock::probes::Facts& facts) {
  nlohmann::json j = facts;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int cmd_probe(const std::vector<std::string>& args) {
  Options o;
  if (int rc = parse_options("probe", args, false, &o)) return rc;
  RootTree tree;
  if (!tree.open(o.root_dir, "probe")) return 1;
  airlock::HostRoot host;
  airlock::DirRoot dir(o.root_dir.empty() ? "/" : tree.dir());
  const airlock::SystemRoot& root =
      o.root_dir.empty() ? static_cast<const airlock::SystemRoot&>(host) : dir;
  airlock::probes::Facts facts = collect_with_deadline(root, o, o.root_dir.empty());
  if (!o.root_dir.empty()) facts.root = o.root_dir;
  std::cout << to_text(facts);
  std::cout.flush();
  return std::cout ? 0 : 1;
}

int cmd_capture(const std::vector<std::string>& args) {
  Options o;
  if (int rc = parse_options("capture", args, true, &o)) return rc;
  RootTree tree;
  if (!tree.open(o.root_dir, "capture")) return 1;
  airlock::HostRoot host;
  airlock::DirRoot dir(o.root_dir.empty() ? "/" : tree.dir());
  airlock::RecordingRoot rec(o.root_dir.empty() ? static_cast<const airlock::SystemRoot&>(host)
                                                : dir);
  airlock::probes::CommandOutputs outputs;
  airlock::probes::Facts facts = collect_with_deadline(rec, o, o.root_dir.empty(), &outputs);
  if (!o.root_dir.empty()) facts.root = o.root_dir;
  auto written = airlock::probes::write_capture(rec, to_text(facts), o.out,
                                                facts.collected_at_ns / 1000000000, outputs);
  if (!written.ok()) {
    std::fprintf(stderr, "airlock-node capture: %s\n", written.error().describe().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "airlock-node capture: wrote %s: %zu files, %zu links, %zu directories "
               "(%llu bytes of tar, %llu compressed)\n",
               o.out.c_str(), written->files, written->links, written->dirs,
               static_cast<unsigned long long>(written->tar_bytes),
               static_cast<unsigned long long>(written->zst_bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(args.empty() ? stderr : stdout);
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
  if (cmd == "capture") return cmd_capture(args);
  if (airlock::node::is_cli_command(cmd)) return airlock::node::run_cli(cmd, args);
  std::fprintf(stderr, "airlock-node: unknown command '%s'\n", cmd.c_str());
  print_usage(stderr);
  return 2;
}
