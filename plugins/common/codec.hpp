// Small encodings and MACs the plugins share: hex, base64, SHA-256, HMAC-SHA256 and a
// constant-time comparison (OpenSSL underneath).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace minyi::plugins {

std::string hex(std::string_view bytes);
// Standard alphabet with '=' padding; nullopt for anything else (whitespace included).
std::optional<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);
// Lowercase hex digests.
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Constant-time equality (the length is not secret).
bool equal_ct(std::string_view a, std::string_view b);

// Incremental SHA-256 for streamed data.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex_digest();

 private:
  void* ctx_;
};

}  // namespace minyi::plugins
