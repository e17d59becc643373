// The journal: minyi's only durable state, a SQLite database in WAL mode. One writer thread
// applies queued work in group-committed transactions; callers block until their work is
// on disk. Readers (dispatcher, tools) use their own connections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dedup/clusters.hpp"
#include "dedup/detector.hpp"
#include "journal/recent_events.hpp"

namespace minyi {

namespace sql {
class Db;
}

// A suggestion ready to be journaled (built by intake).
struct JournalRecord {
  std::string instance;
  std::optional<std::string> external_id;
  std::string suggestion_id;
  std::string suggestion_json;
  std::string channel;
  std::string received_at;
  std::optional<std::string> submitted_at;
  std::string raw;
  std::string raw_sha256;
  std::string raw_content_type;
  struct Blob {
    std::string sha256, content_type, bytes;
  };
  std::vector<Blob> attachments;
  std::string event_id;
  std::optional<std::pair<std::string, std::string>> checkpoint;
  // Present when dedup is on: the writer decides inside the transaction and rewrites the
  // document's final "dedup" member with the decision.
  std::optional<DedupInput> dedup;
};

enum class JournalOutcome { Accepted, Replay, Busy, Failed };
struct JournalResult {
  JournalOutcome outcome;
  std::string id;     // suggestion id (new or original)
  std::string error;  // for Busy/Failed
};

struct SinkCursor {
  int64_t seq = 0;       // last event handled (delivered or dead-lettered)
  int64_t attempts = 0;  // failed attempts for the event after seq
  int64_t first_failure_ms = 0;
  int64_t next_attempt_ms = 0;
  std::string last_error;
};

struct JournalOptions {
  std::string path;
  bool synchronous_full = true;
  size_t batch_max = 512;
  size_t queue_max = 20000;
  DedupOptions dedup = {};
  // Past this much WAL the writer starts the log over between two transactions.
  int64_t wal_rewind_bytes = 64 << 20;
};

// A read-only connection for one thread.
class JournalReader {
 public:
  explicit JournalReader(const std::string& path);
  ~JournalReader();
  std::vector<EventRow> events_after(int64_t seq, size_t limit);
  SinkCursor cursor(const std::string& sink);
  std::optional<std::string> checkpoint(const std::string& instance, const std::string& key);
  // Key order; keys starting with prefix.
  std::vector<std::pair<std::string, std::string>> checkpoints(const std::string& instance, const std::string& prefix);

 private:
  std::unique_ptr<sql::Db> db_;
};

class Journal {
 public:
  static constexpr int kSchemaVersion = 6;

  // Opens (creating if needed), migrates and starts the writer thread.
  explicit Journal(JournalOptions opts);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Blocks until committed. Replays (known instance+external_id) store nothing.
  JournalResult submit(JournalRecord rec);
  // Returns at once; `done` runs once on the writer thread after the commit (or at once,
  // on this thread, when the queue is full or the journal is stopping).
  void submit_async(JournalRecord rec, std::function<void(JournalResult)> done);
  void checkpoint_set(const std::string& instance, const std::string& key, const std::string& value);
  // Queued without waiting: quarantined input is not acknowledged to anyone.
  void quarantine(const std::string& instance, const std::string& reason, const std::string& content_type,
                  const std::string& bytes, int64_t now_ms);
  // Dispatcher bookkeeping, each one transaction.
  void cursor_advance(const std::string& sink, int64_t seq);
  void cursor_failure(const std::string& sink, const SinkCursor& state);
  void dead_letter(const std::string& sink, const EventRow& ev, const std::string& reason, int64_t attempts,
                   int64_t first_failure_ms, int64_t now_ms);

  // Admin corrections, journaled with who and why; each emits suggestion.updated (and
  // cluster.updated when a cluster changes). Returns an error message, or "" on success.
  std::string unlink_duplicate(const std::string& suggestion_id, const std::string& by, const std::string& why);
  std::string remove_from_cluster(const std::string& suggestion_id, const std::string& by, const std::string& why);

