// Poll loop for polling sources.
#include "plugin_host/poller.hpp"

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "plugin_host/plugin_host.hpp"

namespace minyi {

Poller::Poller(minyi_host_t& source, int64_t interval_ms) : source_(source), interval_ms_(interval_ms) {}

Poller::~Poller() { stop(); }

void Poller::start() {
  thread_ = std::thread([this] {
    name_this_thread("poll:" + source_.name);
    run();
  });
}

void Poller::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  source_.stopping = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Poller::run() {
  while (!stopping_) {
    if (source_.plugin->desc.minyi_on_poll(source_.instance) != 0)
      spdlog::warn("[{}] poll failed; next attempt in {} ms", source_.name, interval_ms_);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_.load(); });
  }
}

}  // namespace minyi
