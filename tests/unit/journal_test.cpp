// The journal: durability of acknowledged submissions, replays, group commit, migrations.
#include "journal/journal.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/ids.hpp"
#include "dedup/clusters.hpp"
#include "dedup/detector.hpp"
#include "dedup/minhash.hpp"

namespace minyi {

namespace fs = std::filesystem;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("minyi-journal-" + new_uuid_v7());
    fs::create_directories(dir_);
    path_ = (dir_ / "journal.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static JournalRecord record(const std::string& instance, std::optional<std::string> ext, const std::string& body) {
    JournalRecord r;
    r.instance = instance;
    r.external_id = std::move(ext);
    r.suggestion_id = new_uuid_v7();
    r.event_id = new_uuid_v7();
    r.suggestion_json = "{\"content\":\"" + body + "\"}";
    r.channel = "web";
    r.received_at = "2026-11-27T09:00:00.000+08:00";
    r.raw = body;
    r.raw_sha256 = std::string(64, 'a');
    r.raw_content_type = "text/plain";
    return r;
  }

  int64_t count(const std::string& table) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, ("SELECT COUNT(*) FROM " + table).c_str(), -1, &st, nullptr);
    sqlite3_step(st);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }

  // What recent_events serves is what the journal holds, for every cursor from `from` on
  // (and every cursor must be served when `all_held`).
  void expect_recent_events_match(Journal& j, int64_t from, bool all_held) {
    JournalReader reader(path_);
    for (int64_t k = from; k <= j.last_seq(); ++k)
      for (size_t limit : {size_t{1}, size_t{7}, size_t{1000}}) {
        std::vector<EventRow> mem;
        const bool held = j.recent_events(k, limit, mem);
        if (all_held) {
          ASSERT_TRUE(held) << "after seq " << k;
        }
        if (!held) continue;
        auto db = reader.events_after(k, limit);
        ASSERT_EQ(mem.size(), db.size()) << "after seq " << k << ", limit " << limit;
        for (size_t i = 0; i < db.size(); ++i) {
          EXPECT_EQ(mem[i].seq, db[i].seq);
          EXPECT_EQ(mem[i].id, db[i].id);
          EXPECT_EQ(mem[i].type, db[i].type);
          EXPECT_EQ(mem[i].subject, db[i].subject);
          EXPECT_EQ(mem[i].time, db[i].time);
          EXPECT_EQ(mem[i].data, db[i].data) << "seq " << db[i].seq;
        }
      }
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(JournalTest, AcceptsAndReplays) {
  Journal j({path_});
  auto a = j.submit(record("portal", "ext-1", "first"));
  ASSERT_EQ(a.outcome, JournalOutcome::Accepted);
  auto b = j.submit(record("portal", "ext-1", "again"));
  EXPECT_EQ(b.outcome, JournalOutcome::Replay);
  EXPECT_EQ(b.id, a.id);
  auto c = j.submit(record("other", "ext-1", "same key, other instance"));
  EXPECT_EQ(c.outcome, JournalOutcome::Accepted);
  auto d = j.submit(record("portal", std::nullopt, "no key"));
  EXPECT_EQ(d.outcome, JournalOutcome::Accepted);
  j.stop();
  EXPECT_EQ(count("suggestions"), 3);
  EXPECT_EQ(count("events"), 3);
  EXPECT_EQ(count("source_keys"), 2);
}

TEST_F(JournalTest, ConcurrentSubmittersAreGroupCommittedAndAllDurable) {
  {
    Journal j({path_, true, 64, 100000});
    std::vector<std::thread> threads;
    std::atomic<int> accepted{0}, replays{0};
    for (int t = 0; t < 16; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          // Every key is submitted twice by two threads racing each other.
          auto r = j.submit(record("p", "k" + std::to_string((t / 2) * 100 + i), "x"));
          (r.outcome == JournalOutcome::Accepted ? accepted : replays)++;
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(accepted.load(), 800);
    EXPECT_EQ(replays.load(), 800);
    EXPECT_EQ(j.last_seq(), 800);
  }
  EXPECT_EQ(count("suggestions"), 800);
  Journal again({path_});
  EXPECT_EQ(again.last_seq(), 800) << "the sequence survives a reopen";
  std::vector<EventRow> out;
  EXPECT_FALSE(again.recent_events(0, 10, out)) << "a reopened journal's events are read from the database";
  EXPECT_TRUE(again.recent_events(800, 10, out)) << "nothing newer: served, empty";
  EXPECT_TRUE(out.empty());
}

TEST_F(JournalTest, AFailingItemIsRefusedAloneAndLeavesNothingBehind) {
  // Items queued together share one transaction. One that fails (here: a suggestion id
  // that is already taken) must be refused alone, with none of its rows kept, while the
  // rest of its batch commits.
  const int n = 300;
  std::vector<JournalResult> results(n);
  std::vector<std::string> ids(n);
  {
    Journal j({path_, true, 512, 100000});
    std::mutex mu;
    std::condition_variable cv;
    int answered = 0;
    std::string taken;
    for (int i = 0; i < n; ++i) {
      JournalRecord r = record("p", "k" + std::to_string(i), "body " + std::to_string(i));
      if (i == 0) taken = r.suggestion_id;
      if (i % 7 == 3) r.suggestion_id = taken;
      ids[i] = r.suggestion_id;
      j.submit_async(std::move(r), [&, i](JournalResult res) {
        std::lock_guard lock(mu);
        results[i] = std::move(res);
        ++answered;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answered == n; }));
    lock.unlock();
    // The events the writer keeps for the sinks are those of the items that committed.
    expect_recent_events_match(j, 0, true);
  }
  int good = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 7 == 3) {
      EXPECT_EQ(results[i].outcome, JournalOutcome::Failed) << i;
      EXPECT_NE(results[i].error.find("UNIQUE"), std::string::npos) << results[i].error;
    } else {
      EXPECT_EQ(results[i].outcome, JournalOutcome::Accepted) << i;
      EXPECT_EQ(results[i].id, ids[i]);
      ++good;
    }
  }
  EXPECT_EQ(count("suggestions"), good);
  EXPECT_EQ(count("events"), good);
  EXPECT_EQ(count("raw_payloads"), good);
  EXPECT_EQ(count("source_keys"), good) << "a refused item's source key is rolled back with it";
  // Its external id is therefore still free.
  Journal j({path_});
  auto again = j.submit(record("p", "k3", "sent again"));
  EXPECT_EQ(again.outcome, JournalOutcome::Accepted);
  EXPECT_EQ(j.submit(record("p", "k4", "x")).outcome, JournalOutcome::Replay);
}

