// stderr logging with a "airlock: error:" style prefix so messages are greppable.
#include "common/log.h"

#include <cstdio>

namespace airlock::log {
namespace {
Level g_level = Level::kNormal;

void emit(const char* prefix, std::string_view msg) {
  std::fprintf(stderr, "%s%.*s\n", prefix, static_cast<int>(msg.size()), msg.data());
}
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
void info(std::string_view m) {
  if (g_level != Level::kQuiet) emit("", m);
}
void verbose(std::string_view m) {
  if (g_level == Level::kVerbose) emit("airlock: ", m);
}
void warn(std::string_view m) { emit("airlock: warning: ", m); }
void error(std::string_view m) { emit("airlock: error: ", m); }
void hint(std::string_view m) { emit("hint: ", m); }

}  // namespace airlock::log
