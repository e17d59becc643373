#include "journal/recent_events.hpp"

#include <algorithm>

namespace minyi {

namespace {
size_t held_bytes(const EventRow& e) {
  return sizeof(EventRow) + e.id.size() + e.type.size() + e.subject.size() + e.time.size() + e.data.size();
}
}  // namespace

void RecentEvents::start_at(int64_t last_seq) {
  std::lock_guard lock(mu_);
  held_.clear();
  bytes_ = 0;
  last_ = last_seq;
}

void RecentEvents::note(EventRow ev) { noted_.push_back(std::make_shared<const EventRow>(std::move(ev))); }

void RecentEvents::publish(int64_t last) {
  std::lock_guard lock(mu_);
  if (noted_.empty() && last == last_) return;  // a commit without events
  bool exact = !noted_.empty() && noted_.back()->seq == last;
  for (size_t i = 0; exact && i < noted_.size(); ++i) exact = noted_[i]->seq == last_ + 1 + static_cast<int64_t>(i);
  if (!exact) {
    held_.clear();
    bytes_ = 0;
  } else {
    for (auto& e : noted_) {
      bytes_ += held_bytes(*e);
      held_.push_back(std::move(e));
    }
    while (!held_.empty() && (held_.size() > max_events_ || bytes_ > max_bytes_)) {
      bytes_ -= held_bytes(*held_.front());
      held_.pop_front();
    }
  }
  last_ = last;
  noted_.clear();
}

bool RecentEvents::after(int64_t seq, size_t limit, std::vector<EventRow>& out) {
  std::vector<std::shared_ptr<const EventRow>> picked;
  {
    std::lock_guard lock(mu_);
    if (seq < last_) {
      if (held_.empty() || held_.front()->seq > seq + 1) return false;
      const auto first = held_.begin() + (seq + 1 - held_.front()->seq);
      const auto n = static_cast<std::ptrdiff_t>(std::min<size_t>(limit, held_.end() - first));
      picked.assign(first, first + n);
    }
  }
  // The documents are copied outside the lock: the writer publishes meanwhile.
  out.clear();
  out.reserve(picked.size());
  for (const auto& e : picked) out.push_back(*e);
  return true;
}

size_t RecentEvents::held() {
  std::lock_guard lock(mu_);
  return held_.size();
}

}  // namespace minyi
