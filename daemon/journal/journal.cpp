// Journal implementation: schema migrations, the group-commit writer, and readers.
#include "journal/journal.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "core/timefmt.hpp"
#include "journal/schema.hpp"
#include "journal/sqlite.hpp"
#include "journal/tuning.hpp"
#include "journal/wal_vfs.hpp"

namespace minyi {

namespace {

// The writer starts the log over (see run_writer) once the checkpointer's last pass left
// at most this many frames to copy.
constexpr int64_t kRewindTailFrames = 512;
// A last resort when the writer could not (a reader held on to the log): RESTART blocks
// the writer until readers have left the log.
constexpr uintmax_t kWalRestartBytes = 256u << 20;
// Each connection's page cache at most, and roughly what the readers' caches hold at a
// time (a reader's cache starts over whenever the journal changed).
constexpr size_t kPageCacheBytes = 64u << 20;
constexpr size_t kReaderPageCacheBytes = 8u << 20;

// Rewrites the document's final member, `"dedup":{…}}`, with the decision.
void render_dedup(std::string& doc, const DedupDecision& d, const ClusterDecision& c) {
  auto pos = doc.rfind(",\"dedup\":");
  if (pos == std::string::npos) return;
  doc.resize(pos);
  JsonWriter w(doc, doc.size() + 256);
  doc += ",\"dedup\":";
  w.begin_object();
  w.field("status", d.duplicate ? "duplicate" : "new");
  if (d.duplicate)
    w.field("duplicate_of", d.duplicate_of);
  else
    w.raw_field("duplicate_of", "null");
  if (c.cluster_id.empty()) {
    w.raw_field("cluster_id", "null");
    w.raw_field("cluster_size", "null");
  } else {
    w.field("cluster_id", c.cluster_id);
    w.key("cluster_size");
    w.integer(c.size);
  }
  if (d.duplicate) {
    w.key("score");
    w.number(std::round(d.score * 1000) / 1000);
    w.field("reason", d.reason);
  } else {
    w.raw_field("score", "null");
    w.raw_field("reason", "null");
  }
  w.field("algorithm", kDedupAlgorithm);
  w.end_object();
  doc += '}';
}

struct BusyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

void tune(sql::Db& db, bool writer, bool full, int64_t wal_size_limit) {
  // A 64 MiB page cache keeps the hot B-tree pages out of pread().
  static const std::string cache_size = "PRAGMA cache_size=-" + std::to_string(kPageCacheBytes / 1024);
  db.exec(cache_size.c_str());
  // No connection maps the database file. The writer's own cache stays valid across its
  // commits, so a page it reads once (a duplicate candidate's signature, a cluster row)
  // stays there; read through a mapping instead, pages are not cached, and each new page
  // of the growing file faulted in on first touch: with dedup on the writer spent ~17 us
  // more per suggestion that way (five interleaved runs; no difference with dedup off).
  // Readers (sinks, the checkpointer) read mostly recent pages from the WAL, which SQLite
  // never maps, and a mapping of a growing file is unmapped and remapped at each read
  // transaction after a checkpoint (a TLB shootdown on every core).
  if (writer) {
    // After a failed item the batch runs again with a savepoint per item; keep the
    // statement journal those need in memory instead of a temporary file.
    db.exec("PRAGMA temp_store=MEMORY");
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA wal_autocheckpoint=0");  // the checkpointer thread does it
    // The log is trimmed back to this size when it starts over. The writer starts it over
    // just past wal_rewind_bytes, so the limit sits above that, at the size where the
    // checkpointer falls back to RESTART: trimming the few frames past 64 MiB each time
    // had cost a ftruncate of pages not yet written back, 90+ ms on the commit path with
    // synchronous=NORMAL (the p99.9 of the ingest benchmark), and their blocks were
    // allocated again a moment later.
    const std::string size_limit = "PRAGMA journal_size_limit=" + std::to_string(wal_size_limit);
    db.exec(size_limit.c_str());
    db.exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  }
}

// Prepared statements used by the writer thread only.
struct Journal::Statements {
  explicit Statements(sqlite3* db)
      : find_key(db, "SELECT suggestion_id FROM source_keys WHERE instance=?1 AND external_id=?2"),
        insert_key(db, "INSERT INTO source_keys(instance, external_id, suggestion_id) VALUES(?1,?2,?3)"),
        insert_raw(db, "INSERT INTO raw_payloads(sha256, content_type, bytes, received_at) VALUES(?1,?2,?3,?4)"),
        find_attachment(db, "SELECT 1 FROM attachments WHERE sha256=?1"),
        insert_attachment(db, "INSERT INTO attachments(sha256, content_type, bytes) VALUES(?1,?2,?3)"),
        insert_suggestion(db,
                          "INSERT INTO suggestions(id, channel, instance, external_id, received_at, submitted_at, "
                          "raw_id, raw_sha256, doc, status, duplicate_of, dedup_score, dedup_reason, cluster_id) "
                          "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"),
        cluster_of(db, "SELECT cluster_id FROM suggestions WHERE id=?1"),
        cluster_size(db, "SELECT size FROM clusters WHERE id=?1"),
        insert_event(db, "INSERT INTO events(id, type, subject, time, data) VALUES(?1,?2,?3,?4,?5)"),
        set_checkpoint(db,
                       "INSERT INTO checkpoints(instance, key, value, updated_at_ms) VALUES(?1,?2,?3,?4) "
                       "ON CONFLICT(instance, key) DO UPDATE SET value=excluded.value, "
                       "updated_at_ms=excluded.updated_at_ms"),
        delete_checkpoint(db, "DELETE FROM checkpoints WHERE instance=?1 AND key=?2"),
        insert_quarantine(db,
                          "INSERT INTO quarantine(received_at_ms, instance, reason, content_type, sha256, bytes) "
                          "VALUES(?1,?2,?3,?4,?5,?6)"),
        cursor_advance(db,
                       "INSERT INTO sink_cursors(sink, seq) VALUES(?1,?2) ON CONFLICT(sink) DO UPDATE SET "
                       "seq=excluded.seq, attempts=0, first_failure_ms=0, next_attempt_ms=0, last_error=''"),
        cursor_failure(db,
                       "INSERT INTO sink_cursors(sink, seq, attempts, first_failure_ms, next_attempt_ms, last_error) "
                       "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(sink) DO UPDATE SET seq=excluded.seq, "
                       "attempts=excluded.attempts, first_failure_ms=excluded.first_failure_ms, "
                       "next_attempt_ms=excluded.next_attempt_ms, last_error=excluded.last_error"),
        insert_dead(db,
                    "INSERT OR IGNORE INTO dead_letters(sink, event_seq, event_id, event_type, reason, attempts, "
                    "first_failure_ms, dead_at_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)") {}
  sql::Stmt find_key, insert_key, insert_raw, find_attachment, insert_attachment, insert_suggestion, cluster_of,
      cluster_size, insert_event, set_checkpoint, delete_checkpoint, insert_quarantine, cursor_advance, cursor_failure,
      insert_dead;
};

Journal::Journal(JournalOptions opts) : opts_(std::move(opts)) {
  // The writer's page cache plus room for the readers', written once now: filled page by
  // page under load, the cache faulted in fresh memory on the commit path, which on the
  // benchmark VM costs ~13 us a page when idle and ~100 us when busy (docs/journal.md).
  // The first journal of the process does it, before anything else uses SQLite.
  static const bool pooled = [] {
    const bool in_place = sql::preallocate_page_cache(kPageCacheBytes + kReaderPageCacheBytes);
    if (in_place)
      spdlog::info("journal: {} MiB of page cache set aside", (kPageCacheBytes + kReaderPageCacheBytes) >> 20);
    return in_place;
  }();
  (void)pooled;
  // The writer's log writes are gathered into one per commit (see wal_vfs.hpp).
  db_ = std::make_unique<sql::Db>(opts_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, sql::coalescing_vfs());
  tune(*db_, true, opts_.synchronous_full, wal_restart_bytes());
  migrate();
  st_ = std::make_unique<Statements>(db_->get());
  if (opts_.dedup.enabled) {
    detector_ = std::make_unique<DuplicateDetector>(opts_.dedup);
    detector_->load(*db_);
    clusters_ = std::make_unique<ClusterIndex>(
        ClusterOptions{opts_.dedup.cluster_window_ms, opts_.dedup.cluster_topic_threshold});
    clusters_->load(*db_);
    spdlog::info("journal {}: duplicate index holds {} suggestion(s); {} open cluster(s)", opts_.path,
                 detector_->size(), clusters_->open_clusters());
  }
  sql::Stmt max(db_->get(), "SELECT COALESCE(MAX(seq), 0) FROM events");
  max.step();
  last_seq_ = max.col_int(0);
  recent_.start_at(last_seq_);
  completer_ = std::thread([this] {
    name_this_thread("journal-answer");
    run_completer();
  });
  writer_ = std::thread([this] {
    name_this_thread("journal-writer");
    run_writer();
  });
  checkpointer_ = std::thread([this] {
    name_this_thread("journal-ckpt");
    run_checkpointer();
  });
}

void Journal::run_checkpointer() {
  sql::Db db(opts_.path, SQLITE_OPEN_READWRITE);
  tune(db, false, opts_.synchronous_full);
  db.exec(opts_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  uint64_t seen = 0;
  bool behind = false;
  int last_copied = 0;
  const int db_fd = ::open(opts_.path.c_str(), O_RDONLY | O_CLOEXEC);
  struct CloseFd {
    int fd;
    ~CloseFd() {
      if (fd >= 0) ::close(fd);
    }
  } close_db_fd{db_fd};
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // At most ~10 checkpoints a second: each one copies everything committed so far.
      // Back to back while the log is long, so the writer finds it nearly all copied.
      if (!behind) checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; });
      if (stopping_) return;
      if (commits_ == seen) {
        behind = false;  // nothing new: wait again
        continue;
      }
      seen = commits_;
    }
    try {
      int log = 0, copied = 0;
      int rc = sqlite3_wal_checkpoint_v2(db.get(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        throw std::runtime_error(std::string("wal_checkpoint: ") + sqlite3_errmsg(db.get()));
      if (rc == SQLITE_OK) {
        // SQLite syncs the database file only after a pass that reaches the end of the
        // log, which under constant load only the writer's own pass does: all the pages
        // copied since would be flushed there, on the commit path (~70 ms for 64 MiB of
        // log). Flush them here instead, pass by pass.
        // (Fewer frames copied than last time: the writer started the log over since.)
        const bool progress = copied > 0 && copied != last_copied;
        if (progress && db_fd >= 0) ::fdatasync(db_fd);
        // Passes follow each other at once while they make progress on a long log.
        behind = progress && log - copied > kRewindTailFrames / 2;
        last_copied = copied;
        backfilled_frames_ = copied;
      } else {
        behind = false;
      }
      // PASSIVE never waits, so under constant load it never sees the log fully copied;
      // the writer starts the log over itself (run_writer). Should the log still grow
      // (a reader holding an old snapshot), RESTART waits for the writer's current
      // transaction and for readers, copies the rest, and makes the next commit start
      // the log from its beginning (journal_size_limit then trims the file).
      std::error_code ec;
      auto size = std::filesystem::file_size(opts_.path + "-wal", ec);
      if (!ec && size > static_cast<uintmax_t>(wal_restart_bytes())) db.exec("PRAGMA wal_checkpoint(RESTART)");
    } catch (const std::exception& e) {
      spdlog::warn("journal {}: checkpoint failed: {}", opts_.path, e.what());
    }
  }
}

Journal::~Journal() { stop(); }

int64_t Journal::wal_restart_bytes() const {
  return std::max<int64_t>(static_cast<int64_t>(kWalRestartBytes), 4 * opts_.wal_rewind_bytes);
}

void Journal::migrate() {
  db_->exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  sql::Stmt cur(db_->get(), "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  cur.step();
  int version = static_cast<int>(cur.col_int(0));
  cur.reset();
  const int latest = static_cast<int>(journal_migrations().size());
  if (version > latest)
    throw std::runtime_error("journal '" + opts_.path + "' has schema version " + std::to_string(version) +
                             ", newer than this minyid understands (" + std::to_string(latest) +
                             "); run a newer minyid or restore a backup");
  for (int v = version; v < latest; ++v) {
    db_->exec("BEGIN IMMEDIATE");
    try {
      db_->exec(journal_migrations()[v]);
      sql::Stmt ins(db_->get(), "INSERT INTO schema_version(version, applied_at) VALUES(?1, datetime('now'))");
      ins.bind(1, static_cast<int64_t>(v + 1)).run();
      db_->exec("COMMIT");
    } catch (...) {
      db_->exec("ROLLBACK");
      throw;
    }
    spdlog::info("journal {}: migrated schema to version {}", opts_.path, v + 1);
  }
  schema_version_ = latest;
}

void Journal::enqueue(std::function<void(sql::Db&)> apply, std::function<void(std::exception_ptr)> complete,
                      bool bounded, std::function<void(bool)> warm) {
  auto task = std::make_unique<Task>();
  task->apply = std::move(apply);
  task->complete = std::move(complete);
  task->warm = std::move(warm);
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (stopping_) throw BusyError("the journal is shutting down");
    if (bounded && queue_.size() >= opts_.queue_max)
      throw BusyError("the journal queue is full (" + std::to_string(queue_.size()) + " pending)");
    wake = queue_.empty();  // the writer only sleeps on an empty queue
    queue_.push_back(std::move(task));
  }
  if (wake) cv_.notify_one();
}

void Journal::enqueue_and_wait(std::function<void(sql::Db&)> apply, bool bounded) {
  std::promise<void> done;
  auto fut = done.get_future();
  enqueue(
      std::move(apply),
      [&done](std::exception_ptr e) {
        if (e)
          done.set_exception(e);
        else
          done.set_value();
      },
      bounded);
  fut.get();
}

void Journal::run_writer() {
  std::vector<std::unique_ptr<Task>> batch;
  // Prepared once: the per-item savepoints of a batch run again after a failure, and the
  // newest event sequence.
  sql::Stmt savepoint(db_->get(), "SAVEPOINT task"), release(db_->get(), "RELEASE task"),
      rollback_to(db_->get(), "ROLLBACK TO task"), max_seq(db_->get(), "SELECT COALESCE(MAX(seq), 0) FROM events");
  // Frames in the WAL after the last commit, as the WAL hook reports them.
  int wal_frames = 0;
  sqlite3_wal_hook(
      db_->get(),
      [](void* arg, sqlite3*, const char*, int frames) {
        *static_cast<int*>(arg) = frames;
        return SQLITE_OK;
      },
      &wal_frames);
  sql::Stmt page_size(db_->get(), "PRAGMA page_size");
  page_size.step();
  const int64_t rewind_frames =
      std::max<int64_t>(1, opts_.wal_rewind_bytes / std::max<int64_t>(1, page_size.col_int(0)));
  page_size.reset();
  int64_t retry_at_frames = 0;
  // The in-memory dedup state may hold what a rollback took back: mark it, and reload it
  // from the journal before it is used again.
  auto forget_dedup = [&] {
    if (detector_) detector_->invalidate();
    if (clusters_) clusters_->invalidate();
  };
  auto reload_dedup = [&] {
    if (detector_ && detector_->stale()) detector_->load(*db_);
    if (clusters_ && clusters_->stale()) clusters_->load(*db_);
  };
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && batch.size() < opts_.batch_max) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<std::exception_ptr> errors(batch.size());
    std::exception_ptr commit_error;
    // Items normally run straight in the batch transaction. When one throws, the whole
    // transaction is rolled back and the batch runs again with each item in its own
    // savepoint, so only the failing item is refused. (A savepoint per item in the
    // common case copies every page an item touches into the statement journal.)
    for (bool isolated = false;;) {
      bool item_failed = false;
      recent_.forget_from(0);
      try {
        reload_dedup();
        db_->exec("BEGIN IMMEDIATE");
        // The index memory of the next items is fetched while this one runs: the
        // slots two items ahead, the chains they start one item ahead.
        auto warm = [&](size_t i, bool chains) {
          if (i < batch.size() && batch[i]->warm) batch[i]->warm(chains);
        };
        warm(0, false);
        warm(1, false);
        warm(0, true);
        for (size_t i = 0; i < batch.size() && !item_failed; ++i) {
          warm(i + 2, false);
          warm(i + 1, true);
          if (!isolated) {
            try {
              batch[i]->apply(*db_);
            } catch (...) {
              item_failed = true;
            }
            continue;
          }
          savepoint.run();
          const size_t noted_before = recent_.noted();
          try {
            batch[i]->apply(*db_);
            release.run();
          } catch (...) {
            recent_.forget_from(noted_before);
            errors[i] = std::current_exception();
            forget_dedup();
            rollback_to.run();
            release.run();
            // The rest of the batch must not see what the refused item left in memory
            // (an index entry, a cluster it opened or joined): reload what was kept.
            reload_dedup();
          }
        }
        if (item_failed) {
          forget_dedup();
          db_->exec("ROLLBACK");
          isolated = true;
          continue;
        }
        db_->exec("COMMIT");
      } catch (...) {
        commit_error = std::current_exception();
        forget_dedup();
        try {
          db_->exec("ROLLBACK");
        } catch (...) {
        }
        spdlog::error("journal {}: commit of {} item(s) failed; they were not acknowledged", opts_.path, batch.size());
      }
      break;
    }
    if (!commit_error) {
      {
        std::lock_guard lock(mu_);
        ++commits_;
      }
      max_seq.step();
      int64_t seq = max_seq.col_int(0);
      max_seq.reset();
      publish_events(seq);
    }
    recent_.forget_from(0);
    if (commit_error) std::fill(errors.begin(), errors.end(), commit_error);
    {
      std::lock_guard lock(done_mu_);
      done_.push_back({std::move(batch), std::move(errors)});
    }
    done_cv_.notify_one();
    batch.clear();
    // The checkpointer copies committed frames off this thread, but under constant load
    // it never finds the log fully copied, and only a writer that does can start the
    // log over. So when the log is long, the writer copies the few frames left itself,
    // here between two transactions, and its next BEGIN rewinds the log. (A RESTART from
    // the checkpointer blocked the writer for 60-970 ms at a time in the benchmark.)
    // It does so only once the checkpointer is nearly caught up, so that copying the
    // tail (and the fsync) is short.
    if (!commit_error && wal_frames >= rewind_frames && wal_frames >= retry_at_frames &&
        wal_frames - backfilled_frames_.load() <= kRewindTailFrames) {
      int log = 0, copied = 0;
      int rc = sqlite3_wal_checkpoint_v2(db_->get(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      if (rc == SQLITE_OK && log == copied) {
        wal_frames = 0;
        retry_at_frames = 0;
      } else {
        retry_at_frames = wal_frames + kRewindTailFrames;  // a reader is in the way: later
      }
    }
  }
}

void Journal::wrote_event(sql::Db& db, std::string id, std::string type, std::string subject, std::string time,
                          std::string data) {
  recent_.note(EventRow{sqlite3_last_insert_rowid(db.get()), std::move(id), std::move(type), std::move(subject),
                        std::move(time), std::move(data)});
}

void Journal::publish_events(int64_t seq) {
  recent_.publish(seq);
  if (seq == last_seq_.load()) return;
  {
    std::lock_guard lock(seq_mu_);
    last_seq_ = seq;
  }
  seq_cv_.notify_all();
}

void Journal::run_completer() {
  for (;;) {
    Finished f;
    {
      std::unique_lock lock(done_mu_);
      done_cv_.wait(lock, [&] { return writer_finished_ || !done_.empty(); });
      if (done_.empty()) return;  // the writer has stopped and everything is answered
      f = std::move(done_.front());
      done_.pop_front();
    }
    for (size_t i = 0; i < f.tasks.size(); ++i) f.tasks[i]->complete(f.errors[i]);
  }
}

void Journal::apply_submit(sql::Db& db, JournalRecord& rec, JournalResult& result) {
  auto& s = *st_;
  result = {JournalOutcome::Accepted, rec.suggestion_id, ""};
  if (rec.external_id) {
    s.find_key.bind_static(1, rec.instance).bind_static(2, *rec.external_id);
    bool found = s.find_key.step();
    std::string original = found ? s.find_key.col_text(0) : "";
    s.find_key.reset();
    if (found) {
      result = {JournalOutcome::Replay, original, ""};
      // The source's position still moves past what it re-read.
      apply_checkpoint(rec);
      return;
    }
    s.insert_key.bind_static(1, rec.instance).bind_static(2, *rec.external_id).bind_static(3, rec.suggestion_id).run();
  }
  // Raw payloads are appended in arrival order (a rowid table): a random-key B-tree over
  // SHA-256 would make every insert touch a random page.
  s.insert_raw.bind_static(1, rec.raw_sha256)
      .bind_static(2, rec.raw_content_type)
      .bind_blob_static(3, rec.raw)
      .bind_static(4, rec.received_at)
      .run();
  int64_t raw_id = sqlite3_last_insert_rowid(db.get());
  for (const auto& a : rec.attachments) {
    s.find_attachment.bind(1, a.sha256);
    bool known = s.find_attachment.step();
    s.find_attachment.reset();
    if (!known) s.insert_attachment.bind(1, a.sha256).bind(2, a.content_type).bind_blob(3, a.bytes).run();
  }
  DedupDecision decision;
  ClusterDecision cluster;
  if (rec.dedup && detector_) {
    decision = detector_->decide(db, *rec.dedup);
    if (decision.duplicate) {
      // A duplicate belongs to its original's cluster and does not count again. The
      // matched signature names that cluster unless a correction touched the original.
      if (decision.root_cluster) {
        cluster.cluster_id = *decision.root_cluster;
      } else {
        s.cluster_of.bind_static(1, decision.duplicate_of);
        if (s.cluster_of.step() && !s.cluster_of.col_null(0)) cluster.cluster_id = s.cluster_of.col_text(0);
        s.cluster_of.reset();
      }
      if (!cluster.cluster_id.empty()) {
        if (auto size = clusters_->size_of(cluster.cluster_id)) {
          cluster.size = *size;
        } else {  // a cluster closed long ago
          s.cluster_size.bind_static(1, cluster.cluster_id);
          if (s.cluster_size.step()) cluster.size = s.cluster_size.col_int(0);
          s.cluster_size.reset();
        }
      }
    } else {
      // Only now are the topic words needed (intake left them to be picked here).
      const DedupInput& in = *rec.dedup;
      cluster = clusters_->assign(db, IssueFeatures{in.places, topic_keywords(in.topic), in.problems}, in.event_time_ms,
                                  in.title, rec.suggestion_id);
    }
    render_dedup(rec.suggestion_json, decision, cluster);
  }
  s.insert_suggestion.bind_static(1, rec.suggestion_id)
      .bind_static(2, rec.channel)
      .bind_static(3, rec.instance)
      .bind_opt(4, rec.external_id)
      .bind_static(5, rec.received_at)
      .bind_opt(6, rec.submitted_at)
      .bind(7, raw_id)
      .bind_static(8, rec.raw_sha256)
      .bind_static(9, rec.suggestion_json)
      .bind(10, decision.duplicate ? "duplicate" : "new");
  if (decision.duplicate)
    s.insert_suggestion.bind_static(11, decision.duplicate_of)
        .bind(12, decision.score)
        .bind_static(13, decision.reason);
  if (!cluster.cluster_id.empty()) s.insert_suggestion.bind_static(14, cluster.cluster_id);
  s.insert_suggestion.run();
  if (rec.dedup && detector_)
    detector_->record(db, sqlite3_last_insert_rowid(db.get()), *rec.dedup, rec.suggestion_id,
                      decision.duplicate ? decision.duplicate_of : rec.suggestion_id, cluster.cluster_id,
                      decision.duplicate ? decision.text_of : 0);
  // The event carries the suggestion document itself: stored once, in suggestions.doc,
  // which never changes after this transaction. A duplicate is announced as such, so
  // downstream links it instead of opening a new case.
  const char* type = decision.duplicate ? "suggestion.duplicate" : "suggestion.created";
  s.insert_event.bind_static(1, rec.event_id)
      .bind(2, type)
      .bind_static(3, rec.suggestion_id)
      .bind_static(4, rec.received_at)
      .bind_null(5)
      .run();
  wrote_event(db, rec.event_id, type, rec.suggestion_id, rec.received_at, rec.suggestion_json);
  // "Hot issues": every report that joins a cluster announces its new size.
  if (cluster.joined) {
    std::string id = new_uuid_v7();
    s.insert_event.bind_static(1, id)
        .bind(2, "cluster.updated")
        .bind_static(3, cluster.cluster_id)
        .bind_static(4, rec.received_at)
        .bind_static(5, cluster.json)
        .run();
    wrote_event(db, std::move(id), "cluster.updated", cluster.cluster_id, rec.received_at, cluster.json);
  }
  apply_checkpoint(rec);
}

void Journal::apply_checkpoint(const JournalRecord& rec) {
  if (!rec.checkpoint) return;
  const auto& [key, value] = *rec.checkpoint;
  if (value.empty())
    st_->delete_checkpoint.bind(1, rec.instance).bind(2, key).run();
  else
    st_->set_checkpoint.bind(1, rec.instance).bind(2, key).bind_blob(3, value).bind(4, wall_clock_ms()).run();
}

namespace {
std::string updated_event(const std::string& id, const std::string& status, const std::string& duplicate_of,
                          const std::string& cluster_id, const std::string& action, const std::string& by,
                          const std::string& why) {
  std::string out;
  JsonWriter w(out, 256);
  w.begin_object();
  w.field("id", id);
  w.field("action", action);
  w.field("by", by);
  w.field("reason", why);
  w.key("dedup");
  w.begin_object();
  w.field("status", status);
  if (duplicate_of.empty())
    w.raw_field("duplicate_of", "null");
  else
    w.field("duplicate_of", duplicate_of);
  if (cluster_id.empty())
    w.raw_field("cluster_id", "null");
  else
    w.field("cluster_id", cluster_id);
  w.end_object();
  w.end_object();
  return out;
}
}  // namespace

std::string Journal::correct(const std::string& id, const std::string& action, const std::string& by,
                             const std::string& why, const Correction& change) {
  std::string error;
  enqueue_and_wait(
      [&](sql::Db& db) {
        sql::Stmt q(db.get(),
                    "SELECT status, COALESCE(duplicate_of,''), COALESCE(cluster_id,'') FROM suggestions WHERE id=?1");
        q.bind(1, id);
        if (!q.step()) {
          error = "no suggestion " + id;
          return;
        }
        SuggestionState state{q.col_text(0), q.col_text(1), q.col_text(2)};
        std::string previous;
        error = change.apply(db, state, previous);
        if (!error.empty()) return;
        int64_t now = wall_clock_ms();
        std::string time = format_rfc3339_local(now);
        sql::Stmt(db.get(),
                  "INSERT INTO dedup_actions(suggestion_id, action, previous, actor, reason, at_ms) "
                  "VALUES(?1,?2,?3,?4,?5,?6)")
            .bind(1, id)
            .bind(2, action)
            .bind(3, previous)
            .bind(4, by)
            .bind(5, why)
            .bind(6, now)
            .run();
        st_->insert_event.bind(1, new_uuid_v7())
            .bind(2, "suggestion.updated")
            .bind(3, id)
            .bind(4, time)
            .bind(5, updated_event(id, state.status, state.duplicate_of, state.cluster_id, action, by, why))
            .run();
        if (change.after) change.after(db, time);
      },
      false);
  return error;
}

std::string Journal::unlink_duplicate(const std::string& id, const std::string& by, const std::string& why) {
  Correction c;
  c.apply = [&](sql::Db& db, SuggestionState& state, std::string& previous) -> std::string {
    if (state.status != "duplicate") return "suggestion " + id + " is not a duplicate";
    sql::Stmt(db.get(), "UPDATE suggestions SET status='new', duplicate_of=NULL WHERE id=?1").bind(1, id).run();
    // Now its own root: a later duplicate of it joins the cluster it is in.
    sql::Stmt(db.get(),
              "UPDATE dedup_signatures SET root_id=?1, root_cluster=?2 "
              "WHERE suggestion_rowid=(SELECT rowid FROM suggestions WHERE id=?1)")
        .bind(1, id)
        .bind(2, state.cluster_id)
        .run();
    previous = "duplicate_of " + state.duplicate_of;
    state.status = "new";
    state.duplicate_of.clear();
    return "";
  };
  return correct(id, "unlink_duplicate", by, why, c);
}

std::string Journal::remove_from_cluster(const std::string& id, const std::string& by, const std::string& why) {
  std::string cluster;
  Correction c;
  c.apply = [&](sql::Db& db, SuggestionState& state, std::string& previous) -> std::string {
    if (state.cluster_id.empty()) return "suggestion " + id + " is in no cluster";
    cluster = state.cluster_id;
    sql::Stmt(db.get(), "UPDATE suggestions SET cluster_id=NULL WHERE id=?1").bind(1, id).run();
    // Duplicates never counted toward the size.
    if (state.status != "duplicate")
      sql::Stmt(db.get(), "UPDATE clusters SET size = MAX(size - 1, 0) WHERE id=?1").bind(1, cluster).run();
    previous = "cluster_id " + cluster;
    state.cluster_id.clear();
    // Signatures naming it as the root still name the cluster it left.
    if (detector_) detector_->corrected(id);
    return "";
  };
  c.after = [&](sql::Db& db, const std::string& time) {
    sql::Stmt q(db.get(), "SELECT id, place, title, size FROM clusters WHERE id=?1");
    q.bind(1, cluster);
    if (q.step()) {
      std::string data;
      JsonWriter w(data, 256);
      w.begin_object();
      w.field("id", q.col_text(0));
      w.key("size");
      w.integer(q.col_int(3));
      w.field("place", q.col_text(1));
      w.field("title", q.col_text(2));
      w.field("removed_suggestion", id);
      w.end_object();
      st_->insert_event.bind(1, new_uuid_v7())
          .bind(2, "cluster.updated")
          .bind(3, cluster)
          .bind(4, time)
          .bind(5, data)
          .run();
    }
    if (clusters_) clusters_->invalidate();  // sizes changed under the in-memory index
  };
  return correct(id, "remove_from_cluster", by, why, c);
}

size_t Journal::dedup_index_size() const { return detector_ ? detector_->size() : 0; }

void Journal::submit_async(JournalRecord rec, std::function<void(JournalResult)> done) {
  struct State {
    JournalRecord rec;
    JournalResult result;
    std::function<void(JournalResult)> done;
  };
  auto st = std::make_shared<State>(State{std::move(rec), {}, std::move(done)});
  try {
    enqueue([this, st](sql::Db& db) { apply_submit(db, st->rec, st->result); },
            [this, st](std::exception_ptr e) {
              if (!e) return st->done(std::move(st->result));
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& ex) {
                spdlog::error("journal {}: storing suggestion {} failed: {}", opts_.path, st->rec.suggestion_id,
                              ex.what());
                st->done({JournalOutcome::Failed, "", ex.what()});
              }
            },
            true,
            st->rec.dedup && detector_ ? std::function<void(bool)>([this, st](bool chains) {
              if (detector_ && !detector_->stale()) detector_->warm(*st->rec.dedup, chains);
            })
                                       : std::function<void(bool)>());
  } catch (const BusyError& e) {
    st->done({JournalOutcome::Busy, "", e.what()});
  }
}

