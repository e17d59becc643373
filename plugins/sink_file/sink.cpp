// sink_file: appends events as NDJSON (one CloudEvents structured-mode JSON per line),
// with an fsync policy and size-based rotation (events.ndjson → events.ndjson.1 → …).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <minyi/plugin.hpp>
#include <vector>

#include "cloudevent.hpp"

namespace {

namespace fs = std::filesystem;

const std::array<minyi_config_entry_t, 5> kConfig = {{
    {"path", MINYI_CFG_STRING, nullptr, 1, "file to append to; its folder is created if missing", nullptr},
    {"fsync", MINYI_CFG_STRING, "batch", 0,
     "always (after every event), batch (once per delivered batch) or never (leave it to the OS)",
     "always|batch|never"},
    {"max_size", MINYI_CFG_SIZE, "100MiB", 0, "rotate when the file would grow past this size (0 = never)", nullptr},
    {"max_files", MINYI_CFG_INT, "10", 0, "rotated files kept (path.1 … path.N); older ones are deleted", nullptr},
    {"source", MINYI_CFG_STRING, "/minyi", 0, "CloudEvents 'source' attribute", nullptr},
}};

class FileSink {
 public:
  explicit FileSink(minyi::Host host) : host_(host) {
    path_ = host_.config_string("path", "");
    fsync_ = host_.config_string("fsync", "batch");
    if (fsync_ != "always" && fsync_ != "batch" && fsync_ != "never")
      throw minyi::ConfigError("'fsync' must be always, batch or never, got '" + fsync_ + "'");
    max_size_ = host_.config_int("max_size", 100 << 20);
    max_files_ = host_.config_int("max_files", 10);
    if (max_files_ < 1) throw minyi::ConfigError("'max_files' must be at least 1");
    source_ = host_.config_string("source", "/minyi");
    std::error_code ec;
    auto parent = fs::path(path_).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) throw minyi::ConfigError("cannot create folder " + parent.string() + ": " + ec.message());
    std::string err;
    if (!open_file(err)) throw minyi::ConfigError(err);
  }
  ~FileSink() {
    if (fd_ >= 0) ::close(fd_);
  }
  const minyi::Host& host() const { return host_; }

  void deliver(std::span<const minyi_event_t> events, std::span<minyi_delivery_result_t> results) {
    std::string err;
    size_t written = 0;  // events whose whole line reached the file
    // Lines are gathered and written with one call per batch (per event with fsync: always),
    // so the sink's cost does not grow by a system call per event.
    pending_.clear();
    pending_ends_.clear();
    bool ok = true;
    for (size_t i = 0; ok && i < events.size(); ++i) {
      std::string line = minyi::plugins::cloudevent_json(events[i], source_) + "\n";
      if (fd_ < 0 && !open_file(err)) break;
      int64_t would_be = size_ + static_cast<int64_t>(pending_.size() + line.size());
      if (max_size_ > 0 && size_ + static_cast<int64_t>(pending_.size()) > 0 && would_be > max_size_)
        ok = flush(written, err) && rotate(err);
      if (!ok) break;
      pending_ += line;
      pending_ends_.push_back(pending_.size());
      if (fsync_ == "always") {
        ok = flush(written, err);
        if (ok && ::fdatasync(fd_) != 0) {
          err = "fdatasync " + path_ + ": " + std::strerror(errno);
          --written;  // this event's line is written but not known to be on disk
          ok = false;
        }
      }
    }
    if (ok) ok = flush(written, err);
    if (written > 0 && fsync_ == "batch" && ::fdatasync(fd_) != 0) {
      err = "fdatasync " + path_ + ": " + std::strerror(errno);
      written = 0;  // nothing is known to be on disk
    }
    for (size_t i = 0; i < events.size(); ++i) {
      if (i < written) {
        results[i].status = MINYI_DELIVERY_OK;
      } else {
        results[i].status = MINYI_DELIVERY_RETRY;
        results[i].retry_after_ms = 0;
        minyi::copy_to(results[i].reason, err.empty() ? "not written" : err);
      }
    }
    host_.count("written", written);
  }

 private:
  bool open_file(std::string& err) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      err = "cannot open " + path_ + ": " + std::strerror(errno);
      return false;
    }
    struct stat st {};
    ::fstat(fd_, &st);
    size_ = st.st_size;
    return true;
  }

  // Writes the gathered lines; `written` grows by the lines that reached the file whole.
  bool flush(size_t& written, std::string& err) {
    size_t off = 0;
    bool ok = true;
    while (off < pending_.size()) {
      ssize_t n = ::write(fd_, pending_.data() + off, pending_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err = "write " + path_ + ": " + std::strerror(errno);
        ok = false;
        break;
      }
      off += static_cast<size_t>(n);
    }
    size_ += static_cast<int64_t>(off);
    size_t whole = 0;
    while (whole < pending_ends_.size() && pending_ends_[whole] <= off) ++whole;
    written += whole;
    // A partial line may be on disk; start the next attempt on a fresh line.
    if (!ok && off > 0 && (whole == 0 || pending_ends_[whole - 1] != off)) {
      if (::write(fd_, "\n", 1) == 1) ++size_;
    }
    pending_.clear();
    pending_ends_.clear();
    return ok;
  }

  bool rotate(std::string& err) {
    if (fsync_ != "never") ::fdatasync(fd_);
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::remove(path_ + "." + std::to_string(max_files_), ec);
    for (int64_t i = max_files_ - 1; i >= 1; --i) {
      std::string from = path_ + "." + std::to_string(i);
      if (fs::exists(from, ec)) fs::rename(from, path_ + "." + std::to_string(i + 1), ec);
    }
    fs::rename(path_, path_ + ".1", ec);
    if (ec) {
      err = "cannot rotate " + path_ + ": " + ec.message();
      open_file(err);
      return false;
    }
    host_.count("rotations");
    return open_file(err);
  }

  minyi::Host host_;
  std::string path_, fsync_, source_;
  int64_t max_size_ = 0, max_files_ = 10, size_ = 0;
  int fd_ = -1;
  std::string pending_;               // lines not yet written
  std::vector<size_t> pending_ends_;  // where each of them ends in pending_
};

}  // namespace

MINYI_PLUGIN(FileSink, MINYI_KIND_SINK, "file", "1.0.0", "append events to an NDJSON file with rotation", nullptr,
             kConfig, 0)
