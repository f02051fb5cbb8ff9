// Mapping from error codes to process exit codes.
#include "installer/cli/exit_codes.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/log.h"

namespace airlock::cli {

int exit_code_for(const Error& e) {
  switch (e.code) {
    case Errc::kSignature:
    case Errc::kIntegrity:
    case Errc::kUnsafe:
    case Errc::kLimit:
    case Errc::kExpired:
    case Errc::kUnsupported:
      return kExitRejected;
    case Errc::kInvalidArgument:
    case Errc::kParse:
      return kExitUsage;
    case Errc::kNotFound:
    case Errc::kIo:
    case Errc::kTrust:
    case Errc::kTimeout:
    case Errc::kUnreachable:
    case Errc::kAuth:
    case Errc::kHostKey:
      return kExitEnvironment;
    case Errc::kCancelled:
      return 130;
    case Errc::kInternal:
      return kExitInternal;
  }
  return kExitInternal;
}

int report_error(const Error& e, bool json) {
  log::error(e.describe());
  if (json) {
    nlohmann::json j = {{"ok", false}, {"error", {{"code", errc_name(e.code)}, {"message", e.describe()}}}};
    std::printf("%s\n", j.dump().c_str());
  }
  return exit_code_for(e);
}

}  // namespace airlock::cli
