// The LSH index: candidates by shared band keys inside a time window, expiry, reuse.
#include "dedup/lsh_index.hpp"

#include <gtest/gtest.h>

#include <random>

namespace minyi {

namespace {
constexpr int64_t kDay = 86'400'000;
LshIndex::Keys keys(uint32_t seed) {
  LshIndex::Keys k{};
  for (int b = 0; b < kBands; ++b) k[b] = seed * 1'000'003u + static_cast<uint32_t>(b);
  return k;
}
}  // namespace

TEST(LshIndex, FindsEntriesSharingAnyBandWithinTheWindow) {
  LshIndex idx;
  idx.insert(1, 100 * kDay, keys(7));
  auto partly = keys(8);
  partly[5] = keys(7)[5];  // shares one band with entry 1
  idx.insert(2, 101 * kDay, partly);
  idx.insert(3, 100 * kDay, keys(9));
  EXPECT_EQ(idx.candidates(keys(7), 102 * kDay, 30 * kDay), (std::vector<uint64_t>{2, 1}));  // newest first
  EXPECT_EQ(idx.candidates(keys(9), 100 * kDay, 30 * kDay), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(idx.candidates(keys(10), 100 * kDay, 30 * kDay).empty());
  // Outside the window (either direction: event times arrive out of order).
  EXPECT_TRUE(idx.candidates(keys(9), 200 * kDay, 30 * kDay).empty());
  EXPECT_TRUE(idx.candidates(keys(9), 10 * kDay, 30 * kDay).empty());
  EXPECT_EQ(idx.size(), 3u);
}

TEST(LshIndex, ExpiryUnlinksAndReusesEntries) {
  LshIndex idx;
  for (uint32_t i = 0; i < 1000; ++i) idx.insert(i, (i < 500 ? 1 : 50) * kDay, keys(i % 10));
  size_t before = idx.memory_bytes();
  idx.expire_before(10 * kDay);
  EXPECT_EQ(idx.size(), 500u);
  auto c = idx.candidates(keys(3), 50 * kDay, 365 * kDay, 1000);
  EXPECT_EQ(c.size(), 50u);
  for (uint64_t id : c) EXPECT_GE(id, 500u);
  for (uint32_t i = 1000; i < 1500; ++i) idx.insert(i, 60 * kDay, keys(i % 10));
  EXPECT_EQ(idx.size(), 1000u);
  EXPECT_LE(idx.memory_bytes(), before + before / 4) << "freed entries are reused";
  EXPECT_EQ(idx.candidates(keys(3), 60 * kDay, kDay, 1000).size(), 50u);
}

TEST(LshIndex, PrefetchingChangesNothingOnAnyKindOfSlot) {
  // Prefetches only ask for memory: on an empty index, on missing keys, on chains that
  // expiry emptied and on live chains they must neither fail nor change a lookup.
  LshIndex idx;
  idx.prefetch(keys(1));
  idx.prefetch_chains(keys(1));
  idx.insert(1, 10 * kDay, keys(1));
  idx.insert(2, 50 * kDay, keys(2));
  idx.expire_before(20 * kDay);  // keys(1)'s chains are now empty
  for (uint32_t seed : {1u, 2u, 3u}) {
    idx.prefetch(keys(seed));
    idx.prefetch_chains(keys(seed));
  }
  EXPECT_TRUE(idx.candidates(keys(1), 10 * kDay, kDay).empty());
  EXPECT_EQ(idx.candidates(keys(2), 50 * kDay, kDay), (std::vector<uint64_t>{2}));
  EXPECT_EQ(idx.size(), 1u);
}

TEST(LshIndex, LongChainsAreCapped) {
  LshIndex idx;
  for (uint32_t i = 0; i < 5000; ++i) idx.insert(i, kDay, keys(1));
  auto c = idx.candidates(keys(1), kDay, kDay, 10000, 100);
  EXPECT_LE(c.size(), 100u * kBands);
  EXPECT_EQ(idx.candidates(keys(1), kDay, kDay, 5).size(), 5u);
}

TEST(LshIndex, TagsFilterCandidatesWithoutHidingOthers) {
  LshIndex idx;
  idx.insert(1, kDay, keys(1), 0b0001);  // the same person as the lookup
  for (uint32_t i = 0; i < 50; ++i) idx.insert(100 + i, kDay + 60000 * (i + 1), keys(1), 0b0100);  // others, newer
  idx.insert(2, kDay, keys(1), 0);  // no identity: always a candidate
  // Untagged lookups see everything (up to the limit, newest first).
  EXPECT_EQ(idx.candidates(keys(1), kDay, kDay, 5).front(), 149u);
  // Tagged: the 50 newer entries of others are left out, so the older match is found.
  EXPECT_EQ(idx.candidates(keys(1), kDay, kDay, 5, 256, 0b0001), (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(idx.candidates(keys(1), kDay, kDay, 5, 256, 0b1000), (std::vector<uint64_t>{2}));
}

TEST(LshIndex, ManyRandomEntriesAndOnlyTrueMatches) {
  LshIndex idx;
  std::mt19937 rng(42);
  std::vector<LshIndex::Keys> all;
  for (uint32_t i = 0; i < 20000; ++i) {
    LshIndex::Keys k;
    for (auto& x : k) x = rng();
    all.push_back(k);
    idx.insert(i, kDay, k);
  }
  for (uint32_t i = 0; i < 20000; i += 997) EXPECT_EQ(idx.candidates(all[i], kDay, kDay), (std::vector<uint64_t>{i}));
  EXPECT_LT(idx.memory_bytes() / idx.size(), 300u);  // grown online, pages and tables included
}

}  // namespace minyi
