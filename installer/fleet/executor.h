// The fleet executor: runs one piece of work per node over that node's transport, at most
// `fanout` nodes at once (a sliding window: a slot is refilled as soon as a node finishes, as
// clush and pdsh do), so one slow or dead node never holds up the others beyond its own
// timeout. Each node gets one transport, connected once and used for all of its steps.
// Cancellation (Ctrl-C) reaches every running transport, which kills its remote commands.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"

namespace airlock::fleet {

struct Counts {
  size_t total = 0;
  size_t done = 0;     // finished, successfully or not
  size_t running = 0;
  size_t failed = 0;   // transport failures and work that returned an error
};

struct NodeOutcome {
  const inventory::Host* host = nullptr;
  Status status;                        // transport or work error; ok otherwise
  std::chrono::nanoseconds elapsed{0};
  bool started = false;                 // false: cancelled before it began
};

class Executor {
 public:
  using Work = std::function<Status(const inventory::Host&, transport::Transport&)>;
  using OnDone = std::function<void(const NodeOutcome&)>;

  Executor(transport::TransportFactory& factory, int fanout);

  // Connects to each host and runs `work` on it. `on_done` is called (serialised) as each node
  // finishes. Returns one outcome per host, in the order given.
  std::vector<NodeOutcome> run(const std::vector<const inventory::Host*>& hosts, const Work& work,
                               const OnDone& on_done = {});

  // Any thread (e.g. the Ctrl-C watcher): running nodes are cancelled, waiting ones not started.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  Counts counts() const;

 private:
  transport::TransportFactory& factory_;
  int fanout_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  std::set<transport::Transport*> active_;
  Counts counts_;
};

// Ctrl-C / SIGTERM for a fleet run: while alive, the first signal cancels the executor (remote
// commands are killed, the run winds down and reports what it has); a second one exits at once.
class InterruptGuard {
 public:
  explicit InterruptGuard(Executor& ex);
  // Calls on_interrupt (from a watcher thread) at the first signal instead.
  explicit InterruptGuard(std::function<void()> on_interrupt);
  ~InterruptGuard();
  bool interrupted() const;

 private:
  struct State;
  State* s_;
};

// Redraws "label: 12/100 done, 64 running, 1 failed" on stderr while a run is in progress
// (terminal only, not with --quiet/--json).
class CountsDisplay {
 public:
  CountsDisplay(std::string label, const Executor& ex, bool enabled);
  ~CountsDisplay();  // clears the line

 private:
  struct State;
  State* s_;
};

}  // namespace airlock::fleet
