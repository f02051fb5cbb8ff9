// Where secret-key passphrases come from: a file (--passphrase-file, first line), the
// AIRLOCK_PASSPHRASE environment variable, or a no-echo prompt on the terminal.
#pragma once

#include <string>

#include "common/result.h"

namespace airlock::cli {

// confirm: ask twice on a terminal (key generation).
Result<std::string> get_passphrase(const std::string& passphrase_file, const std::string& prompt, bool confirm);

}  // namespace airlock::cli
