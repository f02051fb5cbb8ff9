// A minimal service supervisor in airlock-node, for installs where systemd cannot be used: a
// prefix install as a non-root user, a container without a running systemd, CI. It runs the
// same unit files the installer writes for systemd (<prefix>/etc/systemd/system/NAME.service),
// reading a documented subset of them (docs/node-side.md, "Services without systemd"):
//   airlock-node service start|stop|restart|is-active|status NAME [--root-dir P]
// A started service is detached (own session, stdin /dev/null, stdout+stderr appended to
// <prefix>/var/log/airlock/NAME.log) and recorded in <prefix>/run/airlock/NAME.pid with its
// /proc start time and boot id, so a stale pid file never leads to signalling another process.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "node/layout.h"
#include "node/unit_file.h"

namespace airlock::node {

// A service name: 1..128 of [A-Za-z0-9:_.@-], not starting with '.' or '-'; ".service" is
// stripped by the CLI before this check.
Status check_service_name(std::string_view name);

struct ServicePaths {
  std::string unit, pid_file, lock_file, log_file;
};
ServicePaths service_paths(const Layout& l, const std::string& name);

struct ServiceState {
  bool active = false;
  int64_t pid = 0;          // when active
  bool changed = false;     // start/stop/restart: whether something was done
  bool killed = false;      // stop: SIGKILL was needed
  bool stale_pid_file = false;  // a pid file whose process is gone was removed
};

struct StartOptions {
  int64_t settle_ms = 300;  // a service that exits within this time after exec is a failed start
};

// Idempotent: start of a running service and stop of a stopped one change nothing.
Result<ServiceState> service_start(const Layout& l, const std::string& name, const StartOptions& o = {});
Result<ServiceState> service_stop(const Layout& l, const std::string& name);
Result<ServiceState> service_restart(const Layout& l, const std::string& name, const StartOptions& o = {});
Result<ServiceState> service_status(const Layout& l, const std::string& name);

// The `airlock-node service ...` subcommand (args after "service"); returns the exit code.
extern const char* const kServiceUsage;
int run_service_cli(const std::vector<std::string>& args);

}  // namespace airlock::node
