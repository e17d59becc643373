// Admin listener implementation (synchronous Beast over a local or TCP socket).
#include "admin/admin_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <optional>

namespace minyi {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using local = net::local::stream_protocol;

struct AdminServer::Impl {
  std::string listen;
  Handler handler;
  net::io_context ioc;
  std::optional<local::acceptor> unix_acceptor;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::string unix_path;
  std::thread thread;
  std::atomic<bool> stopping{false};

  template <class Socket>
  void serve(Socket& sock) {
    // A deadline for the whole exchange, at the socket level (this thread blocks on it).
    timeval tv{5, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    beast::flat_buffer buf;
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    beast::error_code ec;
    http::read(sock, buf, parser, ec);
    HttpResponseData out;
    if (ec) {
      out.status = 400;
      out.body = json_error("bad_request", "malformed or incomplete request: " + ec.message());
    } else {
      auto& req = parser.get();
      try {
        out = handler(std::string(req.method_string()), std::string(req.target()), req.body());
      } catch (const std::exception& e) {
        out.status = 500;
        out.body = json_error("internal", e.what());
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
    res.set(http::field::server, "minyi-admin");
    res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res.set(k, v);
    res.body() = std::move(out.body);
    res.keep_alive(false);
    res.prepare_payload();
    http::write(sock, res, ec);
  }

  template <class Acceptor, class Socket>
  void loop(Acceptor& acceptor) {
    while (!stopping) {
      Socket sock(ioc);
      beast::error_code ec;
      acceptor.accept(sock, ec);
      if (ec) {
        if (stopping) return;
        spdlog::warn("admin: accept failed: {}", ec.message());
        continue;
      }
      serve(sock);
    }
  }
};

AdminServer::AdminServer(std::string listen, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->listen = std::move(listen);
  impl_->handler = std::move(handler);
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  auto& l = impl_->listen;
  beast::error_code ec;
  if (l.rfind("unix:", 0) == 0) {
    impl_->unix_path = l.substr(5);
    std::error_code fec;
    auto parent = std::filesystem::path(impl_->unix_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, fec);
    std::filesystem::remove(impl_->unix_path, fec);  // a socket left by a crash
    auto& acc = impl_->unix_acceptor.emplace(impl_->ioc);
    acc.open(local(), ec);
    if (!ec) acc.bind(local::endpoint(impl_->unix_path), ec);
    if (!ec) ::chmod(impl_->unix_path.c_str(), 0660);
    if (!ec) acc.listen(16, ec);
    if (ec) throw std::runtime_error("cannot listen on admin socket " + impl_->unix_path + ": " + ec.message());
    endpoint_ = "unix:" + impl_->unix_path;
    impl_->thread = std::thread([this] { impl_->loop<local::acceptor, local::socket>(*impl_->unix_acceptor); });
  } else {
    auto colon = l.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("admin listen address '" + l + "' must be unix:PATH or host:port");
    auto addr = net::ip::make_address(l.substr(0, colon), ec);
    if (ec) throw std::runtime_error("admin listen address '" + l + "': not an IP address");
    auto& acc = impl_->tcp_acceptor.emplace(impl_->ioc);
    tcp::endpoint ep(addr, static_cast<uint16_t>(std::stoul(l.substr(colon + 1))));
    acc.open(ep.protocol(), ec);
    if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(16, ec);
    if (ec) throw std::runtime_error("cannot listen on admin address " + l + ": " + ec.message());
    endpoint_ = l.substr(0, colon) + ":" + std::to_string(acc.local_endpoint().port());
    impl_->thread = std::thread([this] { impl_->loop<tcp::acceptor, tcp::socket>(*impl_->tcp_acceptor); });
  }
}

void AdminServer::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  // shutdown() wakes the thread blocked in accept(); close() alone does not on Linux.
  if (impl_->unix_acceptor) ::shutdown(impl_->unix_acceptor->native_handle(), SHUT_RDWR);
  if (impl_->tcp_acceptor) ::shutdown(impl_->tcp_acceptor->native_handle(), SHUT_RDWR);
  if (impl_->thread.joinable()) impl_->thread.join();
  beast::error_code ec;
  if (impl_->unix_acceptor) impl_->unix_acceptor->close(ec);
  if (impl_->tcp_acceptor) impl_->tcp_acceptor->close(ec);
  if (!impl_->unix_path.empty()) {
    std::error_code fec;
    std::filesystem::remove(impl_->unix_path, fec);
  }
}

}  // namespace minyi
