// Records from exported files, streamed: CSV (UTF-8 with or without BOM, GBK/GB18030 as
// Excel writes it, Big5 — decoded by the host), JSON lines, and the first worksheet of an
// XLSX workbook (libzip + pugixml; no office suite). Shared by the pulled channels.
#pragma once

#include <cstdint>
#include <memory>
#include <minyi/plugin.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minyi::plugins {

struct Record {
  size_t number = 0;  // as the user counts: the spreadsheet row (header = 1) or the JSONL line
  std::vector<std::pair<std::string, std::string>> fields;  // column name -> text (trimmed)
  std::string problem;        // non-empty: the row could not be read (ragged, bad JSON, too long)
  uint32_t replacements = 0;  // undecodable byte sequences replaced while decoding this row
  // The first non-empty value among the '|'-separated column names (e.g. "来访事由|反映问题").
  const std::string* pick(std::string_view names) const;
  bool has_column(std::string_view names) const;
};

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // False at the end of the file.
  virtual bool next(Record& out) = 0;
  // Column names (empty for JSON lines, whose keys vary per record).
  const std::vector<std::string>& header() const { return header_; }
  const std::string& charset() const { return charset_; }

 protected:
  std::vector<std::string> header_;
  std::string charset_ = "utf-8";
};

struct OpenError {
  std::string reason;
};

// Opens by suffix: .csv/.txt/.tsv (delimiter detected from the header: ',', tab or ';'),
// .jsonl/.ndjson, .xlsx. `charset` forces a text charset (empty = detect from the first
// 64 KiB). `max_record_bytes` bounds one CSV record or JSON line; `max_xlsx_bytes` bounds
// the uncompressed worksheet (XLSX is parsed in memory). On failure returns nullptr and
// fills err (empty file, unreadable or truncated workbook, UTF-16, no header, …).
std::unique_ptr<RecordReader> open_records(const minyi::Host& host, const std::string& path, std::string_view charset,
                                           size_t max_record_bytes, uint64_t max_xlsx_bytes, OpenError& err);

}  // namespace minyi::plugins
