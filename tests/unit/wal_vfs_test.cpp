// The coalescing VFS: what it holds back never changes what a reader, a crash or another
// writer sees of the log.
#include "journal/wal_vfs.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <random>
#include <string>

#include "core/ids.hpp"
#include "journal/sqlite.hpp"

namespace minyi {

namespace fs = std::filesystem;

namespace {

// A folder of its own for one journal, removed with the object (also in the page-cache
// tests' child processes, which leave with std::_Exit and skip a fixture's TearDown).
struct TempFolder {
  fs::path dir = fs::temp_directory_path() / ("minyi-walvfs-" + new_uuid_v7());
  TempFolder() { fs::create_directories(dir); }
  ~TempFolder() { fs::remove_all(dir); }
  std::string path() const { return (dir / "journal.db").string(); }
};

class WalVfsTest : public ::testing::Test {
 protected:
  TempFolder folder_;
  std::string path_ = folder_.path();
};

struct Totals {
  int64_t rows = 0, bytes = 0, weighted = 0;
  bool operator==(const Totals&) const = default;
};

Totals totals(sql::Db& db) {
  sql::Stmt q(db.get(), "SELECT COUNT(*), COALESCE(SUM(length(v)), 0), COALESCE(SUM(id * length(v)), 0) FROM t");
  q.step();
  return {q.col_int(0), q.col_int(1), q.col_int(2)};
}

std::string integrity(sql::Db& db) {
  sql::Stmt q(db.get(), "PRAGMA integrity_check");
  q.step();
  return q.col_text(0);
}

void open_log(sql::Db& db, const std::string& synchronous = "NORMAL") {
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA wal_autocheckpoint=0");
  db.exec(("PRAGMA synchronous=" + synchronous).c_str());
  db.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)");
}

}  // namespace

class WalVfsKillTest : public WalVfsTest, public ::testing::WithParamInterface<std::string> {};

// A writer killed right after its commits: everything committed is in the log the next
// process recovers (with synchronous=NORMAL no sync ever wrote it out; with FULL the sync
// before each commit did).
TEST_P(WalVfsKillTest, CommitsAreInTheLogWhenTheWriterIsKilled) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(report[0]);
    sql::Db db(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, sql::coalescing_vfs());
    open_log(db, GetParam());
    sql::Stmt insert(db.get(), "INSERT INTO t(v) VALUES(randomblob(?1))");
    int64_t id = 0;
    for (int txn = 0; txn < 40; ++txn) {
      db.exec("BEGIN IMMEDIATE");
      // Some transactions far above the default VFS's 128 KiB per write.
      const int rows = txn % 3 == 0 ? 400 : 7;
      for (int i = 0; i < rows; ++i) insert.bind(1, static_cast<int64_t>(100 + (++id * 37) % 3000)).run();
      db.exec("COMMIT");
      if (write(report[1], &id, sizeof id) != sizeof id) _exit(2);
    }
    kill(getpid(), SIGKILL);  // no close, no checkpoint: what the log holds is all there is
    _exit(3);
  }
  close(report[1]);
  int64_t last = 0, id = 0;
  while (read(report[0], &id, sizeof id) == sizeof id) last = id;
  close(report[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer failed: status " << status;
  ASSERT_GT(fs::file_size(path_ + "-wal"), 1u << 20);

  sql::Db db(path_, SQLITE_OPEN_READWRITE);  // the default VFS recovers the log
  Totals want;
  for (int64_t i = 1; i <= last; ++i) {
    const int64_t len = 100 + (i * 37) % 3000;
    want.rows += 1, want.bytes += len, want.weighted += i * len;
  }
  EXPECT_EQ(last, 14 * 400 + 26 * 7);  // every commit was reported
  EXPECT_EQ(totals(db), want);
  EXPECT_EQ(integrity(db), "ok");
}

INSTANTIATE_TEST_SUITE_P(Synchronous, WalVfsKillTest, ::testing::Values("NORMAL", "FULL"));

// Another connection sees each commit the moment it is made, and transactions that spill
// frames before they commit, overwrite them, roll back, or alternate with a writer on the
// default VFS (another process, say the sqlite3 shell) leave the same database as without
// the VFS.
TEST_F(WalVfsTest, ReadersOtherWritersSpillsAndRollbacksSeeWhatTheyWouldWithout) {
  sql::Db mine(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, sql::coalescing_vfs());
  open_log(mine);
  mine.exec("PRAGMA cache_size=16");  // tiny: big transactions spill frames into the log
  sql::Db other(path_, SQLITE_OPEN_READWRITE);
  other.exec("PRAGMA busy_timeout=5000");
  std::mt19937 rng(7);
  Totals model;
  int64_t next_id = 1;
  auto write_rows = [&](sql::Db& db, int rows, Totals& into) {
    sql::Stmt insert(db.get(), "INSERT INTO t(id, v) VALUES(?1, randomblob(?2))");
    for (int i = 0; i < rows; ++i, ++next_id) {
      const int64_t len = 200 + static_cast<int64_t>(rng() % 2500);
      insert.bind(1, next_id).bind(2, len).run();
      into.rows += 1, into.bytes += len, into.weighted += next_id * len;
    }
  };
  for (int round = 0; round < 60; ++round) {
    const bool big = round % 4 == 0, roll_back = round % 5 == 3;
    const int64_t first = next_id;
    Totals pending = model;
    mine.exec("BEGIN IMMEDIATE");
    write_rows(mine, big ? 1500 : 1 + static_cast<int>(rng() % 30), pending);
    if (big) {
      // Pages already spilled are read back and changed again in the same transaction.
      sql::Stmt grow(mine.get(), "UPDATE t SET v = randomblob(length(v) + 1) WHERE id >= ?1 AND id % 7 = 0");
      grow.bind(1, first).run();
      sql::Stmt n(mine.get(), "SELECT COUNT(*), COALESCE(SUM(id), 0) FROM t WHERE id >= ?1 AND id % 7 = 0");
      n.bind(1, first);
      n.step();
      pending.bytes += n.col_int(0);
      pending.weighted += n.col_int(1);
    }
    if (roll_back) {
      mine.exec("ROLLBACK");
      next_id = first;
    } else {
      mine.exec("COMMIT");
      model = pending;
    }
    ASSERT_EQ(totals(other), model) << "round " << round;
    if (round % 3 == 1) {  // the other writer appends where the log now ends
      other.exec("BEGIN IMMEDIATE");
      write_rows(other, 5, model);
      other.exec("COMMIT");
      ASSERT_EQ(totals(mine), model) << "round " << round;
    }
    if (round % 10 == 9) mine.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // the log starts over
  }
  EXPECT_EQ(totals(mine), model);
  EXPECT_EQ(integrity(other), "ok");
}

}  // namespace minyi

