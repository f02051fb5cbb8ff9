// The unit files airlock-node's service supervisor (service.h) runs: a documented subset of
// systemd's format (docs/node-side.md, "Services without systemd"): [Service] Type=simple|exec,
// one ExecStart= (systemd's quoting; no variables or specifiers but %% and $$), Environment=,
// WorkingDirectory=, KillSignal=, TimeoutStopSec=, Restart=no. Anything else is an error that
// names FILE:LINE and the text, so a unit is never run differently from what it says.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock::node {

// What the supervisor takes from a unit file.
struct UnitSpec {
  std::string path;                        // the file, for messages
  std::vector<std::string> exec_start;     // argv; [0] is absolute
  std::vector<std::string> environment;    // "KEY=VALUE", in order (later wins)
  std::string working_directory;           // "" = "/"
  bool working_directory_optional = false; // "WorkingDirectory=-/path"
  int kill_signal = SIGTERM;
  int64_t timeout_stop_ms = 90000;         // systemd's default
};

// Parses unit text; `path` names it in errors ("PATH:LINE: message: `text`").
Result<UnitSpec> parse_unit(std::string_view text, const std::string& path);

// Blanks (space, tab, CR) removed at both ends.
std::string trim_blanks(std::string_view s);

}  // namespace airlock::node
