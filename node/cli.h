// The node-side subcommands of airlock-node (store, release, switch, mark-good, state, health):
// argv parsing over the node library, one JSON object on stdout per run ({"ok":true,...} or
// {"ok":false,"error":...}), exit 0 ok, 1 failed, 2 usage. docs/node-side.md describes them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace airlock::node {

// Usage lines for these subcommands (airlock-node help prints them after its own).
extern const char* const kCliUsage;

bool is_cli_command(std::string_view cmd);
// cmd is the first argument ("store"), args the rest. Returns the exit code.
int run_cli(const std::string& cmd, const std::vector<std::string>& args);

}  // namespace airlock::node