  const std::string& path() const { return opts_.path; }
  int64_t last_seq() const { return last_seq_.load(); }
  // Waits until last_seq() > seq or the deadline passes or stop(); returns last_seq().
  int64_t wait_for_events(int64_t seq, std::chrono::steady_clock::time_point deadline);
  // The committed events after `seq` (at most `limit`) from the copies the writer keeps of
  // the latest ones, as JournalReader::events_after would read them. False, with `out`
  // untouched, when they are not all in memory: read them from the journal then.
  bool recent_events(int64_t seq, size_t limit, std::vector<EventRow>& out) { return recent_.after(seq, limit, out); }
  // How many of the latest events recent_events can serve (for tests).
  size_t recent_events_held() { return recent_.held(); }
  // Refuses new work, commits everything queued, stops the writer. Idempotent.
  void stop();
  int schema_version() const { return schema_version_; }
  // Entries in the duplicate index (0 when dedup is off).
  size_t dedup_index_size() const;

 private:
  struct Task {
    std::function<void(sql::Db&)> apply;
    // Called after the transaction: null on success, else why the task did not commit.
    std::function<void(std::exception_ptr)> complete;
    // Optional, on the writer thread shortly before `apply`: prefetches what it will read
    // (stage false, then true; see DuplicateDetector::warm).
    std::function<void(bool)> warm;
  };
  struct Statements;
  // The log size past which the checkpointer falls back to RESTART, and to which the log
  // file is trimmed when it starts over.
  int64_t wal_restart_bytes() const;
  void run_writer();
  void run_checkpointer();
  // Throws BusyError-like std::runtime_error when refused; never blocks.
  void enqueue(std::function<void(sql::Db&)> apply, std::function<void(std::exception_ptr)> complete, bool bounded,
               std::function<void(bool)> warm = {});
  void enqueue_and_wait(std::function<void(sql::Db&)> apply, bool bounded);
  void apply_submit(sql::Db& db, JournalRecord& rec, JournalResult& result);
  // Writer thread: notes an event just inserted, for recent_events once committed.
  void wrote_event(sql::Db& db, std::string id, std::string type, std::string subject, std::string time,
                   std::string data);
  // Writer thread, after a commit: the events noted in it become recent_events (or all
  // copies are dropped, see RecentEvents::publish), and last_seq() moves to `seq`.
  void publish_events(int64_t seq);
  void apply_checkpoint(const JournalRecord& rec);
  // The dedup state of a suggestion, as stored in its columns.
  struct SuggestionState {
    std::string status, duplicate_of, cluster_id;
  };
  // An admin correction: `apply` checks and changes the suggestion (returning an error, or
  // "" and what it replaced); `after` may add events once suggestion.updated is written.
  struct Correction {
    std::function<std::string(sql::Db&, SuggestionState&, std::string& previous)> apply;
    std::function<void(sql::Db&, const std::string& time)> after;
  };
  // One writer transaction: look up, apply, journal the action, emit suggestion.updated.
  std::string correct(const std::string& id, const std::string& action, const std::string& by, const std::string& why,
                      const Correction& change);
  void migrate();

  JournalOptions opts_;
  std::unique_ptr<sql::Db> db_;  // owned by the writer thread after construction
  std::unique_ptr<Statements> st_;
  std::unique_ptr<DuplicateDetector> detector_;  // used by the writer thread only
  std::unique_ptr<ClusterIndex> clusters_;       // used by the writer thread only
  int schema_version_ = 0;
  // Guarded by mu_: the queue and the stopping flag. cv_ wakes the writer.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Task>> queue_;
  bool stopping_ = false;
  std::thread writer_;
  // Runs the completions of committed batches (answers, frees) in commit order, so the
  // writer starts the next transaction at once. Guarded by done_mu_.
  struct Finished {
    std::vector<std::unique_ptr<Task>> tasks;
    std::vector<std::exception_ptr> errors;
  };
  void run_completer();
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<Finished> done_;
  bool writer_finished_ = false;
  std::thread completer_;
  // Copies committed WAL frames into the database file off the commit path (its own
  // connection; PASSIVE checkpoints never block the writer). Woken by commits.
  std::thread checkpointer_;
  std::condition_variable checkpoint_cv_;  // guarded by mu_
  uint64_t commits_ = 0;                   // guarded by mu_
  // WAL frames the checkpointer's last pass had copied (see run_writer).
  std::atomic<int64_t> backfilled_frames_{0};
  // Highest committed event seq; seq_cv_ wakes dispatchers.
  std::atomic<int64_t> last_seq_{0};
  std::mutex seq_mu_;
  std::condition_variable seq_cv_;
  // Copies of the latest committed events for the sinks: enough for sinks that keep up
  // (they read batch_max events at a time, 100 by default) never to go to the database,
  // bounded so that a burst of big documents cannot grow it without end.
  RecentEvents recent_{2048, 8u << 20};
};

}  // namespace minyi
