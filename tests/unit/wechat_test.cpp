// WeChat / WeCom callback crypto and message parsing against every vector set and sample in
// ../shared/testdata/wechat (copied from Tencent's samples and other projects' test suites).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "codec.hpp"
#include "wxcrypt.hpp"
#include "wxmessage.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
namespace wx = minyi::wx;

namespace {

fs::path wechat_dir() { return fs::path(MINYI_SHARED_DIR) / "testdata" / "wechat"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json load(const char* name) { return json::parse(slurp(wechat_dir() / name)); }

std::string str(const json& j, const char* k) { return j.contains(k) ? j[k].get<std::string>() : std::string(); }

// Counts what the walk below checked, so a vector file that changes shape cannot make the
// test pass by checking nothing.
struct Tally {
  int signatures = 0, decrypts = 0, encrypts = 0, envelopes = 0, negatives = 0;
};

// The identity and key of a vector set, inherited by its sub-objects.
struct Ctx {
  std::string name, token, receive_id, random;
  std::optional<wx::AesKey> key;
};

void check_decrypted(const Ctx& c, const std::string& enc, const json& want, Tally& t) {
  ASSERT_TRUE(c.key) << c.name;
  auto r = wx::decrypt(*c.key, enc);
  ASSERT_TRUE(std::holds_alternative<wx::Decrypted>(r)) << c.name << ": " << std::get<wx::DecryptError>(r).message;
  auto& d = std::get<wx::Decrypted>(r);
  EXPECT_EQ(d.message, str(want, "msg")) << c.name;
  EXPECT_EQ(d.receive_id, want.contains("receive_id") ? str(want, "receive_id") : c.receive_id) << c.name;
  if (want.contains("random")) {
    EXPECT_EQ(d.random, str(want, "random")) << c.name;
  }
  if (want.contains("pad")) {
    EXPECT_EQ(d.pad, want["pad"].get<int>()) << c.name;
  }
  if (want.contains("msg_len")) {
    EXPECT_EQ(d.message.size(), want["msg_len"].get<size_t>()) << c.name;
  }
  if (want.contains("cipher_len")) {
    EXPECT_EQ(minyi::plugins::base64_decode(enc)->size(), want["cipher_len"].get<size_t>());
  }
  ++t.decrypts;
  // The receive id is the AppID/CorpID check: any other id must not match.
  EXPECT_FALSE(minyi::plugins::equal_ct(d.receive_id, "wx0000000000000000")) << c.name;
  // A flipped byte in the last block breaks the padding or the length (or the id).
  std::string bytes = *minyi::plugins::base64_decode(enc);
  bytes[bytes.size() - 1] ^= 0x5A;
  auto bad = wx::decrypt(*c.key, minyi::plugins::base64_encode(bytes));
  bool refused =
      std::holds_alternative<wx::DecryptError>(bad) || std::get<wx::Decrypted>(bad).receive_id != d.receive_id;
  EXPECT_TRUE(refused) << c.name << ": a tampered ciphertext decrypted to the same receive id";
  ++t.negatives;
}

void walk(const json& j, Ctx c, Tally& t) {
  if (!j.is_object()) return;
  if (j.contains("token")) c.token = str(j, "token");
  if (j.contains("random")) c.random = str(j, "random");
  for (const char* k : {"app_id", "receive_id", "corp_id"})
    if (j.contains(k)) c.receive_id = str(j, k);
  if (j.contains("encoding_aes_key")) {
    c.key = wx::decode_encoding_aes_key(str(j, "encoding_aes_key"));
    ASSERT_TRUE(c.key) << c.name << ": the EncodingAESKey must decode (leniently)";
  }
  std::string ts = str(j, "timestamp"), nonce = str(j, "nonce"), enc = str(j, "encrypt");
  // msg_signature over token, timestamp, nonce and Encrypt (or the WeCom echostr).
  if (j.contains("msg_signature") && !ts.empty()) {
    std::string payload = enc.empty() ? str(j, "echostr") : enc;
    ASSERT_FALSE(payload.empty()) << c.name;
    std::string tok = j.contains("token") ? str(j, "token") : c.token;
    EXPECT_EQ(wx::sorted_sha1({tok, ts, nonce, payload}), str(j, "msg_signature")) << c.name;
    ++t.signatures;
    std::string neg = j.contains("negative_nonce") ? str(j, "negative_nonce") : nonce + "1";
    EXPECT_FALSE(minyi::plugins::equal_ct(wx::sorted_sha1({tok, ts, neg, payload}), str(j, "msg_signature"))) << c.name;
    ++t.negatives;
  }
  // The plain URL signature over token, timestamp, nonce.
  for (const char* k :
       {"signature", "url_signature_param", "computed_plain_signature", "computed_plain_signature_token_ts_nonce"}) {
    if (!j.contains(k) || ts.empty()) continue;
    std::string tok = j.contains("token") ? str(j, "token") : c.token;
    EXPECT_EQ(wx::sorted_sha1({tok, ts, nonce}), str(j, k)) << c.name << " " << k;
    ++t.signatures;
  }
  if (j.contains("decrypted") && (!enc.empty() || j.contains("echostr"))) {
    json want = j["decrypted"];
    check_decrypted(c, enc.empty() ? str(j, "echostr") : enc, want, t);
  }
  if (j.contains("expected_echo_plain")) {
    check_decrypted(c, str(j, "echostr"), {{"msg", str(j, "expected_echo_plain")}}, t);
  }
  // Encryption with a fixed random prefix reproduces the vector byte for byte.
  if (j.contains("plaintext") && !enc.empty() && c.key) {
    const std::string& random = c.random;
    EXPECT_EQ(wx::encrypt(*c.key, random, str(j, "plaintext"), c.receive_id), enc) << c.name;
    ++t.encrypts;
    check_decrypted(c, enc, {{"msg", str(j, "plaintext")}, {"random", random}}, t);
    if (j.contains("expected_xml")) {
      EXPECT_EQ(wx::encrypted_reply(*c.key, c.token, random, str(j, "plaintext"), c.receive_id, ts, nonce),
                str(j, "expected_xml"))
          << c.name;
      ++t.envelopes;
    }
    if (j.contains("msg_signature")) {
      EXPECT_EQ(wx::sorted_sha1({c.token, ts, nonce, enc}), str(j, "msg_signature"));
    }
  }
  // POST bodies: the envelope parses and carries the same Encrypt.
  for (const char* k : {"post_body", "post_body_compat_mode", "post_body_json"}) {
    if (!j.contains(k)) continue;
    auto f = wx::parse_body(str(j, k));
    ASSERT_TRUE(std::holds_alternative<wx::Fields>(f)) << c.name << " " << k;
    auto& fields = std::get<wx::Fields>(f);
    std::string got = fields.count("Encrypt") ? fields["Encrypt"] : fields["encrypt"];
    EXPECT_EQ(got, enc) << c.name << " " << k;
    ++t.envelopes;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "decrypted") continue;
    Ctx sub = c;
    sub.name = c.name + "." + it.key();
    if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i) {
        Ctx item = sub;
        item.name = sub.name + "[" + std::to_string(i) + "]";
        walk((*it)[i], item, t);
      }
    } else if (it->is_object()) {
      walk(*it, sub, t);
    }
  }
}

}  // namespace