JournalResult Journal::submit(JournalRecord rec) {
  std::promise<JournalResult> p;
  auto f = p.get_future();
  submit_async(std::move(rec), [&p](JournalResult r) { p.set_value(std::move(r)); });
  return f.get();
}

void Journal::checkpoint_set(const std::string& instance, const std::string& key, const std::string& value) {
  enqueue_and_wait(
      [&](sql::Db&) {
        if (value.empty())
          st_->delete_checkpoint.bind(1, instance).bind(2, key).run();
        else
          st_->set_checkpoint.bind(1, instance).bind(2, key).bind_blob(3, value).bind(4, wall_clock_ms()).run();
      },
      false);
}

void Journal::quarantine(const std::string& instance, const std::string& reason, const std::string& content_type,
                         const std::string& bytes, int64_t now_ms) {
  enqueue(
      [this, now_ms, instance, reason, content_type, bytes, digest = sha256_hex(bytes)](sql::Db&) {
        st_->insert_quarantine.bind(1, now_ms)
            .bind(2, instance)
            .bind(3, reason)
            .bind(4, content_type)
            .bind(5, digest)
            .bind_blob(6, bytes)
            .run();
      },
      [this](std::exception_ptr e) {
        if (e) spdlog::warn("journal {}: a quarantine record was not stored", opts_.path);
      },
      true);
}

