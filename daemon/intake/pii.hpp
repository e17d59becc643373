// Personal data handling at intake: masking and keyed hashing of phone, ID, e-mail and
// WeChat openid, so raw numbers never reach the normalized suggestion or the logs.
#pragma once

#include <string>
#include <string_view>

namespace minyi {

// Reads the HMAC key file, creating it (mode 0600, 32 random bytes as hex) when absent.
// Throws with the path and what to do when it cannot.
std::string load_or_create_pii_key(const std::string& path);

class PiiHasher {
 public:
  explicit PiiHasher(std::string key) : key_(std::move(key)) {}
  // "hmac-sha256:<hex>" over a canonical form of the value.
  std::string phone_hash(std::string_view phone) const;
  std::string id_hash(std::string_view id_number) const;
  std::string email_hash(std::string_view email) const;
  std::string openid_hash(std::string_view openid) const;

 private:
  std::string tagged(std::string_view kind, std::string_view canonical) const;
  std::string key_;
};

// Digits of a phone number without a +86/0086 country prefix: "+86 138-0013-8000" → "13800138000".
std::string canonical_phone(std::string_view phone);
// "13800138000" → "138****8000"; shorter numbers keep fewer visible digits.
std::string mask_phone(std::string_view phone);

}  // namespace minyi
