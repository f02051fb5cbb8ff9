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

// Where a pattern went wrong, for callers that place the error in their own file (the
// inventory reports "inventory.yaml:12:8: ..."): the 1-based column inside the pattern and
// the reason without the "pattern: column N: " prefix. Filled only when an error is returned.
struct NodesetError {
  size_t column = 0;
  std::string reason;
};
Result<std::vector<std::string>> expand_nodeset(std::string_view pattern, size_t limit, NodesetError* where);

// The shortest readable pattern for a set of names: names that differ only in their last
// number fold into one range ("gpu[001-064,066-128]"); padding is kept: n08..n11 give
// "n[08-11]", n8..n11 give "n[8-11]", and zero-padded and unpadded numbers never share a range
// ("n[8-9],n[08,10]"), so expand(fold(names)) gives exactly the names back. Names without a
// number stay as they are. O(n log n): grouped in a hash map, each group sorted once.
// Output order is sorted by prefix, then by number. fold(expand(p)) == p for folded input.
std::string fold_nodeset(const std::vector<std::string>& names);

}  // namespace airlock::inventory
