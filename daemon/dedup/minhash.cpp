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

std::vector<uint64_t> shingle_hashes_unsorted(std::string_view normalized) {
  thread_local std::u32string cps;  // scratch: a fresh buffer per message costs more in malloc
  utf8_to_u32(normalized, cps);
  std::vector<uint64_t> out;
  if (cps.empty()) return out;
  const size_t k = std::min<size_t>(kShingleChars, cps.size());
  // h = splitmix(…splitmix(splitmix(c0) ^ c1)… ^ c[k-1])
  out.reserve(cps.size() - k + 1);
  for (size_t i = 0; i + k <= cps.size(); ++i) {
    uint64_t h = splitmix64(cps[i]);
    for (size_t j = 1; j < k; ++j) h = splitmix64(h ^ cps[i + j]);
    out.push_back(h);
  }
  if (cps.capacity() > 65536) cps = {};  // a very long message: don't keep its buffer
  return out;
}

void sort_unique(std::vector<uint64_t>& hashes) {
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
}

std::vector<uint64_t> shingle_hashes(std::string_view normalized) {
  auto out = shingle_hashes_unsorted(normalized);
  sort_unique(out);
  return out;
}

namespace {

// values[i] = min over the shingles x of the high 32 bits of a[i]·x + b[i], in a generic
// and an AVX-512 variant chosen at run time. Integer arithmetic: both give the same values.
// Written so the compiler vectorizes the inner loop; inlined into each variant below, it
// is compiled once per instruction set.
[[gnu::always_inline]] inline void minhash_update_body(uint32_t* __restrict values, const uint64_t* __restrict a,
                                                       const uint64_t* __restrict b, const uint64_t* __restrict xs,
                                                       size_t n) {
  for (size_t k = 0; k < n; ++k) {
    const uint64_t x = xs[k];
    for (int i = 0; i < kMinHashSize; ++i) {
      const auto v = static_cast<uint32_t>((a[i] * x + b[i]) >> 32);
      values[i] = values[i] < v ? values[i] : v;
    }
  }
}

void minhash_update_generic(uint32_t* values, const uint64_t* a, const uint64_t* b, const uint64_t* xs, size_t n) {
  minhash_update_body(values, a, b, xs, n);
}

#if defined(__x86_64__) && defined(__GNUC__)
// With AVX-512DQ (one 64-bit multiply per lane) the loop runs several times faster.
__attribute__((target("avx512f,avx512dq"))) void minhash_update_avx512(uint32_t* values, const uint64_t* a,
                                                                       const uint64_t* b, const uint64_t* xs,
                                                                       size_t n) {
  minhash_update_body(values, a, b, xs, n);
}
#endif

using UpdateFn = void (*)(uint32_t*, const uint64_t*, const uint64_t*, const uint64_t*, size_t);
UpdateFn pick_update() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return minhash_update_avx512;
#endif
  return minhash_update_generic;
}
const UpdateFn kUpdate = pick_update();

}  // namespace

namespace {
MinHash minhash_with(UpdateFn update, const std::vector<uint64_t>& shingles) {
  MinHash m;
  m.values.fill(std::numeric_limits<uint32_t>::max());
  m.shingles = static_cast<uint32_t>(shingles.size());
  update(m.values.data(), kPerm.a.data(), kPerm.b.data(), shingles.data(), shingles.size());
  return m;
}
}  // namespace

MinHash minhash_of(const std::vector<uint64_t>& shingles) { return minhash_with(kUpdate, shingles); }
MinHash minhash_of_portable(const std::vector<uint64_t>& shingles) {
  return minhash_with(minhash_update_generic, shingles);
}

double estimated_jaccard(const MinHash& a, const MinHash& b) {
  if (a.shingles == 0 || b.shingles == 0) return a.shingles == b.shingles ? 1.0 : 0.0;
  int equal = 0;
  for (int i = 0; i < kMinHashSize; ++i) equal += a.values[i] == b.values[i];
  return static_cast<double>(equal) / kMinHashSize;
}

size_t common_count(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j])
      ++i;
    else if (b[j] < a[i])
      ++j;
    else
      ++common, ++i, ++j;
  }
  return common;
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  const size_t common = common_count(a, b);
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
