// minyi-ingest-load: a closed-loop HTTP load generator for the ingest benchmark.
// N keep-alive connections, each posting one suggestion and waiting for the answer before
// the next, for a fixed duration. Bodies are ~1 KB JSON built from a CSV of real citizen
// messages (column `detail`, optional `subject`). Prints throughput and latency percentiles.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/csv.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Cuts UTF-8 text to at most n bytes on a character boundary.
std::string cut_utf8(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t k = n;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return s.substr(0, k);
}

std::vector<std::string> make_bodies(const std::string& csv, size_t target_bytes) {
  auto rows = minyi::csv::read_csv(csv);
  if (rows.size() < 2) throw std::runtime_error(csv + " has no data rows");
  const auto& head = rows[0];
  auto col = [&](const char* name) -> long {
    auto it = std::find(head.begin(), head.end(), name);
    return it == head.end() ? -1 : it - head.begin();
  };
  long detail = col("detail"), subject = col("subject");
  if (detail < 0) throw std::runtime_error(csv + " has no 'detail' column");
  std::vector<std::string> bodies;
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() <= static_cast<size_t>(detail) || rows[r][detail].empty()) continue;
    std::string text = rows[r][detail];
    while (text.size() < target_bytes) text += " " + rows[(r * 7919) % (rows.size() - 1) + 1][detail];
    nlohmann::json j;
    if (subject >= 0 && rows[r].size() > static_cast<size_t>(subject)) j["title"] = cut_utf8(rows[r][subject], 300);
    j["content"] = cut_utf8(text, target_bytes);
    j["submitter"] = {{"phone", "138" + std::to_string(10000000 + r)}};
    bodies.push_back(j.dump());
  }
  return bodies;
}

struct Result {
  std::vector<uint32_t> latencies_us;
  uint64_t ok = 0, errors = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt = {
      {"--host", "127.0.0.1"},       {"--port", "8080"},
      {"--path", "/v1/suggestions"}, {"--connections", "64"},
      {"--duration", "10"},          {"--warmup", "2"},
      {"--body-bytes", "1000"},      {"--csv", "../shared/data/teddy2020c/stream_all_attachments.csv"},
      {"--label", "minyid"},         {"--senders", "per-message"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!opt.count(argv[i])) {
      std::fprintf(stderr,
                   "unknown option %s\nusage: %s [--host H] [--port P] [--path /x] [--connections N] "
                   "[--duration S] [--warmup S] [--body-bytes B] [--csv FILE] [--label TEXT]\n"
                   "       [--senders per-message|unique]  (per-message: a message always comes from the same "
                   "phone, so the\n"
                   "       bodies cycling round are resends; unique: every post is a new phone)\n",
                   argv[i], argv[0]);
      return 2;
    }
    opt[argv[i]] = argv[i + 1];
  }
  auto bodies = make_bodies(opt["--csv"], std::stoul(opt["--body-bytes"]));
  if (opt["--senders"] != "per-message" && opt["--senders"] != "unique") {
    std::fprintf(stderr, "--senders must be per-message or unique\n");
    return 2;
  }
  const bool unique_senders = opt["--senders"] == "unique";
  std::atomic<uint64_t> next_sender{0};
  size_t conns = std::stoul(opt["--connections"]);
  auto warmup = std::chrono::duration<double>(std::stod(opt["--warmup"]));
  auto duration = std::chrono::duration<double>(std::stod(opt["--duration"]));
  auto start = Clock::now();
  auto measure_from = start + std::chrono::duration_cast<Clock::duration>(warmup);
  auto until = measure_from + std::chrono::duration_cast<Clock::duration>(duration);
  std::vector<Result> results(conns);
  std::vector<std::thread> threads;
  std::atomic<size_t> next_body{0};
  for (size_t c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      net::io_context ioc;
      tcp::socket sock(ioc);
      beast::flat_buffer buf;
      auto connect = [&] {
        beast::error_code ec;
        sock.close(ec);
        sock = tcp::socket(ioc);
        sock.connect({net::ip::make_address(opt["--host"]), static_cast<uint16_t>(std::stoi(opt["--port"]))}, ec);
        if (!ec) sock.set_option(tcp::no_delay(true), ec);
        buf.clear();
        return !ec;
      };
      bool connected = connect();
      auto& res = results[c];
      while (Clock::now() < until) {
        if (!connected && !(connected = connect())) {
          ++res.errors;
          continue;
        }
        http::request<http::string_body> req{http::verb::post, opt["--path"], 11};
        req.set(http::field::host, opt["--host"]);
        req.set(http::field::content_type, "application/json");
        req.keep_alive(true);
        req.body() = bodies[next_body++ % bodies.size()];
        if (unique_senders) {
          // Overwrite the 8 digits after "138" with a number never used before.
          auto at = req.body().find("\"phone\":\"138");
          auto digits = std::to_string(10000000 + next_sender++ % 90000000);
          if (at != std::string::npos) req.body().replace(at + 12, 8, digits);
        }
        req.prepare_payload();
        auto t0 = Clock::now();
        beast::error_code ec;
        http::write(sock, req, ec);
        http::response<http::string_body> resp;
        if (!ec) http::read(sock, buf, resp, ec);
        auto t1 = Clock::now();
        if (ec) {
          connected = false;
          if (t0 >= measure_from) ++res.errors;
          continue;
        }
        if (!resp.keep_alive()) connected = false;
        if (t0 < measure_from) continue;
        if (resp.result_int() == 200 || resp.result_int() == 201) {
          ++res.ok;
          res.latencies_us.push_back(
              static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
        } else {
          ++res.errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<uint32_t> all;
  uint64_t ok = 0, errors = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    ok += r.ok;
    errors += r.errors;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, size_t(p * all.size()))] / 1000.0;
  };
  double secs = duration.count();
  std::printf(
      "%-22s connections=%zu duration=%.0fs accepted=%llu errors=%llu rate=%.0f/s p50=%.2fms p99=%.2fms "
      "p99.9=%.2fms\n",
      opt["--label"].c_str(), conns, secs, static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors),
      ok / secs, pct(0.50), pct(0.99), pct(0.999));
  return 0;
}
