// The embedded HTTP/1.1 server for channel routes (Boost.Beast): keep-alive, limits on
// header and body size, read/idle timeouts, connection caps, and a graceful drain.
// A blocking handler runs on a bounded worker pool, never on the io_context threads; a
// non-blocking one (it answers later, through `respond`) runs on the network thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minyi {

struct HttpRequestView {
  std::string_view method, target, path, query, body, remote_addr;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
};

struct HttpResponseData {
  int status = 500;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  size_t max_connections = 1024;
  size_t max_connections_per_client = 256;
  size_t header_limit = 16 * 1024;
  size_t body_limit = 4 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  size_t workers = 64;
  size_t io_threads = 2;
};

// Completes a request; call exactly once, from any thread.
using HttpRespond = std::function<void(HttpResponseData)>;
// A route target. The request view is valid only during the call; `respond` may be called
// during the call or later.
using HttpHandler = std::function<void(const HttpRequestView&, HttpRespond)>;

// {"error": {"code": ..., "message": ..., "field": ...}}
std::string json_error(std::string_view code, std::string_view message, std::string_view field = {});

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions opts);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Exact-path routes; must be added before start(). Returns false if already taken.
  // A blocking handler runs on the worker pool; a non-blocking one on the network thread.
  bool add_route(const std::string& method, const std::string& path, HttpHandler handler, bool blocking = true);
  // Binds and starts serving; throws with the address on failure.
  void start();
  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish (until the deadline), closes the rest.
  void shutdown(std::chrono::milliseconds grace);

  struct Impl;  // public so the connection class in server.cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace minyi
