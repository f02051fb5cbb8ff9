// The sliding-window fleet executor, the Ctrl-C guard and the live counts line.
#include "installer/fleet/executor.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <thread>

namespace airlock::fleet {

Executor::Executor(transport::TransportFactory& factory, int fanout)
    : factory_(factory), fanout_(std::max(1, fanout)) {}

std::vector<NodeOutcome> Executor::run(const std::vector<const inventory::Host*>& hosts, const Work& work,
                                       const OnDone& on_done) {
  std::vector<NodeOutcome> out(hosts.size());
  {
    std::lock_guard lk(mu_);
    counts_ = Counts{hosts.size(), 0, 0, 0};
  }
  std::atomic<size_t> next{0};
  std::mutex done_mu;
  auto worker = [&] {
    for (;;) {
      size_t i = next++;
      if (i >= hosts.size()) return;
      const inventory::Host& h = *hosts[i];
      NodeOutcome& o = out[i];
      o.host = &h;
      if (cancelled_) {
        o.status = make_error(Errc::kCancelled, h.name + ": not started: cancelled");
      } else {
        o.started = true;
        auto t0 = std::chrono::steady_clock::now();
        std::unique_ptr<transport::Transport> t = factory_.open(h);
        {
          std::lock_guard lk(mu_);
          active_.insert(t.get());
          counts_.running++;
        }
        if (cancelled_) t->cancel();  // cancel() may have run before we registered
        o.status = t->connect();
        if (o.status.ok()) o.status = work(h, *t);
        {
          std::lock_guard lk(mu_);
          active_.erase(t.get());
          counts_.running--;
        }
        t.reset();  // closes the session
        o.elapsed = std::chrono::steady_clock::now() - t0;
      }
      {
        std::lock_guard lk(mu_);
        counts_.done++;
        if (!o.status.ok()) counts_.failed++;
      }
      if (on_done) {
        std::lock_guard lk(done_mu);
        on_done(o);
      }
    }
  };
  size_t n = std::min<size_t>(static_cast<size_t>(fanout_), hosts.size());
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& th : threads) th.join();
  return out;
}

void Executor::cancel() {
  cancelled_ = true;
  std::lock_guard lk(mu_);
  for (auto* t : active_) t->cancel();
}

Counts Executor::counts() const {
  std::lock_guard lk(mu_);
  return counts_;
}

// --- Ctrl-C ---------------------------------------------------------------------------------

namespace {
int g_pipe[2] = {-1, -1};
std::atomic<int> g_signals{0};

void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) {
    static const char msg[] = "\nairlock: interrupted twice, exiting now\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(130);
  }
  char c = 1;
  ssize_t ignored = ::write(g_pipe[1], &c, 1);
  (void)ignored;
}
}  // namespace

struct InterruptGuard::State {
  std::thread watcher;
  struct sigaction old_int {}, old_term {};
  bool interrupted = false;
};

InterruptGuard::InterruptGuard(Executor& ex) : InterruptGuard([&ex] { ex.cancel(); }) {}

InterruptGuard::InterruptGuard(std::function<void()> on_interrupt) : s_(new State) {
  if (::pipe(g_pipe) != 0) g_pipe[0] = g_pipe[1] = -1;
  g_signals = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &s_->old_int);
  ::sigaction(SIGTERM, &sa, &s_->old_term);
  State* s = s_;
  int rfd = g_pipe[0];
  s_->watcher = std::thread([s, rfd, on_interrupt] {
    char c;
    if (rfd >= 0 && ::read(rfd, &c, 1) == 1 && c == 1) {
      s->interrupted = true;
      std::fprintf(stderr, "\nairlock: interrupted: stopping remote commands (Ctrl-C again to exit now)\n");
      on_interrupt();
    }
  });
}

InterruptGuard::~InterruptGuard() {
  char c = 0;  // wakes the watcher without cancelling
  ssize_t ignored = ::write(g_pipe[1], &c, 1);
  (void)ignored;
  s_->watcher.join();
  ::sigaction(SIGINT, &s_->old_int, nullptr);
  ::sigaction(SIGTERM, &s_->old_term, nullptr);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
  delete s_;
}

bool InterruptGuard::interrupted() const { return s_->interrupted; }

// --- live counts ----------------------------------------------------------------------------

struct CountsDisplay::State {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool drawn = false;
  std::thread th;
};

CountsDisplay::CountsDisplay(std::string label, const Executor& ex, bool enabled) : s_(new State) {
  if (!enabled || !::isatty(2)) return;
  State* s = s_;
  s_->th = std::thread([s, label, &ex] {
    std::unique_lock lk(s->mu);
    while (!s->cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return s->stop; })) {
      Counts c = ex.counts();
      std::fprintf(stderr, "\r\033[K%s: %zu/%zu done, %zu running, %zu failed", label.c_str(), c.done, c.total,
                   c.running, c.failed);
      s->drawn = true;
    }
  });
}

CountsDisplay::~CountsDisplay() {
  {
    std::lock_guard lk(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  if (s_->th.joinable()) s_->th.join();
  if (s_->drawn) std::fprintf(stderr, "\r\033[K");
  delete s_;
}

}  // namespace airlock::fleet
