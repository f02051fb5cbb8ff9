// Where the node-side state lives (docs/node-side.md): every path hangs off one prefix ("/" on a
// real node, a temporary directory in tests or for unprivileged installs).
#pragma once

#include <string>

#include "common/fs.h"

namespace airlock::node {

struct Layout {
  std::string prefix = "/";

  std::string lib_dir() const { return join_path(prefix, "var/lib/airlock"); }
  std::string blobs_dir() const { return join_path(prefix, "var/lib/airlock/blobs/sha256"); }
  std::string state_file() const { return join_path(prefix, "var/lib/airlock/state.json"); }
  std::string state_lock() const { return join_path(prefix, "var/lib/airlock/state.lock"); }
  std::string opt_dir() const { return join_path(prefix, "opt/airlock"); }
  std::string releases_dir() const { return join_path(prefix, "opt/airlock/releases"); }
  std::string current_link() const { return join_path(prefix, "opt/airlock/current"); }
  std::string release_dir(const std::string& release) const {
    return join_path(releases_dir(), release);
  }
};

}  // namespace airlock::node
