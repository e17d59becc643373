// Spool folders: the host's shared pickup of files that other systems drop (call-centre
// exports, visit registrations, later letters and transcripts). Only complete files are
// handed out — a file is complete once its size and mtime have not changed for the
// settle time (a file renamed in is complete at once after that) — and a finished file
// moves to processed/ or failed/ with its report beside it.
//
// Not yet wired to plugins: the next step is an ABI callback that receives one ready file
// at a time together with the plugin's committed position in it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace minyi {

struct SpoolOptions {
  std::filesystem::path dir;
  // Lower-case name suffixes to pick up (".csv", ".xlsx", ".jsonl"); empty = every file.
  std::vector<std::string> suffixes;
  int64_t settle_ms = 2000;
};

class SpoolDir {
 public:
  // Creates dir, dir/processed and dir/failed when missing; throws when it cannot.
  explicit SpoolDir(SpoolOptions opts);

  // Files ready for pickup at now_ms, oldest mtime first. Hidden files (".name"), Office
  // lock files ("~$name"), partial downloads (".part", ".tmp", ".crdownload") and
  // directories are never offered.
  std::vector<std::filesystem::path> ready(int64_t now_ms);

  // Moves a finished file into processed/ (ok) or failed/, keeping its name (adding
  // ".1", ".2", … when that name is taken), and writes the report (if any) next to it as
  // "<name>.report.json". Returns the new path.
  std::filesystem::path finish(const std::filesystem::path& file, bool ok, std::string_view report_json);

  const SpoolOptions& options() const { return opts_; }

 private:
  struct Seen {
    uintmax_t size = 0;
    int64_t mtime_ns = 0;
    int64_t since_ms = 0;  // when this size/mtime was first seen
  };
  SpoolOptions opts_;
  std::map<std::string, Seen> seen_;
};

// Lower-case hex SHA-256 of a file's content, read in blocks (bounded memory). The
// content hash identifies a re-dropped file whatever its name.
std::string file_sha256(const std::filesystem::path& file);

}  // namespace minyi
