// JSON texts for differential tests of minyi's own JSON readers against nlohmann-json
// (the parser the host uses): hand-written cases, web intake bodies built from the shared
// suggestion data, and mutations of them.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace minyi::testing {

using nlohmann::json;

// Texts with whether nlohmann-json accepts them (the tests check that it does).
inline std::vector<std::pair<std::string, bool>> reference_cases() {
  return {
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
}

inline std::vector<std::u32string> to_code_points(const std::vector<std::string>& texts) {
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

inline std::string to_utf8(const std::u32string& cps) {
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
inline std::vector<std::string> shared_bodies(size_t limit) {
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

// Mutations (delete, insert a token, replace, cut, repeat a span) of seed texts. Code
// points are mutated, not bytes, so every text stays valid UTF-8.
class JsonMutator {
 public:
  JsonMutator(const std::vector<std::string>& seeds, uint32_t seed) : seeds_(to_code_points(seeds)), rng_(seed) {}

  std::string next() {
    static const std::vector<std::u32string> tokens = {
        U"{",       U"}",     U"[",    U"]",  U",",   U":",   U"\"", U"\\", U"\\u",  U"\\ud800",
        U"\\udc00", U"\\u00", U"0",    U"-",  U".",   U"e",   U"+",  U"1",  U"true", U"nul",
        U" ",       U"\n",    U"\x01", U"中", U"\\n", U"\\x", U"E5", U"00", U"\"\":"};
    std::u32string t = seeds_[pick(seeds_.size())];
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
    return to_utf8(t);
  }

  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

 private:
  std::vector<std::u32string> seeds_;
  std::mt19937 rng_;
};

}  // namespace minyi::testing
