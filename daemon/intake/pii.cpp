// PII masking, canonicalization and keyed hashing.
#include "intake/pii.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/crypto.hpp"

namespace minyi {

std::string load_or_create_pii_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno != ENOENT) throw std::runtime_error("cannot read PII key file '" + path + "': " + std::strerror(errno));
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      throw std::runtime_error("cannot create PII key file '" + path + "': " + std::strerror(errno) +
                               " (set minyi.pii.key_file to a writable path, or create the key yourself)");
    std::string key = to_hex(random_bytes(32)) + "\n";
    bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot write PII key file '" + path + "': " + std::strerror(errno));
    in.open(path, std::ios::binary);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.size() < 16)
    throw std::runtime_error("PII key file '" + path + "' holds fewer than 16 bytes; use at least 32 random bytes");
  return key;
}

std::string canonical_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone)
    if (c >= '0' && c <= '9') digits.push_back(c);
  if (digits.size() == 15 && digits.rfind("0086", 0) == 0)
    digits.erase(0, 4);
  else if (digits.size() == 13 && digits.rfind("86", 0) == 0)
    digits.erase(0, 2);
  return digits;
}

std::string mask_phone(std::string_view phone) {
  std::string d = canonical_phone(phone);
  if (d.size() >= 7) return d.substr(0, 3) + std::string(d.size() - 7, '*') + d.substr(d.size() - 4);
  if (d.size() > 2) return std::string(d.size() - 2, '*') + d.substr(d.size() - 2);
  return std::string(d.size(), '*');
}

std::string PiiHasher::tagged(std::string_view kind, std::string_view canonical) const {
  // The kind is part of the message so equal strings of different kinds never collide.
  std::string msg(kind);
  msg += ':';
  msg += canonical;
  return "hmac-sha256:" + hmac_sha256_hex(key_, msg);
}

std::string PiiHasher::phone_hash(std::string_view phone) const { return tagged("phone", canonical_phone(phone)); }

std::string PiiHasher::id_hash(std::string_view id_number) const {
  std::string c;
  for (char ch : id_number)
    if (ch != ' ' && ch != '-') c.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  return tagged("id", c);
}

std::string PiiHasher::email_hash(std::string_view email) const {
  std::string c;
  for (char ch : email)
    if (ch != ' ') c.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  return tagged("email", c);
}

std::string PiiHasher::openid_hash(std::string_view openid) const { return tagged("openid", openid); }

}  // namespace minyi
