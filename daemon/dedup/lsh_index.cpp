// LSH index: chains through a flat `next_` array, heads in open-addressing tables.
#include "dedup/lsh_index.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <stdexcept>

namespace minyi {

namespace {
constexpr int32_t kFree = INT32_MIN;
int32_t to_minutes(int64_t ms) { return static_cast<int32_t>(ms / 60000); }
uint32_t mix(uint32_t k) {
  k ^= k >> 16;
  k *= 0x7FEB352Du;
  k ^= k >> 15;
  return k;
}
// Maps a 32-bit hash onto [0, size) without a power-of-two size (Lemire's multiply-shift),
// so tables can be sized exactly instead of rounded up.
size_t home(uint32_t key, size_t size) { return static_cast<size_t>((static_cast<uint64_t>(mix(key)) * size) >> 32); }
}  // namespace

void LshIndex::rehash(Table& t, size_t capacity) {
  std::vector<Slot> old;
  old.swap(t.slots);
  t.slots.assign(std::max<size_t>(64, capacity), Slot{});
  t.used = 0;
  const size_t size = t.slots.size();
  for (const Slot& s : old) {
    if (s.head == kNone || s.head == kEmpty) continue;  // emptied chains are dropped here
    size_t i = home(s.key, size);
    while (t.slots[i].head != kNone) i = i + 1 == size ? 0 : i + 1;
    t.slots[i] = s;
    ++t.used;
  }
}

uint32_t* LshIndex::find_head(Table& t, uint32_t key, bool create) {
  // Grow by a third at 85 % load: linear probing with a well-mixed key stays short there,
  // and small steps keep the average load (and so memory per entry) high.
  if (t.slots.empty() || (create && (t.used + 1) * 20 > t.slots.size() * 17)) rehash(t, t.slots.size() * 4 / 3);
  const size_t size = t.slots.size();
  for (size_t i = home(key, size);; i = i + 1 == size ? 0 : i + 1) {
    Slot& s = t.slots[i];
    if (s.head == kNone) {
      if (!create) return nullptr;
      s.key = key;
      s.head = kEmpty;
      ++t.used;
      return &s.head;
    }
    if (s.key == key) return &s.head;
  }
}

const uint32_t* LshIndex::find_head(const Table& t, uint32_t key) const {
  if (t.slots.empty()) return nullptr;
  const size_t size = t.slots.size();
  for (size_t i = home(key, size);; i = i + 1 == size ? 0 : i + 1) {
    const Slot& s = t.slots[i];
    if (s.head == kNone) return nullptr;
    if (s.key == key) return &s.head;
  }
}

void LshIndex::reserve(size_t n) {
  ids_.reserve(n);
  minutes_.reserve(n);
  next_.reserve(n * kBands);
  for (auto& t : tables_)
    if (t.slots.size() * 4 < n * 5) rehash(t, n * 5 / 4 + 1);  // 80 % load when full
}

void LshIndex::insert(uint64_t id, int64_t time_ms, const Keys& keys) {
  if (id > 0xFFFFFFFFull) throw std::out_of_range("LshIndex ids must fit in 32 bits");
  uint32_t entry;
  if (!free_.empty()) {
    entry = free_.back();
    free_.pop_back();
    ids_[entry] = static_cast<uint32_t>(id);
    minutes_[entry] = to_minutes(time_ms);
  } else {
    // Grow by a quarter, not the doubling std::vector would do: less slack per entry.
    if (ids_.size() == ids_.capacity()) {
      size_t n = std::max<size_t>(1024, ids_.capacity() + ids_.capacity() / 4);
      ids_.reserve(n);
      minutes_.reserve(n);
      next_.reserve(n * kBands);
    }
    entry = static_cast<uint32_t>(ids_.size());
    ids_.push_back(static_cast<uint32_t>(id));
    minutes_.push_back(to_minutes(time_ms));
    next_.resize(next_.size() + kBands, kNone);
  }
  for (int b = 0; b < kBands; ++b) {
    uint32_t* head = find_head(tables_[b], keys[b], true);
    next_[static_cast<size_t>(entry) * kBands + b] = *head == kEmpty ? kNone : *head;
    *head = entry;
  }
  ++live_;
}

std::vector<uint64_t> LshIndex::candidates(const Keys& keys, int64_t time_ms, int64_t window_ms, size_t limit,
                                           size_t max_chain) const {
  const int64_t now = to_minutes(time_ms);
  const int64_t span = window_ms / 60000 + 1;
  std::vector<uint32_t> found;
  for (int b = 0; b < kBands; ++b) {
    const uint32_t* head = find_head(tables_[b], keys[b]);
    if (!head || *head == kEmpty) continue;
    size_t walked = 0;
    for (uint32_t e = *head; e != kNone && walked < max_chain; e = next_[static_cast<size_t>(e) * kBands + b], ++walked)
      if (std::llabs(minutes_[e] - now) <= span) found.push_back(e);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  std::sort(found.begin(), found.end(),
            [&](uint32_t x, uint32_t y) { return minutes_[x] != minutes_[y] ? minutes_[x] > minutes_[y] : x > y; });
  if (found.size() > limit) found.resize(limit);
  std::vector<uint64_t> out;
  out.reserve(found.size());
  for (uint32_t e : found) out.push_back(ids_[e]);
  return out;
}

void LshIndex::expire_before(int64_t time_ms) {
  const int32_t cutoff = to_minutes(time_ms);
  auto expired = [&](uint32_t e) { return minutes_[e] < cutoff; };  // free entries are INT32_MIN
  for (int b = 0; b < kBands; ++b) {
    Table& t = tables_[b];
    size_t emptied = 0;
    for (Slot& s : t.slots) {
      if (s.head == kNone || s.head == kEmpty) {
        emptied += s.head == kEmpty;
        continue;
      }
      // Unlink expired entries from this chain.
      uint32_t* link = &s.head;
      while (*link != kNone) {
        uint32_t e = *link;
        uint32_t* next = &next_[static_cast<size_t>(e) * kBands + b];
        if (expired(e))
          *link = *next;
        else
          link = next;
      }
      if (s.head == kNone) {
        s.head = kEmpty;
        ++emptied;
      }
    }
    if (emptied * 4 > t.used) rehash(t, std::max<size_t>(64, (t.used - emptied) * 5 / 4 + 1));
  }
  for (uint32_t e = 0; e < ids_.size(); ++e)
    if (minutes_[e] != kFree && expired(e)) {
      minutes_[e] = kFree;
      free_.push_back(e);
      --live_;
    }
}

size_t LshIndex::memory_bytes() const {
  size_t bytes = ids_.capacity() * sizeof(uint32_t) + minutes_.capacity() * sizeof(int32_t) +
                 next_.capacity() * sizeof(uint32_t) + free_.capacity() * sizeof(uint32_t);
  for (const auto& t : tables_) bytes += t.slots.capacity() * sizeof(Slot);
  return bytes;
}

}  // namespace minyi
