// StartupGate: never more than `limit` holders per key, keys independent, waiters woken on
// release, and a waiter gives up when cancelled.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "installer/transport/startup_gate.h"

namespace airlock::transport {
namespace {

using namespace std::chrono_literals;

TEST(StartupGate, NeverMoreThanLimitHolders) {
  StartupGate gate;
  std::atomic<bool> never{false};
  std::atomic<int> inside{0}, worst{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto slot = gate.acquire("10.0.0.1:22", 3, never);
      ASSERT_TRUE(slot.has_value());
      int now = ++inside;
      int seen = worst.load();
      while (now > seen && !worst.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(20ms);
      --inside;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_LE(worst.load(), 3);
  EXPECT_EQ(gate.peak("10.0.0.1:22"), 3);
  EXPECT_EQ(gate.in_use("10.0.0.1:22"), 0);
}

TEST(StartupGate, KeysAreIndependent) {
  StartupGate gate;
  std::atomic<bool> never{false};
  auto a = gate.acquire("a:22", 1, never);
  auto b = gate.acquire("b:22", 1, never);
  EXPECT_TRUE(a && b);
  EXPECT_EQ(gate.in_use("a:22"), 1);
  EXPECT_EQ(gate.in_use("b:22"), 1);
}

TEST(StartupGate, ReleaseWakesAWaiter) {
  StartupGate gate;
  std::atomic<bool> never{false};
  auto first = gate.acquire("k", 1, never);
  ASSERT_TRUE(first.has_value());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto s = gate.acquire("k", 1, never);
    got = s.has_value();
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(got.load());
  first.reset();
  waiter.join();
  EXPECT_TRUE(got.load());
}

TEST(StartupGate, CancelledWaiterGivesUp) {
  StartupGate gate;
  std::atomic<bool> never{false}, cancelled{false};
  auto held = gate.acquire("k", 1, never);
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancelled = true;
  });
  auto start = std::chrono::steady_clock::now();
  auto s = gate.acquire("k", 1, cancelled);
  canceller.join();
  EXPECT_FALSE(s.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(gate.in_use("k"), 1);
}

}  // namespace
}  // namespace airlock::transport
