// The plugins' JSON syntax check (plugins/common/json_scan) against nlohmann-json's
// parser, which the host uses on the same text: both must accept and refuse the same
// inputs, over hand-written cases and many mutations of real suggestion bodies.
#include "json_scan.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

using minyi::plugins::JsonFrame;
using minyi::plugins::scan_json;
using nlohmann::json;

namespace {

bool scans(std::string_view text) {
  return !scan_json(text, [](const std::vector<JsonFrame>&, std::string_view) {});
}

// Every member as "path:name", the path written as the containers' names and indexes.
std::vector<std::string> members(std::string_view text) {
  std::vector<std::string> out;
  auto err = scan_json(text, [&](const std::vector<JsonFrame>& path, std::string_view name) {
    std::string p;
    for (size_t i = 1; i < path.size(); ++i)
      p += path[i - 1].array ? "[" + std::to_string(path[i].index) + "]" : "/" + path[i].name;
    out.push_back(p + ":" + std::string(name));
  });
  EXPECT_FALSE(err) << text;
  return out;
}

std::vector<std::u32string> to_code_points(const std::vector<std::string>& texts) {
  std::vector<std::u32string> out;
  for (const auto& t : texts) {
    std::u32string cps;
    for (size_t i = 0; i < t.size();) {
      auto c = static_cast<unsigned char>(t[i]);
      int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      char32_t cp = len == 1 ? c : c & (0x7F >> len);
      for (int k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(t[i + k]) & 0x3F);
      cps += cp;
      i += len;
    }
    out.push_back(cps);
  }
  return out;
}

std::string to_utf8(const std::u32string& cps) {
  std::string out;
  for (char32_t cp : cps) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | cp >> 12);
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | cp >> 18);
      out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

// Web intake bodies built from the first lines of the shared suggestion data.
std::vector<std::string> shared_bodies(size_t limit) {
  std::ifstream in(std::string(MINYI_SHARED_DIR) + "/data/teddy2020c/stream_all_attachments.csv");
  EXPECT_TRUE(in) << "shared data not found under " << MINYI_SHARED_DIR;
  std::vector<std::string> out;
  std::string line;
  while (out.size() < limit && std::getline(in, line)) {
    json body = {{"title", "来信"},
                 {"content", line},
                 {"submitter", {{"name", "张三"}, {"phone", "13800138000"}}},
                 {"location", {{"text", "西湖区"}, {"lat", 30.25}, {"lon", -120.5e-1}}},
                 {"attachments", json::array({{{"url", "https://x/y.jpg"}}, {{"filename", "a\"b\\c"}}})}};
    out.push_back(body.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return out;
}

}  // namespace

TEST(JsonScan, AcceptsAndRefusesWhatTheHostParserDoes) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {R"({})", true},
      {R"([])", true},
      {R"( {"a" : [1, -0, 0.5, 1e9, 2E-3, -1.25e+10, true, false, null, "s"]} )", true},
      {"\xEF\xBB\xBF{\"a\":1}", true},
      {R"("\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r")", true},
      {R"("\u0000")", true},
      {"123", true},
      {"", false},
      {" ", false},
      {"{", false},
      {"{\"a\"}", false},
      {"{\"a\":}", false},
      {"{\"a\":1,}", false},
      {"[1,]", false},
      {"[,1]", false},
      {"{a:1}", false},
      {"{'a':1}", false},
      {"01", false},
      {"-", false},
      {"-01", false},
      {"1.", false},
      {".5", false},
      {"1e", false},
      {"1e+", false},
      {"+1", false},
      {"tru", false},
      {"nulll", false},
      {"\"abc", false},
      {"\"a\x01\"", false},
      {R"("\x")", false},
      {R"("\u12")", false},
      {R"("\ud800")", false},
      {R"("\ud800\u0041")", false},
      {R"("\udc00")", false},
      {R"({"a":1}{"b":2})", false},
      {R"({"a":1} x)", false},
      {"[1 2]", false},
      {"{\"a\" 1}", false},
      {"[\"a\":1]", false},
      {"NaN", false},
      {"1e400", false},
      {"-1E+309", false},
      {"1e-400", true},
      {"[" + std::string(320, '9') + "]", false},
  };
  for (const auto& [text, ok] : cases) {
    EXPECT_EQ(json::accept(text), ok) << "the reference parser disagrees with the case: " << text;
    EXPECT_EQ(scans(text), ok) << text;
  }
}

