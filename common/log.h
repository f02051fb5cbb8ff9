// Human-facing messages on stderr, with one verbosity setting for the process. Machine output
// (JSON, listings) goes to stdout and never through here.
#pragma once

#include <string_view>

namespace airlock::log {

enum class Level { kQuiet, kNormal, kVerbose };

void set_level(Level level);
Level level();
void info(std::string_view msg);     // suppressed by --quiet
void verbose(std::string_view msg);  // only with -v
void warn(std::string_view msg);
void error(std::string_view msg);
void hint(std::string_view msg);

}  // namespace airlock::log
