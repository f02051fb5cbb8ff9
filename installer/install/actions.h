// The node side of the install engine: a session with one node (commands, airlock-node
// subcommands, verified uploads, all under the node's optional prefix) and one function per
// playbook action that does that action's work on the node (docs/node-side.md). The engine
// (engine.h) decides which steps run and journals them; this file only acts.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/sha256.h"
#include "installer/install/plan.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"

namespace airlock::install {

struct EngineOptions {
  std::string run_id;
  std::string node_binary;                          // local airlock-node to send
  std::string node_binary_sha256;                   // hex
  std::map<std::string, std::string> content;       // content digest -> local file (verified extract)
  std::string cache_dir;                            // local folder for rendered files to send
  bool allow_downgrade = false;
  bool live_counts = false;                         // redraw per-phase counts on a terminal
};

// The last line of a command's output, at most 400 characters (what an error message quotes).
std::string first_line(std::string s);

// Per-node paths: everything under an optional prefix (host var airlock_prefix) so a
// non-root or test install can live in a folder.
struct NodePaths {
  std::string prefix;
  std::string node_sha;  // airlock-node is stored under its digest: present means "this binary"
  std::string node_bin() const { return prefix + "/var/lib/airlock/bin/airlock-node-" + node_sha.substr(0, 16); }
  std::string blob(const std::string& digest) const {
    return prefix + "/var/lib/airlock/blobs/sha256/" + std::string(digest_hex(digest));
  }
  std::string path(const std::string& abs) const { return prefix + abs; }
};

NodePaths paths_for(const inventory::Host& h);

// One node's session: runs commands, airlock-node subcommands, uploads.
class NodeSession {
 public:
  NodeSession(const inventory::Host& h, transport::Transport& t, const EngineOptions& o);

  const NodePaths& paths() const { return p_; }
  const inventory::Host& host() const { return h_; }

  // A command with a timeout (a timeout is an error that says it was killed).
  Result<transport::ExecResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                    const std::string& input = "");
  // Runs a command that must exit 0; its stdout on success.
  Result<std::string> must(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const std::string& input = "");
  // airlock-node SUBCOMMAND ... with --root-dir; its JSON answer (ok:true) or its error.
  Result<nlohmann::json> node(std::vector<std::string> args,
                              std::chrono::milliseconds timeout = std::chrono::seconds(120),
                              const std::string& input = "");
  // Sends a local file unless the node already has that digest there; bytes sent.
  Result<uint64_t> send(const std::string& local, const std::string& remote, const std::string& hex, int mode);
  // Sends text as a file (through a content-addressed local copy).
  Result<uint64_t> send_text(const std::string& text, const std::string& remote, int mode);

 private:
  const inventory::Host& h_;
  transport::Transport& t_;
  const EngineOptions& o_;
  NodePaths p_;
};

struct ActionResult {
  std::string message;
  uint64_t bytes = 0;
  bool changed = true;
};

// Does one plan step's work on the node (params: plan.h).
Result<ActionResult> act(NodeSession& s, const PlanStep& step, const EngineOptions& o);

}  // namespace airlock::install