TEST_F(JournalTest, ARefusedItemLeavesNoTraceInTheDedupStateOfItsBatch) {
  // The first report of an issue at a place opens a cluster, then fails (its event id is
  // taken). The reports queued behind it, in the same batch, must not join that cluster:
  // it was rolled back with the item.
  JournalOptions o{path_, true, 512, 100000};
  o.dedup.enabled = true;
  std::string taken_event;
  auto report = [&](int n) {
    const std::string content = "幸福家园小区楼下的工地每天夜里施工，噪音太大，居民无法休息，请尽快处理。";
    JournalRecord r = record("p", std::nullopt, content);
    r.suggestion_json = R"({"content":"x","dedup":null})";
    DedupInput in;
    IssueFeatures f = issue_features("", content, {}, &in.match_text, &in.topic);
    in.shingles = shingle_hashes_unsorted(in.match_text);
    in.bands = band_keys(minhash_of(in.shingles));
    in.identities = {"phone:hmac-sha256:" + std::to_string(n)};  // everyone is someone else
    in.identity_bits = identity_tag(in.identities);
    in.event_time_ms = 1'790'000'000'000 + n;
    in.places = f.places;
    in.problems = f.problems;
    in.title = "噪音";
    r.dedup = std::move(in);
    return r;
  };
  const int n = 40;
  {
    Journal j(o);
    j.submit(record("p", std::nullopt, "an earlier, unrelated suggestion"));
    JournalReader reader(path_);
    taken_event = reader.events_after(0, 1).at(0).id;
    std::mutex mu;
    std::condition_variable cv;
    int answered = 0;
    std::vector<JournalOutcome> outcomes(n);
    std::vector<std::string> ids(n);
    for (int i = 0; i < n; ++i) {
      JournalRecord r = report(i);
      if (i == 0) r.event_id = taken_event;
      j.submit_async(std::move(r), [&, i](JournalResult res) {
        std::lock_guard lock(mu);
        outcomes[i] = res.outcome;
        ids[i] = res.id;
        ++answered;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answered == n; }));
    lock.unlock();
    EXPECT_EQ(outcomes[0], JournalOutcome::Failed);
    for (int i = 1; i < n; ++i) EXPECT_EQ(outcomes[i], JournalOutcome::Accepted) << i;
    // The sinks' copies of the latest events: the created and cluster.updated events of
    // the batch, none of the refused report's.
    expect_recent_events_match(j, 0, true);
    // An admin correction writes events the writer does not copy: the copies are dropped,
    // and the sinks read from the database until new events start a new run.
    const int64_t before = j.last_seq();
    ASSERT_EQ(j.remove_from_cluster(ids[5], "test", "not the same issue"), "");
    ASSERT_GT(j.last_seq(), before);
    std::vector<EventRow> out;
    EXPECT_FALSE(j.recent_events(before - 1, 10, out));
    EXPECT_FALSE(j.recent_events(before, 10, out));
    EXPECT_TRUE(j.recent_events(j.last_seq(), 10, out)) << "nothing newer: served, empty";
    EXPECT_TRUE(out.empty());
    const int64_t corrected = j.last_seq();
    ASSERT_EQ(j.submit(report(n)).outcome, JournalOutcome::Accepted);
    expect_recent_events_match(j, corrected, true);
    EXPECT_FALSE(j.recent_events(corrected - 1, 10, out));
    // The same events, read back across the correction.
    expect_recent_events_match(j, 0, false);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << sql;
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM suggestions WHERE cluster_id IS NOT NULL"), n - 1);
  EXPECT_EQ(scalar("SELECT COUNT(DISTINCT cluster_id) FROM suggestions"), 1) << "all joined one cluster";
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM clusters"), 1);
  EXPECT_EQ(scalar("SELECT size FROM clusters"), n - 1) << "the refused report is not counted";
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM suggestions s WHERE cluster_id IS NOT NULL AND NOT EXISTS "
                   "(SELECT 1 FROM clusters c WHERE c.id = s.cluster_id)"),
            0);
  sqlite3_close(db);
}

