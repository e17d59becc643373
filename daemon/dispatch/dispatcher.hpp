// The dispatcher: one thread and one durable cursor per sink over the events log.
// A slow or failing sink only delays itself; retries back off with jitter; events that
// keep failing, or that the sink rejects, go to dead letters with the reason.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.hpp"

struct minyi_host_t;

namespace minyi {

struct RetryPolicy {
  size_t batch_max = 100;
  int64_t max_attempts = 20;                // 0 = unlimited
  int64_t max_age_ms = 24LL * 3600 * 1000;  // 0 = unlimited
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 5 * 60 * 1000;
};

// Delay before attempt n+1 after n failures: min(cap, initial·2^(n-1)) scaled by a random
// factor in [0.5, 1.0] (“equal jitter”), never below retry_after_ms.
int64_t backoff_delay_ms(const RetryPolicy& p, int64_t attempts, int64_t retry_after_ms, double unit_random);

class SinkRunner {
 public:
  SinkRunner(Journal& journal, minyi_host_t& sink, RetryPolicy policy, std::function<int64_t()> clock);
  ~SinkRunner();
  void start();
  // Lets the current delivery finish, then stops. Undelivered events stay in the log.
  void stop();
  const std::string& name() const;
  // For metrics, from any thread: the last event handled (delivered or dead-lettered) and
  // how many events were read from the journal writer's copies and from the journal.
  struct Stats {
    int64_t cursor = 0;
    uint64_t read_from_memory = 0, read_from_journal = 0;
  };
  Stats stats() const { return {cursor_.load(), read_from_memory_.load(), read_from_journal_.load()}; }

 private:
  void run();
  void sleep_until_ms(int64_t when_ms);

  Journal& journal_;
  minyi_host_t& sink_;
  RetryPolicy policy_;
  std::function<int64_t()> clock_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> cursor_{0};
  std::atomic<uint64_t> read_from_memory_{0}, read_from_journal_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace minyi
