// Hashes, HMAC, constant-time comparison and base64 (OpenSSL underneath).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace minyi {

std::string to_hex(std::string_view bytes);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Compares in time independent of where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// Strict standard base64 (whitespace ignored); nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view in);
std::string random_bytes(size_t n);

// SHA-256 over data arriving in pieces (files read in blocks).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(std::string_view data);
  std::string hex_digest();  // once

 private:
  void* ctx_;
};

}  // namespace minyi
