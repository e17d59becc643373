// Thin wrappers over OpenSSL's digest and RNG functions, and HMAC-SHA256 on top of them.
#include "core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <initializer_list>
#include <stdexcept>

namespace minyi {

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = digits[c >> 4];
    out[2 * i + 1] = digits[c & 15];
  }
  return out;
}

namespace {

// Fetched once: the one-shot SHA256() and HMAC() look the algorithm up in OpenSSL 3's
// provider tables on every call, which cost more than hashing a suggestion's bytes.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!md) throw std::runtime_error("SHA-256 unavailable");
  return md;
}

struct ThreadDigest {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadDigest() { EVP_MD_CTX_free(ctx); }
};

void sha256_of(std::initializer_list<std::string_view> parts, unsigned char (&out)[SHA256_DIGEST_LENGTH]) {
  thread_local ThreadDigest d;
  if (!d.ctx || EVP_DigestInit_ex2(d.ctx, sha256_md(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
  for (std::string_view p : parts) EVP_DigestUpdate(d.ctx, p.data(), p.size());
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(d.ctx, out, &len) != 1 || len != SHA256_DIGEST_LENGTH)
    throw std::runtime_error("SHA-256 failed");
}

std::string_view view(const unsigned char* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  sha256_of({data}, md);
  return to_hex(view(md, sizeof md));
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 unavailable");
}
Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256Stream::update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}
std::string Sha256Stream::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  return to_hex({reinterpret_cast<const char*>(md), len});
}

// HMAC (RFC 2104) over the fetched SHA-256: H((K ^ opad) || H((K ^ ipad) || data)).
std::string hmac_sha256(std::string_view key, std::string_view data) {
  constexpr size_t kBlock = 64;
  unsigned char k[kBlock] = {0}, ipad[kBlock], opad[kBlock], inner[SHA256_DIGEST_LENGTH], md[SHA256_DIGEST_LENGTH];
  if (key.size() > kBlock) {
    unsigned char hashed[SHA256_DIGEST_LENGTH];
    sha256_of({key}, hashed);
    std::memcpy(k, hashed, sizeof hashed);
    OPENSSL_cleanse(hashed, sizeof hashed);
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  sha256_of({view(ipad, kBlock), data}, inner);
  sha256_of({view(opad, kBlock), view(inner, sizeof inner)}, md);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) { return to_hex(hmac_sha256(key, data)); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string clean;
  clean.reserve(in.size());
  for (char c : in)
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean.push_back(c);
  if (clean.size() % 4 != 0) return std::nullopt;
  for (size_t i = 0; i < clean.size(); ++i) {
    char c = clean[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              (c == '=' && i + 2 >= clean.size());
    if (!ok) return std::nullopt;
  }
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return out;
}

}  // namespace minyi
