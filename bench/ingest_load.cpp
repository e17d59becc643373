// minyi-ingest-load: a closed-loop HTTP load generator for the ingest benchmark.
// N keep-alive connections, each posting one suggestion and waiting for the answer before
// the next, for a fixed duration; the connections share a few event-loop threads
// (--threads, default 1). Bodies are ~1 KB JSON built from a CSV of real citizen messages
// (column `detail`, optional `subject`). Prints throughput and latency percentiles.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bodies.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

using minyi::bench::make_bodies;

struct Result {
  std::vector<uint32_t> latencies_us;
  uint64_t ok = 0, errors = 0;
};

struct Shared {
  net::ip::tcp::endpoint target;
  std::string head_prefix;  // request line and headers up to "Content-Length: "
  const std::vector<std::string>* bodies = nullptr;
  std::atomic<size_t> next_body{0};
  std::atomic<uint64_t> next_sender{0};
  bool unique_senders = false;
  Clock::time_point measure_from, until;
};

// One keep-alive connection driven by its thread's io_context: write a request, read the
// answer, record it, repeat until the deadline. Requests are written as raw bytes built once
// per post, so the generator spends as little CPU per request as it can.
class Connection {
 public:
  Connection(net::io_context& ioc, Shared& shared, Result& res) : ioc_(ioc), sh_(shared), res_(res), sock_(ioc) {}
  void start() { connect(); }

 private:
  void connect() {
    if (Clock::now() >= sh_.until) return;
    beast::error_code ec;
    sock_.close(ec);
    sock_ = tcp::socket(ioc_);
    sock_.async_connect(sh_.target, [this](beast::error_code ec) {
      if (ec) {
        ++res_.errors;
        return connect();
      }
      sock_.set_option(tcp::no_delay(true), ec);
      buf_.clear();
      post();
    });
  }

  void post() {
    if (Clock::now() >= sh_.until) return;
    const std::string& body = (*sh_.bodies)[sh_.next_body++ % sh_.bodies->size()];
    std::string_view content = body;
    if (sh_.unique_senders) {
      // Overwrite the 8 digits after "138" with a number never used before.
      body_ = body;
      auto at = body_.find("\"phone\":\"138");
      auto digits = std::to_string(10000000 + sh_.next_sender++ % 90000000);
      if (at != std::string::npos) body_.replace(at + 12, 8, digits);
      content = body_;
    }
    req_.assign(sh_.head_prefix);
    req_ += std::to_string(content.size());
    req_ += "\r\n\r\n";
    req_ += content;
    t0_ = Clock::now();
    net::async_write(sock_, net::buffer(req_), [this](beast::error_code ec, size_t) {
      if (ec) return failed();
      parser_.emplace();
      parser_->body_limit(1 << 20);
      http::async_read(sock_, buf_, *parser_, [this](beast::error_code ec, size_t) {
        if (ec) return failed();
        auto t1 = Clock::now();
        const auto& resp = parser_->get();
        bool keep = resp.keep_alive();
        if (t0_ >= sh_.measure_from) {
          if (resp.result_int() == 200 || resp.result_int() == 201) {
            ++res_.ok;
            res_.latencies_us.push_back(
                static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0_).count()));
          } else {
            ++res_.errors;
          }
        }
        keep ? post() : connect();
      });
    });
  }

  void failed() {
    if (t0_ >= sh_.measure_from && Clock::now() < sh_.until) ++res_.errors;
    connect();
  }

  net::io_context& ioc_;
  Shared& sh_;
  Result& res_;
  tcp::socket sock_;
  beast::flat_buffer buf_;
  std::string req_, body_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Clock::time_point t0_;
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--host", "127.0.0.1"},
                                            {"--port", "8080"},
                                            {"--path", "/v1/suggestions"},
                                            {"--connections", "64"},
                                            {"--duration", "10"},
                                            {"--warmup", "2"},
                                            {"--body-bytes", "1000"},
                                            {"--csv", "../shared/data/teddy2020c/stream_all_attachments.csv"},
                                            {"--label", "minyid"},
                                            {"--senders", "per-message"},
                                            {"--threads", "1"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!opt.count(argv[i])) {
      std::fprintf(stderr,
                   "unknown option %s\nusage: %s [--host H] [--port P] [--path /x] [--connections N] "
                   "[--duration S] [--warmup S] [--body-bytes B] [--csv FILE] [--label TEXT] [--threads N]\n"
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
  size_t conns = std::stoul(opt["--connections"]);
  size_t nthreads = std::max<size_t>(1, std::min(conns, std::stoul(opt["--threads"])));
  auto warmup = std::chrono::duration<double>(std::stod(opt["--warmup"]));
  auto duration = std::chrono::duration<double>(std::stod(opt["--duration"]));
  Shared sh;
  sh.target = {net::ip::make_address(opt["--host"]), static_cast<uint16_t>(std::stoi(opt["--port"]))};
  sh.head_prefix = "POST " + opt["--path"] + " HTTP/1.1\r\nHost: " + opt["--host"] +
                   "\r\nContent-Type: application/json\r\nContent-Length: ";
  sh.bodies = &bodies;
  sh.unique_senders = opt["--senders"] == "unique";
  auto start = Clock::now();
  sh.measure_from = start + std::chrono::duration_cast<Clock::duration>(warmup);
  sh.until = sh.measure_from + std::chrono::duration_cast<Clock::duration>(duration);
  // Connections are spread over a few threads, each running its own event loop: the
  // generator shares the machine with what it measures, so it must cost little per request.
  std::vector<Result> results(conns);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      net::io_context ioc(1);
      std::vector<std::unique_ptr<Connection>> mine;
      for (size_t c = t; c < conns; c += nthreads) mine.push_back(std::make_unique<Connection>(ioc, sh, results[c]));
      for (auto& c : mine) c->start();
      ioc.run();
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
