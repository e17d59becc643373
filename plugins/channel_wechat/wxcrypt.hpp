// WeChat / WeCom callback cryptography (the "WXBizMsgCrypt" scheme): SHA-1 signatures over
// sorted parameters and AES-256-CBC with IV = key[0:16] and PKCS#7 padding to 32 bytes.
// See docs/channels/wechat.md and ../shared/testdata/wechat/wechat_vectors.md.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace minyi::wx {

using AesKey = std::array<unsigned char, 32>;

// The 43-character EncodingAESKey + "=" decoded leniently: official keys have non-zero
// trailing bits in their last character, which strict RFC 4648 decoders reject.
std::optional<AesKey> decode_encoding_aes_key(std::string_view key43);

// Lowercase hex SHA-1 of the byte-wise sorted concatenation of parts.
std::string sorted_sha1(std::vector<std::string_view> parts);

struct Decrypted {
  std::string message;     // the XML (or JSON) plaintext
  std::string receive_id;  // appid / corpid / suite id appended by the sender
  std::string random;      // the 16 random prefix bytes
  int pad = 0;
};

struct DecryptError {
  std::string code, message;
};

// Base64 → AES-256-CBC decrypt → strip 1..32 padding → random(16) + len(4, big endian) +
// message + receive_id. On failure returns the error instead.
std::variant<Decrypted, DecryptError> decrypt(const AesKey& key, std::string_view encrypt_b64);

// The inverse: base64(AES(random16 + htonl(len) + message + receive_id, PKCS#7/32)).
std::string encrypt(const AesKey& key, std::string_view random16, std::string_view message,
                    std::string_view receive_id);

// 16 random alphanumeric characters for encrypt().
std::string random16();

}  // namespace minyi::wx

namespace minyi::wx {

// The envelope of an encrypted passive reply, exactly as WeChat's own samples write it:
// <xml>\n<Encrypt>…</Encrypt>\n<MsgSignature>…</MsgSignature>\n<TimeStamp>…</TimeStamp>\n<Nonce>…</Nonce>\n</xml>
std::string encrypted_reply(const AesKey& key, std::string_view token, std::string_view random,
                            std::string_view plaintext, std::string_view receive_id, std::string_view timestamp,
                            std::string_view nonce);

}  // namespace minyi::wx
