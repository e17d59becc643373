// How the journal's connections are set up (journal.cpp); shared with JournalReader.
#pragma once

#include <cstdint>

namespace minyi {

namespace sql {
class Db;
}

// Page cache for every connection; for the writer also WAL mode, no automatic
// checkpoints, the log's size limit and the synchronous level.
void tune(sql::Db& db, bool writer, bool full, int64_t wal_size_limit = 0);

}  // namespace minyi
