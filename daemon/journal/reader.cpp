// JournalReader: a read-only connection to the journal for one thread (sinks, tools).
#include <sqlite3.h>

#include "journal/journal.hpp"
#include "journal/sqlite.hpp"
#include "journal/tuning.hpp"

namespace minyi {

JournalReader::JournalReader(const std::string& path) : db_(std::make_unique<sql::Db>(path, SQLITE_OPEN_READONLY)) {
  tune(*db_, false, false);
}
JournalReader::~JournalReader() = default;

std::vector<EventRow> JournalReader::events_after(int64_t seq, size_t limit) {
  sql::Stmt q(
      db_->get(),
      "SELECT e.seq, e.id, e.type, e.subject, e.time, COALESCE(e.data, s.doc) FROM events e "
      "LEFT JOIN suggestions s ON e.data IS NULL AND s.id = e.subject WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2");
  q.bind(1, seq).bind(2, static_cast<int64_t>(limit));
  std::vector<EventRow> out;
  while (q.step())
    out.push_back({q.col_int(0), q.col_text(1), q.col_text(2), q.col_text(3), q.col_text(4), q.col_text(5)});
  return out;
}

SinkCursor JournalReader::cursor(const std::string& sink) {
  sql::Stmt q(db_->get(),
              "SELECT seq, attempts, first_failure_ms, next_attempt_ms, last_error FROM sink_cursors WHERE sink=?1");
  q.bind(1, sink);
  SinkCursor c;
  if (q.step()) c = {q.col_int(0), q.col_int(1), q.col_int(2), q.col_int(3), q.col_text(4)};
  return c;
}

std::vector<std::pair<std::string, std::string>> JournalReader::checkpoints(const std::string& instance,
                                                                            const std::string& prefix) {
  // substr() compares bytes, so any prefix (including '%' or '_') matches literally.
  sql::Stmt q(db_->get(),
              "SELECT key, value FROM checkpoints WHERE instance=?1 AND substr(key, 1, length(?2))=?2 ORDER BY key");
  q.bind(1, instance).bind(2, prefix);
  std::vector<std::pair<std::string, std::string>> out;
  while (q.step()) out.emplace_back(q.col_text(0), q.col_text(1));
  return out;
}

std::optional<std::string> JournalReader::checkpoint(const std::string& instance, const std::string& key) {
  sql::Stmt q(db_->get(), "SELECT value FROM checkpoints WHERE instance=?1 AND key=?2");
  q.bind(1, instance).bind(2, key);
  if (!q.step()) return std::nullopt;
  return q.col_text(0);
}

}  // namespace minyi
