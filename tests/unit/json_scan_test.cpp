// The plugins' JSON syntax check (plugins/common/json_scan) against nlohmann-json's
// parser, which the host uses on the same text: both must accept and refuse the same
// inputs, over hand-written cases and many mutations of real suggestion bodies.
#include "json_scan.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "json_corpus.hpp"

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

}  // namespace

TEST(JsonScan, AcceptsAndRefusesWhatTheHostParserDoes) {
  const auto cases = minyi::testing::reference_cases();
  for (const auto& [text, ok] : cases) {
    EXPECT_EQ(json::accept(text), ok) << "the reference parser disagrees with the case: " << text;
    EXPECT_EQ(scans(text), ok) << text;
  }
}

// Mutations (delete, insert a token, replace, cut, repeat a span) of real bodies, with
// the answer of nlohmann-json as the expected one. Code points are mutated, not bytes, so
// every input stays valid UTF-8 (which the scanner leaves to its caller).
TEST(JsonScan, AgreesWithTheHostParserOnMutatedBodies) {
  auto bodies = minyi::testing::shared_bodies(200);
  ASSERT_GE(bodies.size(), 100u);
  bodies.push_back(R"({"a":[{"b":{"c":[1,2,{"d":"\ud83d\ude00"}]}}],"e":-1.5e-3,"f":[true,false,null]})");
  minyi::testing::JsonMutator mutate(bodies, 20261127);
  int accepted = 0, refused = 0;
  for (int round = 0; round < 60000; ++round) {
    std::string text = mutate.next();
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
