// Text signatures for near-duplicate detection: character shingles of the matching form
// of a text (text/normalize.hpp), their MinHash sketch, and LSH band keys over it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace minyi {

constexpr int kShingleChars = 3;              // Chinese words are 1–3 characters; 3-grams keep order
constexpr int kMinHashSize = 64;              // sketch length: estimator standard error ≈ 0.06 at J=0.5
constexpr int kBands = 16;                    // LSH: 16 bands × 4 rows → P(candidate | J=0.8) ≈ 0.9998,
constexpr int kRows = kMinHashSize / kBands;  //                  P(candidate | J=0.3) ≈ 0.12

// Sorted, de-duplicated 64-bit hashes of the text's character k-grams (the whole text
// when it is shorter than k). `normalized` is UTF-8 from normalize_for_matching().
std::vector<uint64_t> shingle_hashes(std::string_view normalized);
// The same hashes in text order, repeats included: enough for MinHash, and cheaper (the
// sort is only needed for an exact comparison). sort_unique() turns them into the set.
std::vector<uint64_t> shingle_hashes_unsorted(std::string_view normalized);
void sort_unique(std::vector<uint64_t>& hashes);

struct MinHash {
  std::array<uint32_t, kMinHashSize> values{};
  uint32_t shingles = 0;  // shingles hashed (0: empty text)
};

// Repeats in `shingles` do not change the values. Vectorized where the CPU allows.
MinHash minhash_of(const std::vector<uint64_t>& shingles);
// The same values from the plain code path, whatever the CPU (for tests).
MinHash minhash_of_portable(const std::vector<uint64_t>& shingles);
// Fraction of equal positions: an unbiased estimate of the Jaccard similarity.
double estimated_jaccard(const MinHash& a, const MinHash& b);
// How many values two sorted, de-duplicated vectors share.
size_t common_count(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
// Exact Jaccard similarity of two sorted shingle sets.
double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
// One 32-bit key per band; equal keys in any band make two texts candidates.
std::array<uint32_t, kBands> band_keys(const MinHash& m);

}  // namespace minyi
