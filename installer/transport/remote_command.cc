// Builds the command lines described in remote_command.h. Everything that varies (argv, paths,
// modes, digests) travels as positional parameters of a fixed `sh -c` script and is quoted once by
// shell_join(), so no input can change the script itself.
#include "installer/transport/remote_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "installer/transport/transport.h"

namespace airlock::transport {
namespace {

std::vector<std::string> with_sudo(bool sudo, std::vector<std::string> argv) {
  if (sudo) {
    argv.insert(argv.begin(), {"sudo", "-n"});
  }
  return argv;
}

const char kUploadScript[] =
    "dest=$1 mode=$2 hex=$3\n"
    "dir=$(dirname -- \"$dest\") base=$(basename -- \"$dest\")\n"
    "tmp=\"$dir/.$base.airlock-$$\"\n"
    "fail() { rm -f -- \"$tmp\"; echo \"airlock-upload: $1\" >&2; exit 1; }\n"
    "trap 'rm -f -- \"$tmp\"; exit 143' HUP INT TERM\n"
    "(umask 022 && mkdir -p -- \"$dir\") || fail \"cannot create folder $dir\"\n"
    "(umask 077 && cat > \"$tmp\") || fail \"cannot write $tmp\"\n"
    "got=$(sha256sum < \"$tmp\") || fail \"cannot hash $tmp\"\n"
    "[ \"${got%% *}\" = \"$hex\" ] || fail \"digest mismatch: got ${got%% *}, expected $hex\"\n"
    "chmod \"$mode\" \"$tmp\" || fail \"cannot chmod $tmp\"\n"
    "sync -- \"$tmp\" || fail \"cannot fsync $tmp\"\n"
    "mv -f -- \"$tmp\" \"$dest\" || fail \"cannot rename $tmp to $dest\"\n"
    "sync -- \"$dir\" || fail \"cannot fsync $dir\"\n";

}  // namespace

std::string format_seconds(std::chrono::milliseconds d) {
  long long ms = d.count() < 0 ? 0 : d.count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%03llds", ms / 1000, ms % 1000);
  return buf;
}

std::string exec_wrapper(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         bool sudo) {
  timeout = std::max(timeout, std::chrono::milliseconds(1));  // `timeout 0` would mean: no limit
  std::string script = "echo \"airlock-pgid $$\" >&2; exec timeout -k " +
                       std::to_string(kKillAfter.count()) + "s " + format_seconds(timeout) +
                       " \"$@\"";
  std::vector<std::string> full = {"sh", "-c", script, "airlock-exec"};
  full.insert(full.end(), argv.begin(), argv.end());
  return shell_join(with_sudo(sudo, std::move(full)));
}

std::string kill_command(long pgid, std::string_view signal, bool sudo) {
  std::string script =
      "kill -s \"$1\" -- \"-$2\" 2>/dev/null || kill -s \"$1\" -- \"$2\" 2>/dev/null; exit 0";
  return shell_join(with_sudo(
      sudo, {"sh", "-c", script, "airlock-kill", std::string(signal), std::to_string(pgid)}));
}

std::vector<std::string> digest_argv(const std::string& remote_path) {
  return {"sh", "-c", "exec sha256sum < \"$1\"", "airlock-digest", remote_path};
}

std::vector<std::string> upload_argv(const std::string& remote_path, int mode, const std::string& hex) {
  char mode_text[16];
  std::snprintf(mode_text, sizeof mode_text, "%o", static_cast<unsigned>(mode) & 07777u);
  return {"sh", "-c", kUploadScript, "airlock-upload", remote_path, mode_text, hex};
}

long parse_pgid_line(std::string_view line) {
  if (line.substr(0, kPgidTag.size()) != kPgidTag) {
    return -1;
  }
  std::string_view digits = line.substr(kPgidTag.size());
  long value = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value <= 1) {
    return -1;
  }
  return value;
}

int signal_number(std::string_view name) {
  static const struct {
    const char* name;
    int number;
  } kSignals[] = {{"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"TRAP", 5},
                  {"ABRT", 6},  {"BUS", 7},   {"FPE", 8},   {"KILL", 9},  {"USR1", 10},
                  {"SEGV", 11}, {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}};
  if (name.substr(0, 3) == "SIG") {
    name.remove_prefix(3);
  }
  for (const auto& s : kSignals) {
    if (name == s.name) {
      return s.number;
    }
  }
  return 0;
}

}  // namespace airlock::transport