TEST(WeChatCrypto, EncodingAesKeysDecodeLenientlyAndOthersAreRefused) {
  // 43 x 'A' is the all-zero key of the official third-party platform example.
  auto zero = wx::decode_encoding_aes_key(std::string(43, 'A'));
  ASSERT_TRUE(zero);
  for (auto b : *zero) EXPECT_EQ(b, 0);
  // Non-canonical trailing bits ("…ABCDEFG": G = 000110 leaves non-zero bits) still decode.
  EXPECT_TRUE(wx::decode_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"));
  EXPECT_FALSE(wx::decode_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"));
  EXPECT_FALSE(wx::decode_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDE!G"));
}

TEST(WeChatCrypto, HelperVectors) {
  EXPECT_EQ(wx::sorted_sha1({"123", "345"}), "9f537aeb751ec72605f57f94a2f6dc3e3958e1dd");
  EXPECT_EQ(wx::sorted_sha1({"c", "a", "b"}), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_FALSE(minyi::plugins::base64_decode("abc"));
  EXPECT_FALSE(minyi::plugins::base64_decode("ab=c"));
  EXPECT_EQ(minyi::plugins::base64_decode("aGk="), "hi");
  EXPECT_EQ(minyi::plugins::base64_encode("hi"), "aGk=");
}

TEST(WeChatCrypto, EveryVectorSet) {
  Tally t;
  for (const char* file : {"wechat_vectors.json", "wechat_vectors_extra.json"}) {
    json all = load(file);
    for (auto it = all.begin(); it != all.end(); ++it)
      walk(*it, Ctx{std::string(file) + ":" + it.key(), "", "", "", std::nullopt}, t);
  }
  walk(load("wecom_json_callback_vector.json"), Ctx{"wecom_json_callback_vector", "", "", "", std::nullopt}, t);
  // What the files held when this test was written; the walk must still reach all of it.
  EXPECT_GE(t.signatures, 15);
  EXPECT_GE(t.decrypts, 16);
  EXPECT_GE(t.encrypts, 5);
  EXPECT_GE(t.envelopes, 6);
  EXPECT_GE(t.negatives, 20);
}

TEST(WeChatCrypto, PaddingUpTo32AndGarbageAreHandled) {
  auto key = *wx::decode_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
  for (size_t n = 0; n < 70; ++n) {
    std::string msg(n, 'x');
    auto r = wx::decrypt(key, wx::encrypt(key, wx::random16(), msg, "wxappid"));
    ASSERT_TRUE(std::holds_alternative<wx::Decrypted>(r)) << n;
    EXPECT_EQ(std::get<wx::Decrypted>(r).message, msg);
    EXPECT_GE(std::get<wx::Decrypted>(r).pad, 1);
    EXPECT_LE(std::get<wx::Decrypted>(r).pad, 32);
  }
  for (const std::string& bad : std::vector<std::string>{"", "not base64!", "AAAA", std::string(44, 'A')})
    EXPECT_TRUE(std::holds_alternative<wx::DecryptError>(wx::decrypt(key, bad))) << bad;
  // Encrypted with another key: refused (padding / length), never a crash.
  auto other = *wx::decode_encoding_aes_key(std::string(43, 'B'));
  int refused = 0;
  for (int i = 0; i < 20; ++i)
    refused += std::holds_alternative<wx::DecryptError>(
        wx::decrypt(key, wx::encrypt(other, wx::random16(), "<xml>hello</xml>", "wxappid")));
  EXPECT_GE(refused, 18);
}

TEST(WeChatCrypto, WeComJsonSamplePlaintextIsMalformedJson) {
  // The official sample's plaintext has `"FromUserName": :mycreate"`: a clear error, not a crash.
  json v = load("wecom_json_callback_vector.json");
  auto key = *wx::decode_encoding_aes_key(str(v, "encoding_aes_key"));
  auto d = std::get<wx::Decrypted>(wx::decrypt(key, str(v, "encrypt")));
  auto parsed = wx::parse_body(d.message);
  ASSERT_TRUE(std::holds_alternative<wx::ParseError>(parsed));
  EXPECT_EQ(std::get<wx::ParseError>(parsed).code, "malformed_json");
}

TEST(WeChatMessages, AllSamplesParse) {
  json index = load("samples/INDEX.json");
  ASSERT_EQ(index.size(), 24u);
  std::map<std::string, int> types;
  for (const auto& entry : index) {
    std::string file = entry["file"];
    auto f = wx::parse_xml(slurp(wechat_dir() / "samples" / file));
    ASSERT_TRUE(std::holds_alternative<wx::Fields>(f)) << file << ": " << std::get<wx::ParseError>(f).message;
    auto m = wx::to_message(std::get<wx::Fields>(f));
    ASSERT_TRUE(std::holds_alternative<wx::Message>(m)) << file << ": " << std::get<wx::ParseError>(m).message;
    auto& msg = std::get<wx::Message>(m);
    EXPECT_FALSE(msg.from_user.empty()) << file;
    EXPECT_GT(msg.create_time, 0) << file;
    std::string lower_file = file;
    for (auto& ch : lower_file) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (msg.is_event()) {
      std::string ev = msg.event;
      for (auto& ch : ev) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      EXPECT_NE(lower_file.find(ev), std::string::npos) << file << " has event " << msg.event;
      EXPECT_EQ(msg.source_key(), "ev:" + msg.from_user + ":" + std::to_string(msg.create_time) + ":" + msg.event);
    } else {
      std::string type = msg.msg_type == "shortvideo" ? "shortvideo" : msg.msg_type;
      EXPECT_NE(lower_file.find(type), std::string::npos) << file << " has type " << msg.msg_type;
      EXPECT_FALSE(msg.msg_id.empty()) << file;
      EXPECT_EQ(msg.source_key(), "msg:" + msg.msg_id);
    }
    ++types[msg.is_event() ? "event:" + msg.event : msg.msg_type];
    if (msg.msg_type == "location" || msg.event == "LOCATION") {
      EXPECT_TRUE(msg.lat && msg.lon) << file;
    }
    if (msg.msg_type == "voice" && file.find("chanxuehong") == 0) {
      EXPECT_EQ(msg.recognition, "傻逼！");
    }
  }
  for (const char* t : {"text", "image", "voice", "video", "shortvideo", "location", "link", "event:subscribe",
                        "event:unsubscribe", "event:SCAN", "event:LOCATION", "event:CLICK", "event:VIEW"})
    EXPECT_GT(types[t], 0) << "no sample of " << t;
}

TEST(WeChatMessages, MsgIdsBeyond2To53StayExact) {
  auto f = std::get<wx::Fields>(
      wx::parse_xml("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
                    "<MsgType>text</MsgType><Content>x</Content><MsgId>18446744073709551615</MsgId></xml>"));
  EXPECT_EQ(std::get<wx::Message>(wx::to_message(f)).msg_id, "18446744073709551615");
  auto j = std::get<wx::Fields>(wx::parse_json(
      R"({"ToUserName":"a","FromUserName":"b","CreateTime":1,"MsgType":"text","MsgId":6054768590064713729})"));
  EXPECT_EQ(j["MsgId"], "6054768590064713729");
}

TEST(WeChatMessages, HostileAndBrokenXmlIsRefused) {
  auto code = [](std::string_view body) {
    auto r = wx::parse_body(body);
    if (auto* e = std::get_if<wx::ParseError>(&r)) return e->code;
    auto m = wx::to_message(std::get<wx::Fields>(r));
    if (auto* e = std::get_if<wx::ParseError>(&m)) return e->code;
    return std::string("ok");
  };
  EXPECT_EQ(code("<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><ToUserName>a</ToUserName>"
                 "<FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
                 "<Content>&xxe;</Content></xml>"),
            "doctype_refused");
  EXPECT_EQ(code("<!DOCTYPE xml><xml/>"), "doctype_refused");
  EXPECT_EQ(code("<xml><ToUserName>a</ToUserName"), "malformed_xml");
  EXPECT_EQ(code(""), "malformed_xml");
  EXPECT_EQ(code("<html></html>"), "not_wechat");
  EXPECT_EQ(code("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType></xml>"),
            "missing_field");
  EXPECT_EQ(code("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime>"
                 "<MsgType>text</MsgType></xml>"),
            "bad_field");
  EXPECT_EQ(code("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
                 "<MsgType>location</MsgType><Location_X>north</Location_X></xml>"),
            "bad_field");
  // Text that merely mentions a DOCTYPE inside CDATA is a citizen's words, not markup.
  EXPECT_EQ(code("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
                 "<MsgType>text</MsgType><Content><![CDATA[<!DOCTYPE x> & <!ENTITY>]]></Content></xml>"),
            "ok");
  EXPECT_EQ(wx::cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
}