TEST(RecentEvents, ServeWhatWasCommittedWithinTheirBoundsAndNothingTheyCannotVouchFor) {
  auto ev = [](int64_t seq, size_t bytes = 10) {
    return EventRow{seq, "id" + std::to_string(seq), "suggestion.created", "s", "t", std::string(bytes, 'x')};
  };
  auto seqs = [](const std::vector<EventRow>& v) {
    std::vector<int64_t> out;
    for (const auto& e : v) out.push_back(e.seq);
    return out;
  };
  std::vector<EventRow> out;
  RecentEvents r(5, 1u << 20);
  r.start_at(10);  // a journal reopened with 10 events: those are the database's
  EXPECT_FALSE(r.after(3, 100, out));
  EXPECT_TRUE(r.after(10, 100, out));
  EXPECT_TRUE(out.empty()) << "nothing newer";
  r.note(ev(11));
  r.note(ev(12));
  EXPECT_TRUE(r.after(10, 100, out));
  EXPECT_TRUE(out.empty()) << "noted is not committed";
  r.note(ev(13));
  r.publish(13);
  ASSERT_TRUE(r.after(10, 100, out));
  EXPECT_EQ(seqs(out), (std::vector<int64_t>{11, 12, 13}));
  EXPECT_EQ(out[1].id, "id12");
  ASSERT_TRUE(r.after(11, 1, out));
  EXPECT_EQ(seqs(out), (std::vector<int64_t>{12})) << "at most the limit";
  // The count bound: the oldest go.
  for (int64_t s = 14; s <= 17; ++s) r.note(ev(s));
  r.publish(17);
  EXPECT_EQ(r.held(), 5u);
  ASSERT_TRUE(r.after(12, 100, out));
  EXPECT_EQ(seqs(out), (std::vector<int64_t>{13, 14, 15, 16, 17}));
  EXPECT_FALSE(r.after(11, 100, out)) << "12 was let go";
  // A commit without events changes nothing; an item rolled back is forgotten.
  r.publish(17);
  r.note(ev(18));
  r.forget_from(0);
  r.publish(17);
  EXPECT_EQ(r.held(), 5u);
  // An event the writer did not note (19 is missing): every copy is dropped.
  r.note(ev(18));
  r.note(ev(20));
  r.publish(20);
  EXPECT_EQ(r.held(), 0u);
  EXPECT_FALSE(r.after(17, 100, out));
  EXPECT_TRUE(r.after(20, 100, out));
  r.note(ev(21));
  r.publish(21);
  ASSERT_TRUE(r.after(20, 100, out)) << "a new run starts with the next commit";
  EXPECT_EQ(seqs(out), (std::vector<int64_t>{21}));
  EXPECT_FALSE(r.after(19, 100, out));
  // A commit that added more than was noted drops them too.
  r.note(ev(22));
  r.publish(23);
  EXPECT_EQ(r.held(), 0u);
  EXPECT_FALSE(r.after(21, 100, out));
  // The byte bound: events of 1,000 bytes in 2,500.
  RecentEvents small(100, 2500);
  small.start_at(0);
  for (int64_t s = 1; s <= 6; ++s) small.note(ev(s, 1000));
  small.publish(6);
  EXPECT_EQ(small.held(), 2u);
  ASSERT_TRUE(small.after(4, 100, out));
  EXPECT_EQ(seqs(out), (std::vector<int64_t>{5, 6}));
  EXPECT_FALSE(small.after(3, 100, out));
}

