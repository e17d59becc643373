// One spool file through to the journal: records converted by the channel, submitted in
// order with the file position as a checkpoint in the same transaction (so a crash neither
// loses nor doubles rows), bad rows reported with their row numbers, and the file moved
// to processed/ or failed/ with its report. Shared by the pulled channels.
#pragma once

#include <functional>
#include <minyi/plugin.hpp>
#include <string>

#include "records.hpp"

namespace minyi::plugins {

// What a channel makes of one record.
struct Converted {
  std::string draft;     // draft.v1 JSON; empty = not submitted (see reason / skipped)
  std::string reason;    // why the row is bad
  bool skipped = false;  // wanted out by configuration (e.g. a request kind): counted, not bad
};

struct SpoolLimits {
  uint64_t max_file_bytes = 100ull << 20;
  size_t max_record_bytes = 1 << 20;
  uint64_t max_xlsx_bytes = 64ull << 20;
  std::string charset;     // empty = detect
  size_t in_flight = 256;  // submissions pipelined to the journal
};

enum class IngestOutcome { Finished, Failed, Interrupted };

// Handles the next ready file of `dir`, if any. Returns false when nothing was ready.
// `check` runs once on the opened reader (e.g. required columns) and returns a reason to
// fail the whole file, or empty.
bool ingest_next_file(const minyi::Host& host, const std::string& dir, std::string_view suffixes, int64_t settle_ms,
                      const SpoolLimits& limits, const std::function<std::string(const RecordReader&)>& check,
                      const std::function<Converted(const Record&)>& convert, IngestOutcome* outcome = nullptr);

}  // namespace minyi::plugins
