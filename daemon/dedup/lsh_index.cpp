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

namespace {
// Band b's table grows when its load passes 78 % + b·0.5 % (78–85.5 %): the bands fill at
// the same pace, so without the stagger one insert would rehash all of them at once.
bool over_load(size_t used, size_t size, int band) { return used * 1000 > size * static_cast<size_t>(780 + 5 * band); }
}  // namespace

uint32_t* LshIndex::find_head(int band, uint32_t key, bool create) {
  // Grow by 30 %: linear probing with a well-mixed key stays short below 86 % load, and
  // small steps keep the average load (and so memory per entry) high.
  Table& t = tables_[band];
  if (t.slots.empty() || (create && over_load(t.used + 1, t.slots.size(), band))) rehash(t, t.slots.size() * 13 / 10);
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

const uint32_t* LshIndex::find_head(int band, uint32_t key) const {
  const Table& t = tables_[band];
  if (t.slots.empty()) return nullptr;
  const size_t size = t.slots.size();
  for (size_t i = home(key, size);; i = i + 1 == size ? 0 : i + 1) {
    const Slot& s = t.slots[i];
    if (s.head == kNone) return nullptr;
    if (s.key == key) return &s.head;
  }
}

void LshIndex::prefetch(const Keys& keys) const {
  for (int b = 0; b < kBands; ++b) {
    const Table& t = tables_[b];
    if (!t.slots.empty()) __builtin_prefetch(&t.slots[home(keys[b], t.slots.size())], 1);
  }
}

void LshIndex::prefetch_chains(const Keys& keys) const {
  for (int b = 0; b < kBands; ++b) {
    const uint32_t* head = find_head(b, keys[b]);
    if (head && *head != kEmpty && *head != kNone) __builtin_prefetch(&entry(*head));
  }
}

void LshIndex::reserve(size_t n) {
  for (auto& t : tables_)
    if (t.slots.size() * 4 < n * 5) rehash(t, n * 5 / 4 + 1);  // 80 % load when full
}

void LshIndex::insert(uint64_t id, int64_t time_ms, const Keys& keys, uint32_t tag) {
  if (id > 0xFFFFFFFFull) throw std::out_of_range("LshIndex ids must fit in 32 bits");
  uint32_t e;
  if (!free_.empty()) {
    e = free_.back();
    free_.pop_back();
  } else {
    if (entries_ == 0xFFFFFFFEu) throw std::length_error("LshIndex is full");
    if ((entries_ >> kPageBits) == pages_.size()) pages_.push_back(std::make_unique<Entry[]>(size_t{1} << kPageBits));
    e = entries_++;
  }
  Entry& en = entry(e);
  en.id = static_cast<uint32_t>(id);
  en.minutes = to_minutes(time_ms);
  en.tag = tag;
  for (int b = 0; b < kBands; ++b) {
    uint32_t* head = find_head(b, keys[b], true);
    en.next[b] = *head == kEmpty ? kNone : *head;
    *head = e;
  }
  ++live_;
}

std::vector<uint64_t> LshIndex::candidates(const Keys& keys, int64_t time_ms, int64_t window_ms, size_t limit,
                                           size_t max_chain, uint32_t tag) const {
  const int64_t now = to_minutes(time_ms);
  const int64_t span = window_ms / 60000 + 1;
  std::vector<uint32_t> found;
  for (int b = 0; b < kBands; ++b) {
    const uint32_t* head = find_head(b, keys[b]);
    if (!head || *head == kEmpty) continue;
    size_t walked = 0;
    for (uint32_t e = *head; e != kNone && walked < max_chain; e = entry(e).next[b], ++walked)
      if (std::llabs(entry(e).minutes - now) <= span && (tag == 0 || entry(e).tag == 0 || (entry(e).tag & tag) != 0))
        found.push_back(e);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  std::sort(found.begin(), found.end(), [&](uint32_t x, uint32_t y) {
    int32_t mx = entry(x).minutes, my = entry(y).minutes;
    return mx != my ? mx > my : x > y;
  });
  if (found.size() > limit) found.resize(limit);
  std::vector<uint64_t> out;
  out.reserve(found.size());
  for (uint32_t e : found) out.push_back(entry(e).id);
  return out;
}

void LshIndex::expire_before(int64_t time_ms) {
  const int32_t cutoff = to_minutes(time_ms);
  auto expired = [&](uint32_t e) { return entry(e).minutes < cutoff; };  // free entries are INT32_MIN
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
        uint32_t* next = &entry(*link).next[b];
        if (expired(*link))
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
  for (uint32_t e = 0; e < entries_; ++e)
    if (entry(e).minutes != kFree && expired(e)) {
      entry(e).minutes = kFree;
      free_.push_back(e);
      --live_;
    }
}

size_t LshIndex::memory_bytes() const {
  size_t bytes = pages_.size() * (sizeof(Entry) << kPageBits) + pages_.capacity() * sizeof(pages_[0]) +
                 free_.capacity() * sizeof(uint32_t);
  for (const auto& t : tables_) bytes += t.slots.capacity() * sizeof(Slot);
  return bytes;
}

}  // namespace minyi
