#include "spool/spool.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "core/crypto.hpp"

namespace fs = std::filesystem;

namespace minyi {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool never_offered(const std::string& name) {
  std::string n = lower(name);
  return n.empty() || n[0] == '.' || n.rfind("~$", 0) == 0 || ends_with(n, ".part") || ends_with(n, ".tmp") ||
         ends_with(n, ".crdownload") || ends_with(n, ".report.json");
}

void write_file_synced(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

SpoolDir::SpoolDir(SpoolOptions opts) : opts_(std::move(opts)) {
  for (auto& s : opts_.suffixes) s = lower(s);
  std::error_code ec;
  for (const fs::path& p : {opts_.dir, opts_.dir / "processed", opts_.dir / "failed"}) {
    fs::create_directories(p, ec);
    if (ec) throw std::runtime_error("cannot create spool folder " + p.string() + ": " + ec.message());
  }
}

std::vector<fs::path> SpoolDir::ready(int64_t now_ms) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::map<std::string, Seen> still_there;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(opts_.dir, ec)) {
    std::error_code fec;
    if (!entry.is_regular_file(fec)) continue;
    std::string name = entry.path().filename().string();
    if (never_offered(name)) continue;
    if (!opts_.suffixes.empty() && std::none_of(opts_.suffixes.begin(), opts_.suffixes.end(),
                                                [&](const std::string& s) { return ends_with(lower(name), s); }))
      continue;
    uintmax_t size = entry.file_size(fec);
    if (fec) continue;
    auto mtime = entry.last_write_time(fec);
    if (fec) continue;
    int64_t mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
    Seen now{size, mtime_ns, now_ms};
    auto it = seen_.find(name);
    if (it != seen_.end() && it->second.size == size && it->second.mtime_ns == mtime_ns)
      now.since_ms = it->second.since_ms;
    still_there[name] = now;
    if (now_ms - now.since_ms >= opts_.settle_ms) out.emplace_back(mtime_ns, entry.path());
  }
  seen_ = std::move(still_there);
  std::sort(out.begin(), out.end());
  std::vector<fs::path> files;
  for (auto& [t, p] : out) files.push_back(std::move(p));
  return files;
}

fs::path SpoolDir::finish(const fs::path& file, bool ok, std::string_view report_json) {
  fs::path dest_dir = opts_.dir / (ok ? "processed" : "failed");
  std::string name = file.filename().string();
  fs::path dest = dest_dir / name;
  for (int i = 1; fs::exists(dest); ++i) dest = dest_dir / (name + "." + std::to_string(i));
  if (!report_json.empty()) write_file_synced(fs::path(dest.string() + ".report.json"), report_json);
  fs::rename(file, dest);
  seen_.erase(name);
  return dest;
}

std::string file_sha256(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  Sha256Stream h;
  std::string buf(1 << 16, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return h.hex_digest();
}

}  // namespace minyi
