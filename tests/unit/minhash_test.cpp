// Shingles, MinHash and LSH band keys.
#include "dedup/minhash.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>

#include "text/normalize.hpp"

namespace minyi {

namespace {
MinHash sig(std::string_view text) { return minhash_of(shingle_hashes(normalize_for_matching(text))); }
}  // namespace

TEST(MinHash, IdenticalAfterNormalizationMeansIdenticalSignature) {
  auto a = sig("幸福小区旁工地夜间施工，噪音扰民！");
  auto b = sig("幸福小區旁工地夜間施工 噪音擾民");  // traditional, other punctuation
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(estimated_jaccard(a, b), 1.0);
  EXPECT_EQ(band_keys(a), band_keys(b));
}

TEST(MinHash, EstimateTracksExactJaccard) {
  std::string base =
      "A市经济学院体育学院变相强制实习，学生被安排到企业流水线工作，每天工作十二小时，工资很低，希望有关部门调查处理。";
  std::string edited = base + "另外学校还收取了实习管理费。";
  auto sa = shingle_hashes(normalize_for_matching(base));
  auto sb = shingle_hashes(normalize_for_matching(edited));
  double exact = jaccard(sa, sb);
  EXPECT_GT(exact, 0.6);
  EXPECT_LT(exact, 0.9);
  EXPECT_NEAR(estimated_jaccard(minhash_of(sa), minhash_of(sb)), exact, 0.2);
  auto other = shingle_hashes(normalize_for_matching("西地省某县城区路灯长期不亮，夜间出行很不安全。"));
  EXPECT_LT(jaccard(sa, other), 0.05);
  EXPECT_LT(estimated_jaccard(minhash_of(sa), minhash_of(other)), 0.2);
}

TEST(MinHash, NearDuplicatesShareABandAndUnrelatedTextsRarelyDo) {
  std::string base = "小区门口的道路积水严重，一下雨就无法通行，已经反映多次没有解决，请尽快修缮排水设施。";
  auto a = band_keys(sig(base));
  auto b = band_keys(sig(base + "谢谢。"));
  int shared = 0;
  for (int i = 0; i < kBands; ++i) shared += a[i] == b[i];
  EXPECT_GE(shared, 1);
  auto c = band_keys(sig("公交车站台破损，雨天没有遮挡，老人孩子等车很不方便，建议增设候车亭。"));
  int unrelated = 0;
  for (int i = 0; i < kBands; ++i) unrelated += a[i] == c[i];
  EXPECT_EQ(unrelated, 0);
}

TEST(MinHash, ShortAndEmptyTexts) {
  EXPECT_TRUE(shingle_hashes("").empty());
  EXPECT_EQ(shingle_hashes("好").size(), 1u);
  EXPECT_EQ(jaccard({}, {}), 1.0);
  MinHash empty = minhash_of({});
  EXPECT_EQ(empty.shingles, 0u);
  EXPECT_EQ(estimated_jaccard(empty, sig("有内容")), 0.0);
}

// Stored signatures must stay comparable across releases: the values are exactly the
// documented scheme (permutations a·x + b mod 2^64 from splitmix64 seeded with "minyi",
// high 32 bits), whichever code path (vectorized or not) this CPU runs.
TEST(MinHash, ValuesFollowTheDocumentedPermutationsOnEveryCodePath) {
  auto splitmix64 = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  };
  std::array<uint64_t, kMinHashSize> a{}, b{};
  uint64_t seed = 0x6D696E7969ULL;
  for (int i = 0; i < kMinHashSize; ++i) {
    a[i] = splitmix64(seed += 0x9E3779B97F4A7C15ULL) | 1;
    b[i] = splitmix64(seed += 0x9E3779B97F4A7C15ULL);
  }
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "第" + std::to_string(i) + "条：小区门口道路积水，";
  for (std::string text : {std::string("好"), std::string("噪音扰民"), long_text}) {
    auto shingles = shingle_hashes_unsorted(normalize_for_matching(text));
    std::array<uint32_t, kMinHashSize> expected;
    expected.fill(0xFFFFFFFFu);
    for (uint64_t x : shingles)
      for (int i = 0; i < kMinHashSize; ++i)
        expected[i] = std::min(expected[i], static_cast<uint32_t>((a[i] * x + b[i]) >> 32));
    EXPECT_EQ(minhash_of(shingles).values, expected) << text.substr(0, 30);
    EXPECT_EQ(minhash_of_portable(shingles).values, expected) << text.substr(0, 30);
    // Sorting and removing repeats changes nothing.
    auto set = shingles;
    sort_unique(set);
    EXPECT_EQ(minhash_of(set).values, expected);
    EXPECT_EQ(set, shingle_hashes(normalize_for_matching(text)));
  }
}

}  // namespace minyi