namespace minyi {
namespace {

// Writes ~60 pages through a connection of its own.
void fill_pages(const std::string& path) {
  sql::Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db.exec("CREATE TABLE t(x)");
  db.exec("BEGIN");
  sql::Stmt ins(db.get(), "INSERT INTO t VALUES(?1)");
  for (int i = 0; i < 200; ++i) ins.bind(1, std::string(1000, static_cast<char>('a' + i % 26))).run();
  db.exec("COMMIT");
}

// What the child processes do; the exit code says what went wrong.
int pool_in_a_fresh_process() {
  TempFolder folder;
  const std::string path = folder.path();
  if (!sql::preallocate_page_cache(1u << 20)) return 2;
  fill_pages(path);
  int used = 0, high = 0, overflow = 0, overflow_high = 0;
  sqlite3_status(SQLITE_STATUS_PAGECACHE_USED, &used, &high, 0);
  sqlite3_status(SQLITE_STATUS_PAGECACHE_OVERFLOW, &overflow, &overflow_high, 0);
  if (high < 50) return 3;                               // ~60 pages written: they came from the pool
  if (overflow_high != 0) return 4;                      // and none from malloc while it had room
  if (!sql::preallocate_page_cache(8u << 20)) return 5;  // the first call decided
  return 0;
}

int pool_too_late() {
  TempFolder folder;
  const std::string path = folder.path();
  fill_pages(path);  // SQLite initialized: too late to hand it memory
  if (sql::preallocate_page_cache(1u << 20)) return 2;
  int used = 0, high = 0;
  sqlite3_status(SQLITE_STATUS_PAGECACHE_USED, &used, &high, 0);
  if (high != 0) return 3;
  fill_pages(path + "2");  // and everything works as before
  return 0;
}

int in_child(int (*body)()) {
  int rc = body();  // its TempFolder removed here
  std::_Exit(rc);
}

TEST(PageCachePool, PageCachesUseTheMemorySetAsideAtStartUp) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: SQLite not yet in use
  EXPECT_EXIT(in_child(pool_in_a_fresh_process), ::testing::ExitedWithCode(0), "");
}

TEST(PageCachePool, PoolIsRefusedOnceSQLiteIsInUse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(in_child(pool_too_late), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace minyi
