// Output gathering as `clush -b` and `dshbak -c` do it: nodes whose command printed the same
// stdout and stderr AND exited with the same code are shown once, under a folded node range
// ("gpu[001-064,066-128]"); nodes that could not run the command at all are grouped by the
// kind of failure (unreachable, host key mismatch, timeout...) with each node's own reason.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "installer/transport/transport.h"

namespace airlock::fleet {

struct NodeResult {
  std::string node;
  Status status;                  // a transport failure: the command did not run (or finish)
  transport::ExecResult result;   // meaningful when status is ok
};

struct Group {
  std::vector<std::string> nodes;
  std::string folded;             // nodes as a node set
  int exit_code = 0;
  bool timed_out = false;
  std::string out, err;
};

struct Failure {
  std::string node;
  Errc kind;
  std::string reason;
};

struct Gathered {
  std::vector<Group> groups;      // largest first, then by first node
  std::vector<Failure> failures;  // by node name
  size_t nonzero_nodes = 0;       // nodes whose command ran and exited non-zero
};

Gathered gather(const std::vector<NodeResult>& results);

// The human form: one block per group, then the failures, then a one-line summary.
std::string render_gathered(const Gathered& g, size_t total_nodes);

// A short label for a failure kind: "unreachable", "host key mismatch", "timeout"...
std::string failure_label(Errc kind);

}  // namespace airlock::fleet
