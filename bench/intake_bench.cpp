// Google Benchmark: the per-request work on the network threads that is ours rather than
// the kernel's, on the ingest benchmark's own bodies (bench/bodies.hpp): the web channel's
// check of a JSON body, and intake (parse, schema check, normalization, hashes, the
// rendered document) with dedup off and on. One thread, no I/O, so these numbers do not
// drift with the VM the way the end-to-end benchmark does.
// Data: MINYI_BENCH_CSV or ../shared/data/teddy2020c/stream_all_attachments.csv.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "bodies.hpp"
#include "core/embedded.hpp"
#include "intake/draft_reader.hpp"
#include "intake/intake.hpp"
#include "intake/json_schema.hpp"
#include "json_scan.hpp"
#include "text/normalize.hpp"

namespace {

const std::vector<std::string>& bodies() {
  static const std::vector<std::string> all = [] {
    const char* env = std::getenv("MINYI_BENCH_CSV");
    return minyi::bench::make_bodies(env ? env : "../shared/data/teddy2020c/stream_all_attachments.csv", 1000);
  }();
  return all;
}

// The web channel's one-pass check of a JSON body (member names, syntax).
void BM_WebChannelScan(benchmark::State& state) {
  const auto& b = bodies();
  size_t i = 0, members = 0;
  for (auto _ : state) {
    auto err = minyi::plugins::scan_json(
        b[i++ % b.size()], [&](const std::vector<minyi::plugins::JsonFrame>&, std::string_view) { ++members; });
    benchmark::DoNotOptimize(err);
  }
  benchmark::DoNotOptimize(members);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_WebChannelScan);

// Intake's parse of the draft into a document, and the schema check over it: what a
// single-pass draft reader would replace.
void BM_DraftParse(benchmark::State& state) {
  const auto& b = bodies();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(b[i++ % b.size()]));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DraftParse);

// The same document from intake's one-pass reader (what intake uses first).
void BM_DraftReadFast(benchmark::State& state) {
  const auto& b = bodies();
  size_t i = 0;
  for (auto _ : state) {
    nlohmann::json d;
    if (!minyi::read_json_fast(b[i++ % b.size()], d)) state.SkipWithError("the reader declined a benchmark body");
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DraftReadFast);

void BM_DraftSchemaCheck(benchmark::State& state) {
  const auto& b = bodies();
  std::vector<nlohmann::json> docs;
  for (size_t k = 0; k < std::min<size_t>(b.size(), 2000); ++k) docs.push_back(nlohmann::json::parse(b[k]));
  minyi::JsonSchema schema{std::string(minyi::embedded::draft_schema)};
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(schema.validate(docs[i++ % docs.size()]));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DraftSchemaCheck);

// All of intake for one submission, as the web channel hands it over (the body is both
// the draft and the raw payload). Arg: dedup off (0) or on (1).
void BM_IntakePrepare(benchmark::State& state) {
  const auto& b = bodies();
  minyi::normalize_for_matching("预热");
  const minyi::Intake intake(
      "0123456789abcdef0123456789abcdef", [] { return int64_t{1'795'000'000'000}; }, state.range(0) != 0);
  const minyi::IntakeSource src{"portal", "web", "1.0.0", "web"};
  size_t i = 0, refused = 0;
  for (auto _ : state) {
    const auto& body = b[i++ % b.size()];
    auto r = intake.prepare(src, body, body, "application/json");
    refused += std::holds_alternative<minyi::IntakeRejection>(r);
    benchmark::DoNotOptimize(r);
  }
  if (refused) state.SkipWithError("intake refused a benchmark body");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_IntakePrepare)->ArgName("dedup")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
