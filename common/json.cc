// nlohmann::json with a parser callback that enforces the strict profile of docs/bundle-format.md.
#include "common/json.h"

#include <set>
#include <string>
#include <vector>

namespace airlock {
namespace {

struct StrictViolation {
  std::string why;
};

}  // namespace

Result<nlohmann::json> parse_json_strict(std::string_view text, std::string_view what,
                                         int max_depth) {
  if (text.find('\0') != std::string_view::npos) {
    return make_error(Errc::kParse, std::string(what) + ": contains a NUL byte");
  }
  std::vector<std::set<std::string>> keys;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > max_depth) throw StrictViolation{"nesting deeper than " + std::to_string(max_depth)};
    switch (ev) {
      case E::object_start:
        keys.emplace_back();
        break;
      case E::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case E::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!keys.back().insert(k).second) throw StrictViolation{"duplicate key \"" + k + "\""};
        break;
      }
      case E::value:
        if (parsed.is_number_float()) throw StrictViolation{"floating-point number not allowed"};
        if (parsed.is_number_unsigned() && parsed.get<uint64_t>() > (1ull << 53)) {
          throw StrictViolation{"integer larger than 2^53"};
        }
        if (parsed.is_number_integer() && !parsed.is_number_unsigned()) {
          int64_t v = parsed.get<int64_t>();
          if (v < -(1ll << 53) || v > (1ll << 53)) throw StrictViolation{"integer beyond 2^53"};
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                                 /*ignore_comments=*/false);
  } catch (const StrictViolation& v) {
    return make_error(Errc::kParse, std::string(what) + ": " + v.why);
  } catch (const nlohmann::json::exception& e) {
    return make_error(Errc::kParse, std::string(what) + ": " + e.what());
  }
}

Result<nlohmann::json> parse_json(std::string_view text, std::string_view what) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return make_error(Errc::kParse, std::string(what) + ": " + e.what());
  }
}

}  // namespace airlock
