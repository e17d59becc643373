// Google Benchmark: normalize + sign (MinHash) throughput on real citizen messages.
// Data: MINYI_BENCH_CSV or ../shared/data/teddy2020c/stream_all_attachments.csv (column
// `detail`; median ~200 characters, long tail to ~7,000).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "core/csv.hpp"
#include "dedup/clusters.hpp"
#include "dedup/minhash.hpp"
#include "text/normalize.hpp"

namespace {

const std::vector<std::string>& messages() {
  static const std::vector<std::string> all = [] {
    const char* env = std::getenv("MINYI_BENCH_CSV");
    auto rows = minyi::csv::read_csv(env ? env : "../shared/data/teddy2020c/stream_all_attachments.csv");
    long detail = minyi::csv::column(rows.at(0), "detail");
    std::vector<std::string> out;
    for (size_t r = 1; r < rows.size(); ++r)
      if (detail >= 0 && rows[r].size() > static_cast<size_t>(detail)) out.push_back(rows[r][detail]);
    return out;
  }();
  return all;
}

void BM_Normalize(benchmark::State& state) {
  const auto& msgs = messages();
  minyi::normalize_for_matching("预热");  // build the conversion table outside the timing
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& m = msgs[i++ % msgs.size()];
    benchmark::DoNotOptimize(minyi::normalize_for_matching(m));
    bytes += m.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Normalize);

void BM_NormalizeAndSign(benchmark::State& state) {
  const auto& msgs = messages();
  minyi::normalize_for_matching("预热");
  size_t i = 0;
  for (auto _ : state) {
    auto sig =
        minyi::minhash_of(minyi::shingle_hashes_unsorted(minyi::normalize_for_matching(msgs[i++ % msgs.size()])));
    benchmark::DoNotOptimize(minyi::band_keys(sig));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NormalizeAndSign);

// The place and topic features clustering needs (title empty: the content alone).
void BM_IssueFeatures(benchmark::State& state) {
  const auto& msgs = messages();
  minyi::normalize_for_matching("预热");
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(minyi::issue_features("", msgs[i++ % msgs.size()]));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_IssueFeatures);

// Everything intake computes for dedup per suggestion, as Intake::prepare does it:
// places, problem terms and matching text in one pass (the topic keywords are left to the
// journal writer, BM_TopicKeywords), then shingles, MinHash and band keys.
void BM_IntakeDedupInput(benchmark::State& state) {
  const auto& msgs = messages();
  minyi::normalize_for_matching("预热");
  size_t i = 0;
  for (auto _ : state) {
    std::string match;
    minyi::TopicText topic;
    auto f = minyi::issue_features("", msgs[i++ % msgs.size()], {}, &match, &topic);
    auto sh = minyi::shingle_hashes_unsorted(match);
    benchmark::DoNotOptimize(minyi::band_keys(minyi::minhash_of(sh)));
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_IntakeDedupInput);

// What the journal writer adds for a report it assigns to a cluster (not for a duplicate).
void BM_TopicKeywords(benchmark::State& state) {
  const auto& msgs = messages();
  std::vector<minyi::TopicText> topics(std::min<size_t>(msgs.size(), 2000));
  for (size_t k = 0; k < topics.size(); ++k) minyi::issue_features("", msgs[k], {}, nullptr, &topics[k]);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(minyi::topic_keywords(topics[i++ % topics.size()]));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_TopicKeywords);

}  // namespace

BENCHMARK_MAIN();
