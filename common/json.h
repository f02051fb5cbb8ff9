// Strict JSON parsing for signed metadata (bundle.json and friends): UTF-8 only, no duplicate
// keys, no trailing data, bounded depth, integers within +-2^53, no floating point. Errors say
// which document and where.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/result.h"

namespace airlock {

Result<nlohmann::json> parse_json_strict(std::string_view text, std::string_view what,
                                         int max_depth = 32);

// Loose parse for documents that are not trust roots (OCI index.json and manifests from a
// layout on disk): standard JSON, errors as values.
Result<nlohmann::json> parse_json(std::string_view text, std::string_view what);

}  // namespace airlock
