// Beast HTTP server. Shape follows Beast's advanced server: do_x starts an operation,
// on_x completes it; every operation has a deadline.
// One io_context per network thread, each connection on one of them (round robin at
// accept): a connection's handlers never run concurrently, so it needs no strand, and a
// thread waiting for work waits in its own epoll rather than on a lock shared with the
// other network threads. The executor type is concrete, not type-erased.
#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/json_writer.hpp"
#include "core/log.hpp"

namespace minyi {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Executor = net::io_context::executor_type;
using Stream = beast::basic_stream<tcp, Executor>;
using Timer =
    net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, Executor>;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;

std::string json_error(std::string_view code, std::string_view message, std::string_view field) {
  std::string out;
  JsonWriter w(out, 64 + message.size());
  w.begin_object();
  w.key("error");
  w.begin_object();
  w.field("code", code);
  w.field("message", message);
  if (!field.empty()) w.field("field", field);
  w.end_object();
  w.end_object();
  return out;
}

class Session;

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o) : opts(std::move(o)), workers(opts.workers) {
    for (size_t i = 0; i < std::max<size_t>(1, opts.io_threads); ++i) {
      iocs.push_back(std::make_unique<net::io_context>(1));
      idle_guards.push_back(net::make_work_guard(*iocs.back()));  // run() waits for connections
    }
  }
  ~Impl() {
    stop_threads();
    workers.join();
  }
  void stop_threads() {
    for (auto& c : iocs) c->stop();
    for (auto& t : io_threads)
      if (t.joinable()) t.join();
    io_threads.clear();
  }

  void do_accept();
  void on_accept(beast::error_code ec, Socket socket);
  void request_done() {
    if (--in_flight == 0) {
      std::lock_guard lock(drain_mu);
      drain_cv.notify_all();
    }
  }

  HttpServerOptions opts;
  struct Route {
    HttpHandler handler;
    bool blocking = true;
  };
  // Written before start(), read-only afterwards.
  std::map<std::string, std::map<std::string, Route>> routes;
  // Connection accounting (any thread).
  std::atomic<size_t> connections{0};
  std::mutex clients_mu;
  std::map<std::string, size_t> per_client;  // guarded by clients_mu
  std::atomic<size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex drain_mu;
  std::condition_variable drain_cv;
  // Declared after the accounting above so sessions destroyed with the io_contexts can
  // still update it.
  net::thread_pool workers;
  std::vector<std::unique_ptr<net::io_context>> iocs;  // one per network thread
  std::vector<net::executor_work_guard<Executor>> idle_guards;
  size_t next_ioc = 0;  // the io_context for the next connection; the acceptor's thread only
  std::optional<Acceptor> acceptor;
  std::vector<std::thread> io_threads;
  uint16_t bound_port = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& srv, Socket socket, std::string client, int reject_status)
      : srv_(srv),
        stream_(std::move(socket)),
        deadline_(stream_.get_executor()),
        client_(std::move(client)),
        reject_status_(reject_status) {}

  ~Session() {
    --srv_.connections;
    std::lock_guard lock(srv_.clients_mu);
    if (auto it = srv_.per_client.find(client_); it != srv_.per_client.end() && --it->second == 0)
      srv_.per_client.erase(it);
  }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_wait(); });
  }

 private:
  // Waits for the first bytes of the next request under the idle timeout.
  void do_wait() {
    if (srv_.stopping) return close();
    if (buffer_.size() > 0) return do_read_header();
    stream_.expires_after(srv_.opts.idle_timeout);
    stream_.async_read_some(buffer_.prepare(8192),
                            [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_wait(ec, n); });
  }
  void on_wait(beast::error_code ec, size_t n) {
    if (ec) return close();  // idle timeout or the client went away: nothing to answer
    buffer_.commit(n);
    do_read_header();
  }

  void do_read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_.opts.header_limit));
    parser_->body_limit(srv_.opts.body_limit);
    timed_out_ = false;
    deadline_armed_ = false;
    // A request usually arrives whole in the first read: parse it from the buffer here,
    // without arming the deadline or another trip through the executor. Only a request
    // still incomplete goes on asynchronously, under the read deadline.
    beast::error_code ec;
    buffer_.consume(parser_->put(buffer_.data(), ec));
    if (ec != http::error::need_more) return on_header(ec);
    // The read deadline counts from the request's first byte and covers header and body.
    arm_read_deadline();
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }
  // Unlike tcp_stream's own expiry (which closes the socket), this only cancels the read,
  // so the client can still be told 408.
  void arm_read_deadline() {
    stream_.expires_never();
    deadline_armed_ = true;
    deadline_.expires_after(srv_.opts.read_timeout);
    deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }
  void cancel_read_deadline() {
    if (!deadline_armed_) return;
    deadline_armed_ = false;
    deadline_.cancel();
  }
  void on_header(beast::error_code ec) {
    if (timed_out_) return fail(408, "request_timeout", "the request header was not received within the read timeout");
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
        ec == net::error::connection_reset)
      return close();  // the client went away; nobody to answer
    if (ec == http::error::header_limit)
      return fail(431, "header_too_large",
                  "the request header is larger than " + std::to_string(srv_.opts.header_limit) + " bytes");
    if (ec == http::error::body_limit)  // Content-Length already says it is too big
      return fail(413, "body_too_large",
                  "the request body is larger than " + std::to_string(srv_.opts.body_limit) + " bytes");
    if (ec) return fail(400, "bad_request", "malformed HTTP request: " + ec.message());
    auto& req = parser_->get();
    if (reject_status_ == 503)
      return fail(503, "too_many_connections", "the server has too many open connections; retry later", "1");
    if (reject_status_ == 429)
      return fail(429, "too_many_connections", "this client has too many open connections; retry later", "1");
    if (srv_.stopping) return fail(503, "shutting_down", "the server is shutting down; retry later", "5");
    bool wants_body =
        req.method() == http::verb::post || req.method() == http::verb::put || req.method() == http::verb::patch;
    if (wants_body && !req.has_content_length() && !req.chunked())
      return fail(411, "length_required", "a request body needs a Content-Length header");
    if (auto len = parser_->content_length(); len && *len > srv_.opts.body_limit)
      return fail(413, "body_too_large",
                  "the request body is " + std::to_string(*len) + " bytes; the limit is " +
                      std::to_string(srv_.opts.body_limit));
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      continue_.emplace(http::status::continue_, req.version());
      return http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->do_read_body();
      });
    }
    do_read_body();
  }

  void do_read_body() {
    beast::error_code ec;
    while (!parser_->is_done() && buffer_.size() > 0) {
      size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (ec || n == 0) break;
    }
    if (parser_->is_done() || (ec && ec != http::error::need_more)) return on_body(ec);
    if (!deadline_armed_) arm_read_deadline();
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }
  void on_body(beast::error_code ec) {
    cancel_read_deadline();
    if (timed_out_) return fail(408, "request_timeout", "the request body was not received within the read timeout");
    if (ec == http::error::body_limit)
      return fail(413, "body_too_large",
                  "the request body is larger than " + std::to_string(srv_.opts.body_limit) + " bytes");
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
        ec == net::error::connection_reset)
      return close();
    if (ec) return fail(400, "bad_request", "malformed HTTP request body: " + ec.message());
    route();
  }

  void route() {
    auto& req = parser_->get();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    auto it = srv_.routes.find(std::string(path));
    if (it == srv_.routes.end()) return reply_error(404, "not_found", "no channel serves " + std::string(path), false);
    auto m = it->second.find(std::string(req.method_string()));
    if (m == it->second.end()) {
      std::string allow;
      for (const auto& [meth, r] : it->second) allow += (allow.empty() ? "" : ", ") + meth;
      HttpResponseData out;
      out.status = 405;
      out.body =
          json_error("method_not_allowed", std::string(req.method_string()) + " is not allowed here; use " + allow);
      out.headers.emplace_back("Allow", allow);
      return do_write(std::move(out), false);
    }
    ++srv_.in_flight;
    counted_ = true;
    const HttpServer::Impl::Route* route_target = &m->second;
    if (route_target->blocking) {
      net::post(srv_.workers, [self = shared_from_this(), route_target] { self->invoke(*route_target); });
    } else {
      invoke(*route_target);
    }
  }

  // Runs the handler with a view of the request; the view's memory belongs to parser_,
  // which lives as long as this session (kept alive by the respond callback).
  void invoke(const HttpServer::Impl::Route& target) {
    auto& rq = parser_->get();
    HttpRequestView v;
    v.method = rq.method_string();
    v.target = rq.target();
    v.path = v.target.substr(0, v.target.find('?'));
    if (auto q = v.target.find('?'); q != std::string_view::npos) v.query = v.target.substr(q + 1);
    v.body = rq.body();
    v.remote_addr = client_;
    for (const auto& f : rq) v.headers.emplace_back(f.name_string(), f.value());
    auto respond = [self = shared_from_this()](HttpResponseData out) {
      net::post(self->stream_.get_executor(),
                [self, out = std::move(out)]() mutable { self->do_write(std::move(out), false); });
    };
    try {
      target.handler(v, respond);
    } catch (const std::exception& e) {
      spdlog::error("http handler for {} failed: {}", std::string(v.path), e.what());
      HttpResponseData out;
      out.status = 500;
      out.body = json_error("internal", "the request could not be processed; see the daemon log");
      respond(std::move(out));
    }
  }

  void reply_error(int status, std::string_view code, const std::string& message, bool close_after,
                   std::string_view retry_after = {}) {
    HttpResponseData out;
    out.status = status;
    out.body = json_error(code, message);
    if (!retry_after.empty()) out.headers.emplace_back("Retry-After", std::string(retry_after));
    do_write(std::move(out), close_after);
  }
  // An error before the request was fully read: answer and close (the rest is unread).
  void fail(int status, std::string_view code, const std::string& message, std::string_view retry_after = {}) {
    reply_error(status, code, message, true, retry_after);
  }

  void do_write(HttpResponseData out, bool close_after) {
    cancel_read_deadline();
    unsigned version = 11;
    bool keep_alive = false;
    if (parser_ && parser_->is_header_done()) {
      version = parser_->get().version();
      keep_alive = parser_->get().keep_alive();
    }
    res_.emplace(static_cast<http::status>(out.status), version);
    res_->set(http::field::server, "minyi");
    res_->set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res_->set(k, v);
    res_->body() = std::move(out.body);
    res_->keep_alive(keep_alive && !close_after && !srv_.stopping);
    res_->prepare_payload();
    stream_.expires_after(srv_.opts.read_timeout);
    http::async_write(stream_, *res_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }
  void on_write(beast::error_code ec) {
    if (counted_) {
      counted_ = false;
      srv_.request_done();
    }
    if (ec || !res_->keep_alive()) return close();
    res_.reset();
    parser_.reset();
    do_wait();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  HttpServer::Impl& srv_;
  Stream stream_;
  Timer deadline_;
  bool timed_out_ = false;
  bool deadline_armed_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::empty_body>> continue_;
  std::string client_;
  int reject_status_;
  bool counted_ = false;
};

void HttpServer::Impl::do_accept() {
  auto& target = *iocs[next_ioc++ % iocs.size()];
  acceptor->async_accept(target, [this](beast::error_code ec, Socket s) { on_accept(ec, std::move(s)); });
}

void HttpServer::Impl::on_accept(beast::error_code ec, Socket socket) {
  if (ec == net::error::operation_aborted || stopping) return;
  if (!ec) {
    beast::error_code ep_ec;
    auto ep = socket.remote_endpoint(ep_ec);
    std::string client = ep_ec ? "unknown" : ep.address().to_string();
    size_t total = ++connections;
    size_t mine;
    {
      std::lock_guard lock(clients_mu);
      mine = ++per_client[client];
    }
    int reject = total > opts.max_connections ? 503 : mine > opts.max_connections_per_client ? 429 : 0;
    std::make_shared<Session>(*this, std::move(socket), std::move(client), reject)->run();
  } else {
    spdlog::warn("http: accept failed: {}", ec.message());
  }
  do_accept();
}

HttpServer::HttpServer(HttpServerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
HttpServer::~HttpServer() = default;

bool HttpServer::add_route(const std::string& method, const std::string& path, HttpHandler handler, bool blocking) {
  auto& methods = impl_->routes[path];
  return methods.emplace(method, Impl::Route{std::move(handler), blocking}).second;
}

void HttpServer::start() {
  auto& l = impl_->opts.listen;
  auto colon = l.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen address '" + l + "' must be host:port");
  std::string host = l.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port;
  try {
    port = std::stoul(l.substr(colon + 1));
    if (port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::runtime_error("listen address '" + l + "' has no valid port");
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) throw std::runtime_error("listen address '" + l + "': '" + host + "' is not an IP address");
  tcp::endpoint ep(addr, static_cast<uint16_t>(port));
  auto& acc = impl_->acceptor.emplace(impl_->iocs[0]->get_executor());
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + l + ": " + ec.message());
  impl_->bound_port = acc.local_endpoint().port();
  impl_->do_accept();
  for (auto& c : impl_->iocs)
    impl_->io_threads.emplace_back([ioc = c.get()] {
      name_this_thread("http");
      ioc->run();
    });
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  impl_->stopping = true;
  net::post(*impl_->iocs[0], [this] {
    beast::error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
  });
  {
    std::unique_lock lock(impl_->drain_mu);
    impl_->drain_cv.wait_for(lock, grace, [this] { return impl_->in_flight.load() == 0; });
  }
  if (impl_->in_flight.load() != 0)
    spdlog::warn("http: {} request(s) still in flight after the shutdown grace period", impl_->in_flight.load());
  impl_->stop_threads();
  impl_->workers.join();
}

}  // namespace minyi
