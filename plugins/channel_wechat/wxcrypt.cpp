#include "wxcrypt.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "codec.hpp"

namespace minyi::wx {
namespace {

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

std::optional<AesKey> decode_encoding_aes_key(std::string_view key43) {
  if (key43.size() != 43) return std::nullopt;
  // 43 chars = 258 bits; the first 256 are the key and the last two bits are ignored.
  AesKey key{};
  uint32_t acc = 0;
  int bits = 0;
  size_t out = 0;
  for (char c : key43) {
    static const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    auto pos = alphabet.find(c);
    int v = pos == std::string_view::npos ? -1 : static_cast<int>(pos);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out < key.size()) key[out++] = static_cast<unsigned char>((acc >> bits) & 0xFF);
    }
  }
  if (out != key.size()) return std::nullopt;
  return key;
}

std::string sorted_sha1(std::vector<std::string_view> parts) {
  std::sort(parts.begin(), parts.end());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr);
  for (auto p : parts) EVP_DigestUpdate(ctx.get(), p.data(), p.size());
  EVP_DigestFinal_ex(ctx.get(), md, &md_len);
  return plugins::hex(std::string_view(reinterpret_cast<char*>(md), md_len));
}

std::variant<Decrypted, DecryptError> decrypt(const AesKey& key, std::string_view encrypt_b64) {
  auto cipher = plugins::base64_decode(encrypt_b64);
  if (!cipher) return DecryptError{"bad_base64", "Encrypt is not valid base64"};
  if (cipher->empty() || cipher->size() % 32 != 0)
    return DecryptError{"bad_length", "the ciphertext is not a whole number of 32-byte blocks"};
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string plain(cipher->size() + 32, '\0');
  int n1 = 0, n2 = 0;
  // WeChat pads to 32 bytes, which OpenSSL's own PKCS#7 check (16-byte blocks) rejects:
  // decrypt without padding and strip it below.
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), key.data()) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n1,
                        reinterpret_cast<const unsigned char*>(cipher->data()),
                        static_cast<int>(cipher->size())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n1, &n2) != 1)
    return DecryptError{"decrypt_failed", "AES decryption failed"};
  plain.resize(static_cast<size_t>(n1 + n2));
  int pad = static_cast<unsigned char>(plain.back());
  if (pad < 1 || pad > 32 || static_cast<size_t>(pad) > plain.size())
    return DecryptError{"bad_padding", "the padding is invalid (wrong EncodingAESKey?)"};
  for (size_t i = plain.size() - pad; i < plain.size(); ++i)
    if (static_cast<unsigned char>(plain[i]) != pad)
      return DecryptError{"bad_padding", "the padding is invalid (wrong EncodingAESKey?)"};
  plain.resize(plain.size() - pad);
  if (plain.size() < 20) return DecryptError{"too_short", "the plaintext is too short"};
  uint32_t len = (uint32_t(uint8_t(plain[16])) << 24) | (uint32_t(uint8_t(plain[17])) << 16) |
                 (uint32_t(uint8_t(plain[18])) << 8) | uint32_t(uint8_t(plain[19]));
  if (len > plain.size() - 20)
    return DecryptError{"bad_length", "the message length field exceeds the plaintext (wrong EncodingAESKey?)"};
  Decrypted d;
  d.random = plain.substr(0, 16);
  d.message = plain.substr(20, len);
  d.receive_id = plain.substr(20 + len);
  d.pad = pad;
  return d;
}

std::string encrypt(const AesKey& key, std::string_view random, std::string_view message, std::string_view receive_id) {
  std::string plain;
  plain.reserve(16 + 4 + message.size() + receive_id.size() + 32);
  plain.append(random.substr(0, 16));
  plain.append(16 - std::min<size_t>(16, random.size()), '0');
  uint32_t len = static_cast<uint32_t>(message.size());
  plain += static_cast<char>((len >> 24) & 0xFF);
  plain += static_cast<char>((len >> 16) & 0xFF);
  plain += static_cast<char>((len >> 8) & 0xFF);
  plain += static_cast<char>(len & 0xFF);
  plain.append(message);
  plain.append(receive_id);
  size_t pad = 32 - plain.size() % 32;
  plain.append(pad, static_cast<char>(pad));
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string cipher(plain.size() + 32, '\0');
  int n1 = 0, n2 = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), key.data()) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &n1,
                        reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()) + n1, &n2) != 1)
    return {};
  cipher.resize(static_cast<size_t>(n1 + n2));
  return plugins::base64_encode(cipher);
}

std::string random16() {
  static const char* alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  unsigned char buf[16];
  RAND_bytes(buf, sizeof buf);
  std::string out;
  for (unsigned char b : buf) out += alnum[b % 62];
  return out;
}

}  // namespace minyi::wx

namespace minyi::wx {

std::string encrypted_reply(const AesKey& key, std::string_view token, std::string_view random,
                            std::string_view plaintext, std::string_view receive_id, std::string_view timestamp,
                            std::string_view nonce) {
  std::string enc = encrypt(key, random, plaintext, receive_id);
  std::string sig = sorted_sha1({token, timestamp, nonce, enc});
  std::string out = "<xml>\n<Encrypt><![CDATA[" + enc + "]]></Encrypt>\n<MsgSignature><![CDATA[" + sig +
                    "]]></MsgSignature>\n<TimeStamp>";
  out.append(timestamp);
  out += "</TimeStamp>\n<Nonce><![CDATA[";
  out.append(nonce);
  out += "]]></Nonce>\n</xml>";
  return out;
}

}  // namespace minyi::wx
