// MinHash over character shingles. The K permutations are h_i(x) = a_i·x + b_i (mod 2^64),
// keeping the high 32 bits, with odd a_i drawn from a fixed seed so signatures stored in
// the journal stay comparable across restarts and releases.
#include "dedup/minhash.hpp"

#include <algorithm>
#include <limits>

#include "core/text.hpp"

namespace minyi {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

struct Permutations {
  std::array<uint64_t, kMinHashSize> a{}, b{};
  Permutations() {
    uint64_t s = 0x6D696E7969ULL;  // "minyi": changing it invalidates stored signatures
    for (int i = 0; i < kMinHashSize; ++i) {
      a[i] = splitmix64(s += 0x9E3779B97F4A7C15ULL) | 1;
      b[i] = splitmix64(s += 0x9E3779B97F4A7C15ULL);
    }
  }
};
const Permutations kPerm;

}  // namespace

std::vector<uint64_t> shingle_hashes(std::string_view normalized) {
  std::u32string cps = utf8_to_u32(normalized);
  std::vector<uint64_t> out;
  if (cps.empty()) return out;
  size_t k = std::min<size_t>(kShingleChars, cps.size());
  out.reserve(cps.size() - k + 1);
  for (size_t i = 0; i + k <= cps.size(); ++i) {
    uint64_t h = 0;
    for (size_t j = 0; j < k; ++j) h = splitmix64(h ^ cps[i + j]);
    out.push_back(h);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

MinHash minhash_of(const std::vector<uint64_t>& shingles) {
  MinHash m;
  m.values.fill(std::numeric_limits<uint32_t>::max());
  m.shingles = static_cast<uint32_t>(shingles.size());
  for (uint64_t x : shingles)
    for (int i = 0; i < kMinHashSize; ++i) {
      auto v = static_cast<uint32_t>((kPerm.a[i] * x + kPerm.b[i]) >> 32);
      m.values[i] = std::min(m.values[i], v);
    }
  return m;
}

double estimated_jaccard(const MinHash& a, const MinHash& b) {
  if (a.shingles == 0 || b.shingles == 0) return a.shingles == b.shingles ? 1.0 : 0.0;
  int equal = 0;
  for (int i = 0; i < kMinHashSize; ++i) equal += a.values[i] == b.values[i];
  return static_cast<double>(equal) / kMinHashSize;
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j])
      ++i;
    else if (b[j] < a[i])
      ++j;
    else
      ++common, ++i, ++j;
  }
  return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

std::array<uint32_t, kBands> band_keys(const MinHash& m) {
  std::array<uint32_t, kBands> keys{};
  for (int band = 0; band < kBands; ++band) {
    uint64_t h = static_cast<uint64_t>(band) << 56;
    for (int r = 0; r < kRows; ++r) h = splitmix64(h ^ m.values[band * kRows + r]);
    keys[band] = static_cast<uint32_t>(h >> 32);
  }
  return keys;
}

}  // namespace minyi
