// The admin listener: health, metrics and the /v1/admin API on a Unix socket (default) or
// TCP. Traffic is light, so one thread serves one request per connection, each under a
// deadline; a slow client cannot hold it for long.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "http/server.hpp"

namespace minyi {

class AdminServer {
 public:
  using Handler =
      std::function<HttpResponseData(const std::string& method, const std::string& target, const std::string& body)>;
  // listen: "unix:PATH" or "HOST:PORT".
  AdminServer(std::string listen, Handler handler);
  ~AdminServer();
  void start();  // binds (throws with the address on failure) and starts the thread
  void stop();
  std::string endpoint() const { return endpoint_; }  // what it is bound to, port resolved

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string endpoint_;
};

}  // namespace minyi
