// The catalog of built-in checks: one stable id per check of probe-spec.md section (c) (and a
// few about the facts themselves), with its severity, a title, the spec row it implements and
// the facts it reads. Ids are what users pass to --ignore and what the reports print; they are
// never renamed (docs/validate.md lists them).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace airlock::validate {

enum class Severity { kInfo, kWarn, kFail };
const char* severity_name(Severity s);  // "info", "warn", "fail"

struct CheckInfo {
  const char* id;
  Severity severity;
  const char* spec;   // probe-spec.md section (c) row(s), e.g. "19"
  const char* title;
  const char* reads;  // the facts it reads ("" for checks that have no fact yet)
};

const std::vector<CheckInfo>& catalog();
// The catalog entry, or nullptr for ids made by the rules file (identical: entries).
const CheckInfo* find_check(std::string_view id);

}  // namespace airlock::validate
