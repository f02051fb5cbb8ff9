// Exit codes of `airlock`, documented in README.md and `airlock --help`. Scripts rely on them.
#pragma once

#include "common/result.h"

namespace airlock::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitRejected = 1,     // the bundle (or signature) failed verification: do not use it
  kExitUsage = 2,        // bad command line, or a bad input file (bundle.yaml, key file)
  kExitEnvironment = 3,  // I/O: missing file, permission, disk full
  kExitInternal = 70,    // a bug in airlock
};

int exit_code_for(const Error& e);
// Prints "airlock: error: ..." (and, with json, {"ok":false,...} on stdout); returns the exit code.
int report_error(const Error& e, bool json);

}  // namespace airlock::cli