// Mutations (delete, insert a token, replace, cut, repeat a span) of real bodies, with
// the answer of nlohmann-json as the expected one. Code points are mutated, not bytes, so
// every input stays valid UTF-8 (which the scanner leaves to its caller).
TEST(JsonScan, AgreesWithTheHostParserOnMutatedBodies) {
  auto bodies = shared_bodies(200);
  ASSERT_GE(bodies.size(), 100u);
  bodies.push_back(R"({"a":[{"b":{"c":[1,2,{"d":"\ud83d\ude00"}]}}],"e":-1.5e-3,"f":[true,false,null]})");
  auto seeds = to_code_points(bodies);
  const std::vector<std::u32string> tokens = {U"{",   U"}",       U"[",       U"]",     U",",    U":",  U"\"",   U"\\",
                                              U"\\u", U"\\ud800", U"\\udc00", U"\\u00", U"0",    U"-",  U".",    U"e",
                                              U"+",   U"1",       U"true",    U"nul",   U" ",    U"\n", U"\x01", U"中",
                                              U"\\n", U"\\x",     U"E5",      U"00",    U"\"\":"};
  std::mt19937 rng(20261127);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int accepted = 0, refused = 0;
  for (int round = 0; round < 60000; ++round) {
    std::u32string t = seeds[pick(seeds.size())];
    for (int k = 1 + static_cast<int>(pick(3)); k > 0 && !t.empty(); --k) {
      size_t at = pick(t.size());
      switch (pick(5)) {
        case 0:
          t.erase(at, 1);
          break;
        case 1:
          t.insert(at, tokens[pick(tokens.size())]);
          break;
        case 2:
          t.replace(at, 1, tokens[pick(tokens.size())]);
          break;
        case 3:
          t.resize(at);
          break;
        default:
          t.insert(at, t.substr(at, 1 + pick(8)));
          break;
      }
    }
    std::string text = to_utf8(t);
    bool expected = json::accept(text);
    ASSERT_EQ(scans(text), expected) << text;
    ++(expected ? accepted : refused);
  }
  // Both outcomes must be well represented, or the comparison says little.
  EXPECT_GT(accepted, 5000);
  EXPECT_GT(refused, 20000);
}

// Strings are skipped eight bytes at a time: every ASCII byte, at every place in a word of
// a member name or a value, at every length, gets the host parser's verdict, the decoded
// name, and (for a control character) the error at that very byte.
TEST(JsonScan, ChecksEveryByteWhereverItSitsInAString) {
  int checked = 0;
  for (size_t len = 1; len <= 19; ++len)
    for (size_t at = 0; at < len; ++at)
      for (int b = 0; b < 0x80; ++b)
        for (bool in_name : {true, false}) {
          std::string str(len, 'a');
          str[at] = static_cast<char>(b);
          std::string text = in_name ? "{\"" + str + "\":1}" : "{\"k\":\"" + str + "\"}";
          const bool expected = json::accept(text);
          std::string name;
          auto err = scan_json(text, [&](const std::vector<JsonFrame>&, std::string_view n) { name = n; });
          ASSERT_EQ(!err, expected) << text;
          if (expected) {
            EXPECT_EQ(name, json::parse(text).begin().key()) << text;
          } else if (b < 0x20) {
            const size_t start = in_name ? 2 : 6;  // where str begins in text
            EXPECT_EQ(err->byte, start + at + 1) << text;
          }
          ++checked;
        }
  EXPECT_EQ(checked, 19 * 20 / 2 * 0x80 * 2);
}

TEST(JsonScan, ReportsMembersWithTheirContainers) {
  std::string body = R"({"title":"t","submitter":{"name":"n","\u0070hone":"1"},"attachments":[{"url":"u"},)"
                     R"({"filename":"f","x":{"deep":1}}],"location":{"lat":1,"lon":2},"list":[[{"k":0}]]})";
  std::vector<std::string> expected = {":title",
                                       ":submitter",
                                       "/submitter:name",
                                       "/submitter:phone",
                                       ":attachments",
                                       "/attachments[0]:url",
                                       "/attachments[1]:filename",
                                       "/attachments[1]:x",
                                       "/attachments[1]/x:deep",
                                       ":location",
                                       "/location:lat",
                                       "/location:lon",
                                       ":list",
                                       "/list[0][0]:k"};
  EXPECT_EQ(members(body), expected);
}

TEST(JsonScan, PointsAtTheByteWhereTheTextStopsBeingJson) {
  auto err = scan_json(R"({"a":1,,})", [](const std::vector<JsonFrame>&, std::string_view) {});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->byte, 8u);
  err = scan_json(R"({"a":"x)", [](const std::vector<JsonFrame>&, std::string_view) {});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->byte, 8u);  // one past the end: the string never closes
}

// Nesting far deeper than any parser with recursion would survive: no depth limit, no
// stack overflow.
TEST(JsonScan, DeepNestingNeedsNoRecursion) {
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_TRUE(scans(deep));
  EXPECT_FALSE(scans(deep.substr(1)));
}