TEST_F(JournalTest, UnderConstantLoadTheWriterStartsTheLogOver) {
  // Checkpoints that never wait never find the log fully copied while commits keep
  // coming, so the log would only grow; the writer starts it over itself once it is long.
  JournalOptions o{path_, true, 64, 100000};
  o.wal_rewind_bytes = 1 << 20;
  Journal j(o);
  const std::string body(3000, 'x');
  std::atomic<bool> done{false};
  std::atomic<uintmax_t> largest{0};
  std::atomic<bool> shrank{false};
  std::thread watch([&] {
    while (!done) {
      std::error_code ec;
      auto size = fs::file_size(path_ + "-wal", ec);
      if (!ec && size < largest) shrank = true;
      if (!ec && size > largest) largest = size;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 600; ++i)
        ASSERT_EQ(j.submit(record("p", std::nullopt, body)).outcome, JournalOutcome::Accepted);
    });
  for (auto& th : threads) th.join();
  done = true;
  watch.join();
  j.stop();
  EXPECT_EQ(count("suggestions"), 4800);
  // Without starting over the log grows past 70 MiB here; started over, it stays at a
  // few MiB (more when the checkpointer falls behind on a loaded machine).
  EXPECT_LT(largest.load(), uintmax_t{24} << 20) << "the log was never started over";
  // Starting over reuses the file: trimming it each time had stalled commits (ftruncate of
  // pages not yet written back) and its blocks were allocated again at once.
  EXPECT_FALSE(shrank.load()) << "the log file was trimmed when it started over";
}

