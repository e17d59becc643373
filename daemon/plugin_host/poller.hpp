// Schedules a source plugin's on_poll: one thread per polling instance, a fixed interval
// between the end of one poll and the start of the next, stoppable at any time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

struct minyi_host_t;

namespace minyi {

class Poller {
 public:
  Poller(minyi_host_t& source, int64_t interval_ms);
  ~Poller();
  void start();
  // Waits for a poll in progress to return.
  void stop();

 private:
  void run();

  minyi_host_t& source_;
  int64_t interval_ms_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace minyi