void Journal::cursor_advance(const std::string& sink, int64_t seq) {
  enqueue_and_wait([&](sql::Db&) { st_->cursor_advance.bind(1, sink).bind(2, seq).run(); }, false);
}

void Journal::cursor_failure(const std::string& sink, const SinkCursor& c) {
  enqueue_and_wait(
      [&](sql::Db&) {
        st_->cursor_failure.bind(1, sink)
            .bind(2, c.seq)
            .bind(3, c.attempts)
            .bind(4, c.first_failure_ms)
            .bind(5, c.next_attempt_ms)
            .bind(6, c.last_error)
            .run();
      },
      false);
}

void Journal::dead_letter(const std::string& sink, const EventRow& ev, const std::string& reason, int64_t attempts,
                          int64_t first_failure_ms, int64_t now_ms) {
  enqueue_and_wait(
      [&](sql::Db&) {
        st_->insert_dead.bind(1, sink)
            .bind(2, ev.seq)
            .bind(3, ev.id)
            .bind(4, ev.type)
            .bind(5, reason)
            .bind(6, attempts)
            .bind(7, first_failure_ms)
            .bind(8, now_ms)
            .run();
        st_->cursor_advance.bind(1, sink).bind(2, ev.seq).run();
      },
      false);
}

int64_t Journal::wait_for_events(int64_t seq, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(seq_mu_);
  seq_cv_.wait_until(lock, deadline, [&] { return last_seq_.load() > seq || stopping_; });
  return last_seq_.load();
}

void Journal::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  checkpoint_cv_.notify_all();
  { std::lock_guard lock(seq_mu_); }
  seq_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(done_mu_);
    writer_finished_ = true;
  }
  done_cv_.notify_all();
  if (completer_.joinable()) completer_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  if (db_) {
    st_.reset();
    try {
      db_->exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (...) {
    }
  }
}

}  // namespace minyi
