// The exact shell text the SSH transport sends to a node: the exec wrapper that puts a command in
// its own process group under `timeout` and reports that group's id, the kill command that stops
// such a group, and the scripts behind upload (digest check, write-verify-rename). Pure string
// building, so every byte the node sees is unit-tested.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace airlock::transport {

// `timeout` gets TERM first, then KILL this long after.
inline constexpr std::chrono::seconds kKillAfter{5};
// First stderr line of every wrapped command: "airlock-pgid <pid>".
inline constexpr std::string_view kPgidTag = "airlock-pgid ";

// [sudo -n] sh -c 'echo "airlock-pgid $$" >&2; exec timeout -k 5s <T>s "$@"' airlock-exec ARGV...
// `timeout` makes itself a process group leader (pgid = the pid printed) and on expiry signals the
// whole group: TERM, then KILL after kKillAfter. Exit 124 after TERM, 137 when KILL was needed.
std::string exec_wrapper(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         bool sudo);

// Sends `signal` ("TERM", "KILL") to process group `pgid`; falls back to the pid alone when the
// group does not exist yet (the shell has not exec'd `timeout`). Always exits 0.
std::string kill_command(long pgid, std::string_view signal, bool sudo);

// Prints "<hex>  -" for the file, exits non-zero when it cannot be read.
std::vector<std::string> digest_argv(const std::string& remote_path);

// Reads standard input into a hidden temp file next to remote_path (umask 077), checks its
// SHA-256, chmods, fsyncs, renames over remote_path and fsyncs the folder. Creates missing
// parents (mode 0755). Removes the temp file on any failure; prints "airlock-upload: <reason>".
std::vector<std::string> upload_argv(const std::string& remote_path, int mode, const std::string& hex);

// The pgid from a first stderr line "airlock-pgid 123" (without the newline); -1 otherwise.
long parse_pgid_line(std::string_view line);

// "KILL" -> 9 (names as SSH exit-signal messages carry them, without "SIG"); 0 when unknown.
int signal_number(std::string_view name);

// 1500ms -> "1.500s" (what `timeout` accepts).
std::string format_seconds(std::chrono::milliseconds d);

}  // namespace airlock::transport
