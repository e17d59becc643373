// Google Benchmark: the duplicate index at scale (MINYI_INDEX_N suggestions, default
// 1,000,000, spread over a year; 2 % near-duplicates of an earlier one).
//   BM_IndexGrownOnline    inserts them one by one as a live journal would; reports memory
//                          per suggestion and the slowest single insert (a table growing).
//   BM_LookupInsert        candidates + insert per suggestion against the full index, as
//                          the journal writer does; p50/p99/p99.9 of single operations.
//   BM_StartupLoad         the stored band keys read from a SQLite file into a fresh index.
//   BM_DetectorStartup     minyid's own start-up path (DuplicateDetector::load) over the
//                          journal's tables (schema version 5): dedup_index beside
//                          dedup_signatures rows holding ~1 KB of matching text each
//                          (one iteration = one start-up).
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dedup/detector.hpp"
#include "dedup/lsh_index.hpp"
#include "journal/schema.hpp"
#include "journal/sqlite.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using minyi::LshIndex;

constexpr int64_t kDay = 86'400'000, kWindow = 365 * kDay, kStart = 1'700'000'000'000;

size_t corpus_size() {
  const char* env = std::getenv("MINYI_INDEX_N");
  return env ? std::strtoul(env, nullptr, 10) : 1'000'000;
}

LshIndex::Keys random_keys(std::mt19937& rng) {
  LshIndex::Keys k;
  for (auto& x : k) x = rng();
  return k;
}

// The suggestions' band keys and event times, generated once.
struct Corpus {
  std::vector<LshIndex::Keys> keys;
  int64_t time_of(size_t i) const {
    return kStart + static_cast<int64_t>(i) * kWindow / static_cast<int64_t>(keys.size());
  }
};
const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus out;
    const size_t n = corpus_size();
    std::mt19937 rng(7);
    out.keys.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto k = random_keys(rng);
      if (i > 0 && rng() % 50 == 0) k[rng() % minyi::kBands] = out.keys[rng() % i][rng() % minyi::kBands];
      out.keys.push_back(k);
    }
    return out;
  }();
  return c;
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

