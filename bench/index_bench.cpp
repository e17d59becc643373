// minyi-index-bench: the duplicate index at scale. Builds an index of N suggestions
// (default 1,000,000), then times lookup+insert one by one (p50/p99/p99.9), reports memory
// per suggestion, and times a start-up load of N stored signatures from a SQLite file.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "dedup/lsh_index.hpp"

using Clock = std::chrono::steady_clock;

namespace {

minyi::LshIndex::Keys random_keys(std::mt19937& rng) {
  minyi::LshIndex::Keys k;
  for (auto& x : k) x = rng();
  return k;
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1'000'000;
  const size_t probes = 100'000;
  const int64_t day = 86'400'000, window = 365 * day, start = 1'700'000'000'000;
  std::mt19937 rng(7);

  // 1. Fill: N suggestions spread over a year, 2 % of them near-duplicates of an earlier one
  //    (one band in common), like resent letters.
  minyi::LshIndex idx;
  std::vector<minyi::LshIndex::Keys> kept;
  kept.reserve(n);
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto k = random_keys(rng);
    if (i > 0 && rng() % 50 == 0) k[rng() % minyi::kBands] = kept[rng() % i][rng() % minyi::kBands];
    kept.push_back(k);
    idx.insert(i, start + static_cast<int64_t>(i) * window / static_cast<int64_t>(n), k);
  }
  double fill_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // 2. Lookup + insert, one at a time, as the journal writer does per suggestion.
  std::vector<double> us;
  us.reserve(probes);
  size_t hits = 0;
  for (size_t p = 0; p < probes; ++p) {
    auto k = random_keys(rng);
    if (p % 10 == 0) k = kept[rng() % n];  // 10 %: an exact resend
    int64_t t = start + window;
    auto a = Clock::now();
    auto c = idx.candidates(k, t, window);
    idx.insert(n + p, t, k);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    hits += !c.empty();
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  std::printf("index: %zu suggestions, filled in %.2f s\n", idx.size(), fill_s);
  std::printf("lookup+insert: p50=%.1f us p99=%.1f us p99.9=%.1f us max=%.1f us (%zu of %zu probes had candidates)\n",
              pct(0.5), pct(0.99), pct(0.999), us.back(), hits, probes);
  std::printf("memory: %.0f bytes per suggestion (%zu MiB)\n",
              static_cast<double>(idx.memory_bytes()) / static_cast<double>(idx.size()), idx.memory_bytes() >> 20);

  // 3. Start-up: N stored signatures (band keys + event time) loaded from SQLite.
  auto dir = std::filesystem::temp_directory_path() / ("minyi-index-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "signatures.db").string();
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  check(sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; CREATE TABLE sig(id INTEGER PRIMARY KEY, minutes INTEGER, bands BLOB);",
                     nullptr, nullptr, nullptr),
        db, "create");
  sqlite3_stmt* ins = nullptr;
  check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  check(sqlite3_prepare_v2(db, "INSERT INTO sig VALUES(?1, ?2, ?3)", -1, &ins, nullptr), db, "prepare");
  for (size_t i = 0; i < n; ++i) {
    sqlite3_bind_int64(ins, 1, static_cast<int64_t>(i));
    sqlite3_bind_int64(ins, 2, (start + static_cast<int64_t>(i) * window / static_cast<int64_t>(n)) / 60000);
    sqlite3_bind_blob(ins, 3, kept[i].data(), sizeof(kept[i]), SQLITE_STATIC);
    check(sqlite3_step(ins), db, "insert");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  sqlite3_close(db);
  kept.clear();
  kept.shrink_to_fit();

  t0 = Clock::now();
  check(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), db, "reopen");
  sqlite3_stmt* sel = nullptr;
  check(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sig", -1, &sel, nullptr), db, "count");
  sqlite3_step(sel);
  size_t rows = static_cast<size_t>(sqlite3_column_int64(sel, 0));
  sqlite3_finalize(sel);
  minyi::LshIndex loaded;
  loaded.reserve(rows);
  check(sqlite3_prepare_v2(db, "SELECT id, minutes, bands FROM sig", -1, &sel, nullptr), db, "select");
  while (sqlite3_step(sel) == SQLITE_ROW) {
    minyi::LshIndex::Keys k;
    std::memcpy(k.data(), sqlite3_column_blob(sel, 2), sizeof k);
    loaded.insert(static_cast<uint64_t>(sqlite3_column_int64(sel, 0)), sqlite3_column_int64(sel, 1) * 60000, k);
  }
  sqlite3_finalize(sel);
  sqlite3_close(db);
  double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("start-up: %zu stored signatures loaded in %.2f s; memory %.0f bytes per suggestion\n", loaded.size(),
              load_s, static_cast<double>(loaded.memory_bytes()) / static_cast<double>(loaded.size()));
  std::filesystem::remove_all(dir);
  return 0;
}
