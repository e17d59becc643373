// The in-memory LSH index behind duplicate detection: for each of the kBands bands, a
// hash table from band key to a chain of entries sharing it. About 230–280 bytes per
// entry, no per-entry heap allocation; expired entries are unlinked and their slots reused.
// Entries live in fixed-size pages, so growing never copies them; the band tables grow at
// staggered loads, so one insert rehashes at most one table. Owned by one thread (the
// journal writer); not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dedup/minhash.hpp"

namespace minyi {

class LshIndex {
 public:
  using Keys = std::array<uint32_t, kBands>;

  // Sizes the tables for n entries (start-up load: avoids regrowth and slack).
  void reserve(size_t n);
  // `id` is the caller's (the suggestion's journal rowid, < 2^32); `time_ms` its event time;
  // `tag` a small fingerprint the caller can filter candidates on (0: none).
  void insert(uint64_t id, int64_t time_ms, const Keys& keys, uint32_t tag = 0);
  // Entries sharing at least one band key whose time lies within `window_ms` of `time_ms`,
  // latest event time first, each once, at most `limit`. At most `max_chain` entries
  // are examined per band, so a degenerate bucket cannot make a lookup slow. With a
  // non-zero `tag`, entries whose own non-zero tag has no bit in common with it are left
  // out (the caller's "certainly not the same" test).
  std::vector<uint64_t> candidates(const Keys& keys, int64_t time_ms, int64_t window_ms, size_t limit = 32,
                                   size_t max_chain = 256, uint32_t tag = 0) const;
  // Asks the CPU to fetch the table slots an insert of `keys` will touch: a bulk load that
  // calls it some entries ahead of each insert overlaps the cache misses.
  void prefetch(const Keys& keys) const;
  // The next level: reads the slots (best prefetched a little earlier) and asks for the
  // first entry of each chain. A lookup that calls both ahead of time finds them cached.
  void prefetch_chains(const Keys& keys) const;
  // Drops entries whose event time is before `time_ms` (O(n): run it now and then).
  void expire_before(int64_t time_ms);

  size_t size() const { return live_; }
  size_t memory_bytes() const;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;   // end of a chain; empty slot
  static constexpr uint32_t kEmpty = 0xFFFFFFFEu;  // slot whose chain emptied (key kept)
  static constexpr uint32_t kPageBits = 12;        // 4,096 entries (304 KiB) per page
  struct Entry {
    uint32_t id;
    int32_t minutes;  // event time in minutes since the epoch; INT32_MIN = free
    uint32_t tag;
    std::array<uint32_t, kBands> next;
  };
  struct Slot {
    uint32_t key = 0;
    uint32_t head = kNone;
  };
  struct Table {
    std::vector<Slot> slots;  // open addressing, linear probing, power-of-two size
    size_t used = 0;          // slots holding a key (including emptied chains)
  };

  uint32_t* find_head(int band, uint32_t key, bool create);
  const uint32_t* find_head(int band, uint32_t key) const;
  static void rehash(Table& t, size_t capacity);
  Entry& entry(uint32_t e) { return pages_[e >> kPageBits][e & ((1u << kPageBits) - 1)]; }
  const Entry& entry(uint32_t e) const { return pages_[e >> kPageBits][e & ((1u << kPageBits) - 1)]; }

  std::vector<std::unique_ptr<Entry[]>> pages_;
  uint32_t entries_ = 0;        // entries ever allocated (live + free)
  std::vector<uint32_t> free_;  // entries to reuse
  std::array<Table, kBands> tables_;
  size_t live_ = 0;
};

}  // namespace minyi
