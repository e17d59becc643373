// Ids, timestamps, hashing and text normalization.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "core/localtime.hpp"
#include "core/text.hpp"
#include "core/timefmt.hpp"

namespace minyi {

TEST(UuidV7, HasVersionVariantAndIncreases) {
  std::regex shape("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::string prev;
  std::set<std::string> seen;
  const int64_t now = wall_clock_ms();
  for (int i = 0; i < 10000; ++i) {
    std::string id = new_uuid_v7(now);  // same millisecond: the counter must order them
    ASSERT_TRUE(std::regex_match(id, shape)) << id;
    ASSERT_LT(prev, id);
    prev = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
  // The first 48 bits are the Unix time in milliseconds (never behind the last id issued).
  std::string later = new_uuid_v7(now + 5000);
  std::string hex = later.substr(0, 8) + later.substr(9, 4);
  EXPECT_EQ(std::stoll(hex, nullptr, 16), now + 5000);
}

TEST(Rfc3339, ParsesOffsetsAndRejectsGarbage) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T08:00:00+08:00"), 0);
  EXPECT_EQ(parse_rfc3339("2020-02-29T12:00:00.250-01:30"), parse_rfc3339("2020-02-29T13:30:00.250Z"));
  EXPECT_FALSE(parse_rfc3339("2019-02-29T00:00:00Z"));  // not a leap year
  EXPECT_FALSE(parse_rfc3339("2020-01-01 00:00:00"));   // no offset
  EXPECT_FALSE(parse_rfc3339("2020-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2020-01-01T00:00:00+0800"));
  EXPECT_FALSE(parse_rfc3339("yesterday"));
}

TEST(Rfc3339, FormatsWithOffsetAndRoundTrips) {
  int64_t ms = 1'795'000'123'456;
  std::string s = format_rfc3339_local(ms);
  EXPECT_TRUE(std::regex_match(s, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$)"))) << s;
  EXPECT_EQ(parse_rfc3339(s), ms);
}

TEST(Crypto, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 4231 test cases 1 (20-byte key), 6 (a 131-byte key, longer than a block: hashed
  // first) and 7 (the same key, a message longer than a block).
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'),
                            "This is a test using a larger than block-size key and a larger than block-size data. "
                            "The key needs to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // A key of exactly one block is used as it is; an empty key and message (values from
  // Python's hmac module).
  EXPECT_EQ(hmac_sha256_hex(std::string(64, 'k'), "m"),
            "3b7a8d453e76edb519238a515105a57508d0f169f480ebeee120a9e7803289fa");
  EXPECT_EQ(hmac_sha256_hex("", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(base64_decode("5rCR5oSP"), "民意");
  EXPECT_FALSE(base64_decode("not base64!"));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
}

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("民意 ok"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE6\xB0"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xB6\xF8"));          // GBK bytes
}

TEST(Text, NfcAndTrim) {
  EXPECT_EQ(nfc_trim("  \u3000噪音\n"), "噪音");
  EXPECT_EQ(nfc_trim("e\u0301"), "\u00e9");  // composed
  EXPECT_EQ(nfc_trim(""), "");
  // Already NFC (cut on the UTF-8 itself) and not (through ICU): the same rules.
  EXPECT_EQ(nfc_trim("\u00a0\u2003 幸福小区 噪音\t\u3000\u2028"), "幸福小区 噪音");
  EXPECT_EQ(nfc_trim("\u00a0 e\u0301 噪音\u3000"), "\u00e9 噪音");
  EXPECT_EQ(nfc_trim(" \u3000 \n"), "");
  EXPECT_EQ(nfc_trim("\uFA10"), "\u585A");  // a compatibility ideograph has a canonical decomposition
  EXPECT_EQ(nfc_trim("x"), "x");
  // Bytes that are not UTF-8 take ICU's way: replacement characters, as before.
  EXPECT_EQ(nfc_trim(" a\xFF "), "a\uFFFD");
}

}  // namespace minyi

#include <nlohmann/json.hpp>

#include "core/json_writer.hpp"

namespace minyi {

TEST(JsonWriter, EscapesAndNests) {
  std::string out;
  JsonWriter w(out, 64);
  w.begin_object();
  w.field("text", "引号\"反斜杠\\换行\n\x01控制");
  w.key("list");
  w.begin_array();
  w.begin_object();
  w.key("n");
  w.number(30.75);
  w.end_object();
  w.begin_object();
  w.key("i");
  w.integer(-7);
  w.key("b");
  w.boolean(false);
  w.end_object();
  w.end_array();
  w.raw_field("raw", R"({"x":null})");
  w.end_object();
  EXPECT_EQ(out,
            "{\"text\":\"引号\\\"反斜杠\\\\换行\\n\\u0001控制\",\"list\":[{\"n\":30.75},{\"i\":-7,\"b\":false}],"
            "\"raw\":{\"x\":null}}");
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["text"], "引号\"反斜杠\\换行\n\x01控制");
}

// append_json_string skips eight bytes at a time; whatever the byte and wherever it sits
// in a word, and at whatever length, the result is that of escaping byte by byte.
TEST(JsonWriter, EscapesEveryByteWhereverItSits) {
  auto by_byte = [](std::string_view s) {
    const std::map<unsigned char, std::string> named = {{'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"},
                                                        {'\t', "\\t"}, {'\b', "\\b"},  {'\f', "\\f"}};
    std::string out = "\"";
    for (unsigned char c : s) {
      if (auto it = named.find(c); it != named.end()) {
        out += it->second;
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  };
  size_t checked = 0;
  for (size_t len = 0; len <= 19; ++len)
    for (size_t at = 0; at < std::max<size_t>(len, 1); ++at)
      for (int b = 0; b < 256; ++b) {
        std::string s = std::string(len, 'a');
        if (len > 0) s[at] = static_cast<char>(b);
        std::string out;
        append_json_string(out, s);
        ASSERT_EQ(out, by_byte(s)) << "length " << len << ", byte " << b << " at " << at;
        ++checked;
      }
  // Real text: Chinese (bytes 0x80 and up only), with the characters to escape spread over it.
  const std::string text = "幸福小区旁工地每晚施工到凌晨两点，\"噪音\"严重\\影响休息。\n\t请尽快处理\x7f\x1f。";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    std::string out;
    append_json_string(out, std::string_view(text).substr(cut));
    ASSERT_EQ(out, by_byte(std::string_view(text).substr(cut)));
    ++checked;
  }
  EXPECT_GT(checked, 40000u);
}

}  // namespace minyi

TEST(LocalTime, ExportTimesGetTheirZonesOffset) {
  auto ok = [](std::string_view text, std::string_view zone = "Asia/Shanghai") {
    auto r = minyi::local_time_to_rfc3339(text, zone);
    return r.index() == 0 ? std::get<0>(r) : "error: " + std::get<1>(r).reason;
  };
  EXPECT_EQ(ok("2024-03-05 14:30:00"), "2024-03-05T14:30:00+08:00");
  EXPECT_EQ(ok("2024/3/5 9:05"), "2024-03-05T09:05:00+08:00");
  EXPECT_EQ(ok("2024.03.05"), "2024-03-05T00:00:00+08:00");
  EXPECT_EQ(ok("2024年3月5日 14:30"), "2024-03-05T14:30:00+08:00");
  EXPECT_EQ(ok("2024-03-05T14:30:00.250"), "2024-03-05T14:30:00+08:00");
  EXPECT_EQ(ok("2024-03-05T06:30:00Z"), "2024-03-05T06:30:00Z");
  // The offset the zone had on that day: New York in winter and in summer; China in 1988 (DST).
  EXPECT_EQ(ok("2024-01-15 12:00:00", "America/New_York"), "2024-01-15T12:00:00-05:00");
  EXPECT_EQ(ok("2024-07-15 12:00:00", "America/New_York"), "2024-07-15T12:00:00-04:00");
  EXPECT_EQ(ok("1988-07-01 12:00:00"), "1988-07-01T12:00:00+09:00");
  for (auto bad : {"", "2024-13-01", "2024-02-30 10:00", "2023-02-29", "2024-03-05 25:00", "yesterday",
                   "2024-03-05 14:30 PM", "05/03/2024"})
    EXPECT_EQ(ok(bad).rfind("error: ", 0), 0u) << bad;
  EXPECT_EQ(ok("2024-03-05 14:30", "Mars/Olympus"), "error: unknown time zone 'Mars/Olympus'");
}