TEST_F(JournalTest, EventsCursorsAndDeadLetters) {
  Journal j({path_});
  for (int i = 0; i < 5; ++i) j.submit(record("p", std::nullopt, "e" + std::to_string(i)));
  JournalReader r(path_);
  auto evs = r.events_after(0, 3);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].seq, 1);
  EXPECT_EQ(evs[0].type, "suggestion.created");
  EXPECT_EQ(evs[0].data, "{\"content\":\"e0\"}") << "a created event carries the suggestion document";
  EXPECT_EQ(evs[2].data, "{\"content\":\"e2\"}");
  EXPECT_EQ(r.events_after(3, 10).size(), 2u);
  j.cursor_advance("sink", 2);
  EXPECT_EQ(r.cursor("sink").seq, 2);
  SinkCursor failing;
  failing.seq = 2;
  failing.attempts = 3;
  failing.first_failure_ms = 1000;
  failing.next_attempt_ms = 5000;
  failing.last_error = "HTTP 503";
  j.cursor_failure("sink", failing);
  auto c = r.cursor("sink");
  EXPECT_EQ(c.attempts, 3);
  EXPECT_EQ(c.last_error, "HTTP 503");
  j.dead_letter("sink", evs[2], "HTTP 400: nope", 1, 1000, 2000);
  c = r.cursor("sink");
  EXPECT_EQ(c.seq, 3);
  EXPECT_EQ(c.attempts, 0);
  j.stop();
  EXPECT_EQ(count("dead_letters"), 1);
}

TEST_F(JournalTest, CheckpointsAndQuarantine) {
  Journal j({path_});
  j.checkpoint_set("imap", "uid", "41");
  j.checkpoint_set("imap", "uid", "42");
  auto rec = record("api", "order-7", "x");
  rec.checkpoint.emplace("page", "3");
  j.submit(std::move(rec));
  JournalReader r(path_);
  EXPECT_EQ(r.checkpoint("imap", "uid"), "42");
  EXPECT_EQ(r.checkpoint("api", "page"), "3");
  EXPECT_FALSE(r.checkpoint("imap", "nope"));
  j.quarantine("portal", "malformed_json", "application/json", "{oops", 1);
  j.stop();
  EXPECT_EQ(count("quarantine"), 1);
}

TEST_F(JournalTest, CheckpointsListByPrefixDeleteWhenEmptyAndMoveOnReplays) {
  Journal j({path_});
  j.checkpoint_set("wx", "conv/b", "2");
  j.checkpoint_set("wx", "conv/a", "1");
  j.checkpoint_set("wx", "conv%", "literal");
  j.checkpoint_set("wx", "other", "x");
  j.checkpoint_set("web", "conv/z", "not mine");
  JournalReader r(path_);
  auto rows = r.checkpoints("wx", "conv/");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::pair<std::string, std::string>{"conv/a", "1"}));
  EXPECT_EQ(rows[1].first, "conv/b");
  EXPECT_EQ(r.checkpoints("wx", "conv%").size(), 1u) << "LIKE wildcards in a prefix are literal";
  j.checkpoint_set("wx", "conv/a", "");
  EXPECT_FALSE(r.checkpoint("wx", "conv/a")) << "an empty value deletes";
  // A submission's checkpoint is applied even when the submission is a replay: the source
  // moved past a row it had already delivered.
  auto first = record("api", "order-1", "x");
  first.checkpoint.emplace("cursor", "1");
  j.submit(std::move(first));
  auto again = record("api", "order-1", "x");
  again.checkpoint.emplace("cursor", "2");
  EXPECT_EQ(j.submit(std::move(again)).outcome, JournalOutcome::Replay);
  EXPECT_EQ(r.checkpoint("api", "cursor"), "2");
  auto gone = record("api", "order-2", "y");
  gone.checkpoint.emplace("cursor", "");
  j.submit(std::move(gone));
  EXPECT_FALSE(r.checkpoint("api", "cursor"));
  j.stop();
}

TEST_F(JournalTest, SchemaVersionIsRecordedAndNewerJournalsAreRefused) {
  {
    Journal j({path_});
    EXPECT_EQ(j.schema_version(), Journal::kSchemaVersion);
  }
  EXPECT_EQ(count("schema_version"), Journal::kSchemaVersion);
  {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_exec(db, "INSERT INTO schema_version VALUES(99, 'future')", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  try {
    Journal j({path_});
    FAIL() << "a journal from the future must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, StoppedJournalAnswersBusy) {
  Journal j({path_});
  j.stop();
  EXPECT_EQ(j.submit(record("p", std::nullopt, "late")).outcome, JournalOutcome::Busy);
}

}  // namespace minyi
