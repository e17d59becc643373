// The latest committed events, kept in memory by the journal writer so that sinks keeping
// up need not read them back from the database (docs/sinks.md). A cache, never the record:
// whatever it cannot vouch for, readers read from the journal.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace minyi {

struct EventRow {
  int64_t seq = 0;
  std::string id, type, subject, time, data;
};

class RecentEvents {
 public:
  RecentEvents(size_t max_events, size_t max_bytes) : max_events_(max_events), max_bytes_(max_bytes) {}

  // Writer thread. The log's last seq when the journal opens.
  void start_at(int64_t last_seq);
  // Writer thread, inside a transaction: an event just inserted. A copy: moving the
  // intake's document here instead, to be freed by this thread much later, made the
  // network threads measurably slower.
  void note(EventRow ev);
  // Writer thread: how many events are noted; forget those after the first n (an item
  // rolled back to its savepoint, or n = 0: a transaction rolled back or begun).
  size_t noted() const { return noted_.size(); }
  void forget_from(size_t n) { noted_.resize(n); }
  // Writer thread, after a commit that took the log's last seq to `last`: the noted
  // events become readable when they are exactly those the commit added (consecutive seqs
  // up to `last`). Anything else (an event inserted without being noted, such as an admin
  // correction's) and every copy is dropped: readers go to the journal until new events
  // start a new run.
  void publish(int64_t last);
  // Any thread: the committed events after `seq` (at most `limit`), as the journal holds
  // them, and true; or false, with `out` untouched, when they are not all here.
  bool after(int64_t seq, size_t limit, std::vector<EventRow>& out);
  size_t held();

 private:
  const size_t max_events_, max_bytes_;
  std::vector<std::shared_ptr<const EventRow>> noted_;  // writer thread only
  std::mutex mu_;                                       // guards what follows
  std::deque<std::shared_ptr<const EventRow>> held_;    // consecutive seqs ending at last_
  size_t bytes_ = 0;
  int64_t last_ = 0;  // the last seq published
};

}  // namespace minyi
