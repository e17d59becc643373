#include "spool_ingest.hpp"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace minyi::plugins {
namespace {

using nlohmann::json;

constexpr size_t kMaxListed = 1000;  // rows listed in a report; the counts are always complete

// Submissions in flight to the journal, and what came back.
struct Flight {
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;
  size_t accepted = 0, replays = 0;
  size_t first_busy_row = SIZE_MAX;
  std::vector<std::pair<size_t, std::string>> rejected;

  void wait_below(size_t n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return pending < n; });
  }
};

struct Report {
  std::string file, sha256, charset;
  size_t rows = 0, resumed = 0, skipped = 0;
  json bad = json::array();
  size_t bad_count = 0;

  void add_bad(size_t row, const std::string& reason) {
    ++bad_count;
    if (bad.size() < kMaxListed) bad.push_back({{"row", row}, {"reason", reason}});
  }
  std::string render(const Flight* f, const std::string& error) const {
    json j = {{"file", file}, {"sha256", sha256}};
    if (!charset.empty()) j["charset"] = charset;
    if (!error.empty()) j["error"] = error;
    j["rows"] = rows;
    if (f) {
      j["ingested"] = f->accepted;
      j["already_known"] = f->replays;
    }
    j["ingested_before_restart"] = resumed;
    j["skipped"] = skipped;
    j["bad_rows"] = bad_count;
    j["bad"] = bad;
    return j.dump(2);
  }
};

}  // namespace

bool ingest_next_file(const minyi::Host& host, const std::string& dir, std::string_view suffixes, int64_t settle_ms,
                      const SpoolLimits& limits, const std::function<std::string(const RecordReader&)>& check,
                      const std::function<Converted(const Record&)>& convert, IngestOutcome* outcome) {
  auto file = host.spool_next(dir, suffixes, settle_ms);
  if (!file) return false;
  Report report;
  report.file = file->name;
  report.sha256 = file->sha256;
  const std::string key = std::string("file/") + file->sha256;
  auto finish = [&](bool ok, const std::string& text) {
    host.set_checkpoint(key, "");  // forget the position first: a re-run only replays
    host.spool_finish(file->path, ok, text);
    if (outcome) *outcome = ok ? IngestOutcome::Finished : IngestOutcome::Failed;
    host.count(ok ? "files_processed" : "files_failed");
  };
  if (file->size > limits.max_file_bytes) {
    finish(false, report.render(nullptr, "the file is " + std::to_string(file->size) + " bytes; the limit is " +
                                             std::to_string(limits.max_file_bytes) + " (max_file_size)"));
    return true;
  }
  OpenError err;
  auto reader = open_records(host, file->path, limits.charset, limits.max_record_bytes, limits.max_xlsx_bytes, err);
  if (!reader) {
    finish(false, report.render(nullptr, err.reason));
    return true;
  }
  report.charset = reader->charset();
  if (std::string why = check(*reader); !why.empty()) {
    finish(false, report.render(nullptr, why));
    return true;
  }
  size_t done_before = 0;
  if (auto cp = host.checkpoint(key)) done_before = static_cast<size_t>(std::strtoull(cp->c_str(), nullptr, 10));
  if (done_before) host.info(std::string("resuming ") + file->name + " after row " + std::to_string(done_before));

  auto flight = std::make_shared<Flight>();
  Record rec;
  bool interrupted = false;
  while (reader->next(rec)) {
    ++report.rows;
    if (!rec.problem.empty()) {
      report.add_bad(rec.number, rec.problem);
      continue;
    }
    if (rec.replacements) {
      // Mangled names and numbers are worse than a reported row: fix the export, drop it
      // again, and only the fixed rows are new.
      report.add_bad(rec.number, std::to_string(rec.replacements) + " byte sequence(s) are not valid " +
                                     reader->charset() + "; check the file's encoding");
      continue;
    }
    Converted c = convert(rec);
    if (c.skipped) {
      ++report.skipped;
      continue;
    }
    if (c.draft.empty()) {
      report.add_bad(rec.number, c.reason);
      continue;
    }
    if (rec.number <= done_before) {
      ++report.resumed;
      continue;
    }
    if (host.stopping()) {
      interrupted = true;
      break;
    }
    json raw = json::object();
    for (const auto& [k, v] : rec.fields) raw[k] = v;
    raw["_file"] = file->name;
    raw["_row"] = rec.number;
    std::string raw_text = raw.dump();
    std::string position = std::to_string(rec.number);
    flight->wait_below(limits.in_flight);
    {
      std::lock_guard lock(flight->mu);
      if (flight->first_busy_row != SIZE_MAX) {
        interrupted = true;
        break;
      }
      ++flight->pending;
    }
    size_t row = rec.number;
    host.submit_async({c.draft, raw_text, "application/json", key, position, reader->charset(), 0},
                      [flight, row](const minyi::SubmitResult& r) {
                        std::lock_guard lock(flight->mu);
                        switch (r.status) {
                          case MINYI_SUBMIT_ACCEPTED:
                            ++flight->accepted;
                            break;
                          case MINYI_SUBMIT_REPLAY:
                            ++flight->replays;
                            break;
                          case MINYI_SUBMIT_REJECTED:
                            flight->rejected.emplace_back(row, r.code + ": " + r.reason);
                            break;
                          default:
                            flight->first_busy_row = std::min(flight->first_busy_row, row);
                        }
                        --flight->pending;
                        flight->cv.notify_all();
                      });
  }
  flight->wait_below(1);
  if (flight->first_busy_row != SIZE_MAX || interrupted) {
    // Later rows may have committed a position past a row the journal turned away: move
    // the position back so the next attempt submits it (the later ones come back as replays).
    if (flight->first_busy_row != SIZE_MAX)
      host.set_checkpoint(key, std::to_string(std::max<size_t>(flight->first_busy_row, 1) - 1));
    host.info(std::string("pausing ") + file->name + "; it is picked up again where it stopped");
    if (outcome) *outcome = IngestOutcome::Interrupted;
    return true;
  }
  std::sort(flight->rejected.begin(), flight->rejected.end());
  for (const auto& [row, why] : flight->rejected) report.add_bad(row, why);
  host.count("rows_ingested", flight->accepted);
  host.count("rows_bad", report.bad_count);
  finish(true, report.render(flight.get(), ""));
  return true;
}

}  // namespace minyi::plugins
