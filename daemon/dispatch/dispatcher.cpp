// Per-sink delivery loop.
#include "dispatch/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/log.hpp"
#include "plugin_host/plugin_host.hpp"

namespace minyi {

namespace {
SinkCursor cursor_at(int64_t seq) {
  SinkCursor c;
  c.seq = seq;
  return c;
}
}  // namespace

int64_t backoff_delay_ms(const RetryPolicy& p, int64_t attempts, int64_t retry_after_ms, double unit_random) {
  double base = static_cast<double>(p.backoff_initial_ms) *
                std::pow(2.0, static_cast<double>(std::max<int64_t>(attempts - 1, 0)));
  double capped = std::min(base, static_cast<double>(p.backoff_max_ms));
  auto delay = static_cast<int64_t>(capped * (0.5 + 0.5 * unit_random));
  return std::max(delay, retry_after_ms);
}

SinkRunner::SinkRunner(Journal& journal, minyi_host_t& sink, RetryPolicy policy, std::function<int64_t()> clock)
    : journal_(journal), sink_(sink), policy_(policy), clock_(std::move(clock)) {}

SinkRunner::~SinkRunner() { stop(); }

const std::string& SinkRunner::name() const { return sink_.name; }

void SinkRunner::start() {
  thread_ = std::thread([this] {
    name_this_thread("sink:" + sink_.name);
    run();
  });
}

void SinkRunner::stop() {
  stopping_ = true;
  sink_.stopping = true;
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SinkRunner::sleep_until_ms(int64_t when_ms) {
  int64_t wait = when_ms - clock_();
  if (wait <= 0) return;
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait, 1000)), [this] { return stopping_.load(); });
}

void SinkRunner::run() {
  std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  JournalReader reader(journal_.path());
  SinkCursor cur = reader.cursor(sink_.name);
  const auto& desc = sink_.plugin->desc;
  while (!stopping_) {
    cursor_ = cur.seq;
    if (cur.next_attempt_ms > clock_()) {
      sleep_until_ms(cur.next_attempt_ms);
      continue;
    }
    std::vector<EventRow> events;
    try {
      // A sink keeping up finds its events among the writer's copies of the latest ones.
      if (journal_.recent_events(cur.seq, policy_.batch_max, events)) {
        read_from_memory_ += events.size();
      } else {
        events = reader.events_after(cur.seq, policy_.batch_max);
        read_from_journal_ += events.size();
      }
    } catch (const std::exception& e) {
      spdlog::error("sink {}: reading the events log failed: {}", sink_.name, e.what());
      sleep_until_ms(clock_() + 1000);
      continue;
    }
    if (events.empty()) {
      journal_.wait_for_events(cur.seq, std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
      continue;
    }
    std::vector<minyi_event_t> cev(events.size());
    std::vector<minyi_delivery_result_t> res(events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      auto s = [](const std::string& x) { return minyi_str_t{x.data(), x.size()}; };
      cev[i] = {sizeof(minyi_event_t), events[i].seq,     s(events[i].id),  s(events[i].type),
                s(events[i].subject),  s(events[i].time), s(events[i].data)};
      res[i].status = MINYI_DELIVERY_RETRY;
      std::snprintf(res[i].reason, sizeof res[i].reason, "the sink gave no answer for this event");
    }
    desc.minyi_on_deliver(sink_.instance, cev.data(), cev.size(), res.data());

    int64_t now = clock_();
    int64_t advanced_to = cur.seq;
    size_t i = 0;
    try {
      for (; i < events.size(); ++i) {
        res[i].reason[sizeof res[i].reason - 1] = '\0';
        if (res[i].status == MINYI_DELIVERY_OK) {
          advanced_to = events[i].seq;
          continue;
        }
        if (res[i].status == MINYI_DELIVERY_REJECT) {
          if (advanced_to != cur.seq) journal_.cursor_advance(sink_.name, advanced_to);
          std::string reason = std::string("rejected by the sink: ") + res[i].reason;
          journal_.dead_letter(sink_.name, events[i], reason, cur.attempts + 1,
                               cur.first_failure_ms ? cur.first_failure_ms : now, now);
          spdlog::warn("sink {}: event {} (seq {}) moved to dead letters: {}", sink_.name, events[i].id, events[i].seq,
                       reason);
          cur = cursor_at(events[i].seq);
          advanced_to = cur.seq;
          continue;
        }
        break;  // RETRY: keep order, stop at the first event that did not go through
      }
      if (advanced_to != cur.seq) {
        journal_.cursor_advance(sink_.name, advanced_to);
        cur = cursor_at(advanced_to);
      }
      // Events the sink left undone because we asked it to stop are not failures.
      if (i < events.size() && !stopping_) {
        const EventRow& ev = events[i];
        cur.attempts += 1;
        if (!cur.first_failure_ms) cur.first_failure_ms = now;
        cur.last_error = res[i].reason;
        bool too_many = policy_.max_attempts > 0 && cur.attempts >= policy_.max_attempts;
        bool too_old = policy_.max_age_ms > 0 && now - cur.first_failure_ms >= policy_.max_age_ms;
        if (too_many || too_old) {
          std::string reason = "gave up after " + std::to_string(cur.attempts) + " attempt(s) over " +
                               std::to_string((now - cur.first_failure_ms) / 1000) + " s: " + cur.last_error;
          journal_.dead_letter(sink_.name, ev, reason, cur.attempts, cur.first_failure_ms, now);
          spdlog::warn("sink {}: event {} (seq {}) moved to dead letters: {}", sink_.name, ev.id, ev.seq, reason);
          cur = cursor_at(ev.seq);
        } else {
          int64_t delay = backoff_delay_ms(policy_, cur.attempts, res[i].retry_after_ms, unit(rng));
          cur.next_attempt_ms = now + delay;
          journal_.cursor_failure(sink_.name, cur);
          spdlog::info("sink {}: event seq {} not delivered (attempt {}): {}; retrying in {} ms", sink_.name, ev.seq,
                       cur.attempts, cur.last_error, delay);
        }
      }
    } catch (const std::exception& e) {
      // The journal refused the bookkeeping (shutting down or disk trouble): the events
      // stay after the durable cursor and are delivered again later.
      spdlog::warn("sink {}: cursor update failed: {}", sink_.name, e.what());
      cur = reader.cursor(sink_.name);
      sleep_until_ms(clock_() + 200);
    }
  }
}

}  // namespace minyi