void BM_IndexGrownOnline(benchmark::State& state) {
  const Corpus& c = corpus();
  double per_suggestion = 0, slowest_ms = 0;
  for (auto _ : state) {
    LshIndex idx;
    for (size_t i = 0; i < c.keys.size(); ++i) {
      auto a = Clock::now();
      idx.insert(i, c.time_of(i), c.keys[i]);
      slowest_ms = std::max(slowest_ms, std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    }
    per_suggestion = static_cast<double>(idx.memory_bytes()) / static_cast<double>(idx.size());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * c.keys.size()));
  state.counters["bytes_per_suggestion"] = per_suggestion;
  state.counters["slowest_insert_ms"] = slowest_ms;
}
BENCHMARK(BM_IndexGrownOnline)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_LookupInsert(benchmark::State& state) {
  const Corpus& c = corpus();
  LshIndex idx;
  for (size_t i = 0; i < c.keys.size(); ++i) idx.insert(i, c.time_of(i), c.keys[i]);
  std::mt19937 rng(11);
  std::vector<double> us;
  us.reserve(200'000);
  size_t next_id = c.keys.size(), with_candidates = 0;
  const int64_t now = kStart + kWindow;
  for (auto _ : state) {
    // 10 %: an exact resend of a stored suggestion; otherwise a new text.
    auto k = next_id % 10 == 0 ? c.keys[rng() % c.keys.size()] : random_keys(rng);
    auto a = Clock::now();
    auto cands = idx.candidates(k, now, kWindow);
    idx.insert(next_id++, now, k);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    with_candidates += !cands.empty();
    benchmark::DoNotOptimize(cands);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["index_size"] = static_cast<double>(idx.size());
  state.counters["with_candidates"] = static_cast<double>(with_candidates) / static_cast<double>(us.size());
  state.counters["p50_us"] = percentile(us, 0.5);
  state.counters["p99_us"] = percentile(us, 0.99);
  state.counters["p999_us"] = percentile(us, 0.999);
  state.counters["max_us"] = us.empty() ? 0 : us.back();
}
BENCHMARK(BM_LookupInsert)->Iterations(100'000);

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The journal's dedup_signatures shape: rowid, event minutes, band keys as a blob.
std::string write_signatures(const std::filesystem::path& dir) {
  const Corpus& c = corpus();
  std::string path = (dir / "signatures.db").string();
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  check(sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; CREATE TABLE sig(id INTEGER PRIMARY KEY, minutes INTEGER, bands BLOB);"
                     "BEGIN",
                     nullptr, nullptr, nullptr),
        db, "create");
  sqlite3_stmt* ins = nullptr;
  check(sqlite3_prepare_v2(db, "INSERT INTO sig VALUES(?1, ?2, ?3)", -1, &ins, nullptr), db, "prepare");
  for (size_t i = 0; i < c.keys.size(); ++i) {
    sqlite3_bind_int64(ins, 1, static_cast<int64_t>(i));
    sqlite3_bind_int64(ins, 2, c.time_of(i) / 60000);
    sqlite3_bind_blob(ins, 3, c.keys[i].data(), sizeof(c.keys[i]), SQLITE_STATIC);
    check(sqlite3_step(ins), db, "insert");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  sqlite3_close(db);
  return path;
}

void BM_StartupLoad(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / ("minyi-index-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = write_signatures(dir);
  double per_suggestion = 0;
  size_t loaded_n = 0;
  for (auto _ : state) {
    // As DuplicateDetector::load does: count, size the index, read every signature.
    sqlite3* db = nullptr;
    check(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), db, "reopen");
    sqlite3_stmt* sel = nullptr;
    check(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sig", -1, &sel, nullptr), db, "count");
    sqlite3_step(sel);
    auto rows = static_cast<size_t>(sqlite3_column_int64(sel, 0));
    sqlite3_finalize(sel);
    auto loaded = std::make_unique<LshIndex>();
    loaded->reserve(rows + 1024);
    check(sqlite3_prepare_v2(db, "SELECT id, minutes, bands FROM sig", -1, &sel, nullptr), db, "select");
    while (sqlite3_step(sel) == SQLITE_ROW) {
      LshIndex::Keys k;
      std::memcpy(k.data(), sqlite3_column_blob(sel, 2), sizeof k);
      loaded->insert(static_cast<uint64_t>(sqlite3_column_int64(sel, 0)), sqlite3_column_int64(sel, 1) * 60000, k);
    }
    sqlite3_finalize(sel);
    sqlite3_close(db);
    loaded_n = loaded->size();
    per_suggestion = static_cast<double>(loaded->memory_bytes()) / static_cast<double>(loaded_n);
    state.PauseTiming();
    loaded.reset();
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.counters["suggestions"] = static_cast<double>(loaded_n);
  state.counters["bytes_per_suggestion"] = per_suggestion;
}
BENCHMARK(BM_StartupLoad)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_DetectorStartup(benchmark::State& state) {
  const Corpus& c = corpus();
  auto dir = std::filesystem::temp_directory_path() / ("minyi-detector-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "journal.db").string();
  {
    // The journal's own schema, every migration applied.
    minyi::sql::Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("PRAGMA journal_mode=WAL");
    for (const char* migration : minyi::journal_migrations()) db.exec(migration);
    db.exec("BEGIN");
    minyi::sql::Stmt sig(db.get(),
                         "INSERT INTO dedup_signatures(suggestion_rowid, event_minutes, bands, match_text, identities, "
                         "places, suggestion_id, root_id) VALUES(?1,?2,X'',?3,?4,?5,?6,?7)");
    minyi::sql::Stmt idx(db.get(), "INSERT INTO dedup_index VALUES(?1,?2,?3,?4)");
    std::string text;
    for (int i = 0; i < 110; ++i) text += "小区门口道路积水";  // ~330 characters, 990 bytes
    char id[48];
    for (size_t i = 0; i < c.keys.size(); ++i) {
      std::snprintf(id, sizeof id, "0190%04zx-0000-7000-8000-%012zx", i >> 32, i);
      sig.bind(1, static_cast<int64_t>(i + 1))
          .bind(2, c.time_of(i) / 60000)
          .bind(3, text)
          .bind(4, "phone:hmac-sha256:" + std::to_string(1000000007ULL * (i + 1)))
          .bind(5, "幸福小区")
          .bind(6, id)
          .bind(7, id)
          .run();
      idx.bind(1, static_cast<int64_t>(i + 1))
          .bind(2, c.time_of(i) / 60000)
          .bind_blob(3, std::string_view(reinterpret_cast<const char*>(c.keys[i].data()), sizeof c.keys[i]))
          .bind(4, static_cast<int64_t>(1u << (i % 32)))
          .run();
    }
    db.exec("COMMIT");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  minyi::DedupOptions opts;
  opts.duplicate_window_ms = kWindow;
  size_t loaded = 0;
  for (auto _ : state) {
    minyi::sql::Db db(path, SQLITE_OPEN_READWRITE);
    minyi::DuplicateDetector detector(opts);
    detector.load(db);
    loaded = detector.size();
  }
  std::filesystem::remove_all(dir);
  state.counters["suggestions"] = static_cast<double>(loaded);
}
BENCHMARK(BM_DetectorStartup)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
