// Node sets in ClusterShell syntax: "gpu[001-128]" (zero padding kept), steps "node[1-9/2]",
// lists "rack[1,3]-n[01-16]" (several bracket groups multiply out, left to right), and
// comma-separated unions at the top level ("login1,gpu[01-04]"). expand() turns a pattern into
// names; fold() turns names back into the shortest pattern a person reads, as `clush -b` and
// `dshbak -c` print them. Per-name work is O(1) with hash sets (ClusterShell#560).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock::inventory {

// Names in pattern order, duplicates removed (first one kept). Errors (kParse) name the
// offending text and its column: "gpu[3-1]: column 5: range end 1 is below its start 3".
// A set larger than `limit` names is refused (kLimit) before it is built.
Result<std::vector<std::string>> expand_nodeset(std::string_view pattern, size_t limit = 1'000'000);

// The shortest readable pattern for a set of names: names that differ only in their last
// number fold into one range ("gpu[001-064,066-128]"); padding is kept ("n[08-11]" only when
// both are 2 digits wide, "n[8-9],n[10-11]" style otherwise); other names stay as they are.
// Output order is sorted by prefix, then by number. fold(expand(p)) == p for folded input.
std::string fold_nodeset(const std::vector<std::string>& names);

}  // namespace airlock::inventory
