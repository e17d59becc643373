// Intake's one-pass draft reader against nlohmann-json's parser, which it stands in for:
// whatever the reader accepts, nlohmann accepts too, with the same document (value types
// included); what the reader declines goes to nlohmann, so declining is always safe, but
// it must be rare for the texts intake really gets.
#include "intake/draft_reader.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "json_corpus.hpp"

using minyi::read_json_fast;
using nlohmann::json;

namespace {

// Same type at every node, same members in the same order, same scalars (compared as
// nlohmann writes them, so 0.0 and -0.0 differ).
bool same(const json& a, const json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto x = a.begin(), y = b.begin(); x != a.end(); ++x, ++y)
      if (x.key() != y.key() || !same(*x, *y)) return false;
    return true;
  }
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  return a.dump() == b.dump();
}

// Declined texts, by nlohmann's verdict on them.
enum class Verdict { Agrees, DeclinedValid, DeclinedInvalid };

// Fails the test when the reader accepts what nlohmann refuses, or reads another document.
Verdict check(const std::string& text) {
  json fast;
  const bool read = read_json_fast(text, fast);
  json reference;
  bool accepted = true;
  try {
    reference = json::parse(text);
  } catch (const json::exception&) {  // parse_error, or out_of_range for a number like 1e400
    accepted = false;
  }
  if (!read) return accepted ? Verdict::DeclinedValid : Verdict::DeclinedInvalid;
  EXPECT_TRUE(accepted) << "the reader accepted what nlohmann refuses: " << text;
  if (accepted) {
    EXPECT_TRUE(same(fast, reference)) << text << "\nreader: " << fast.dump() << "\nnlohmann: " << reference.dump();
  }
  return Verdict::Agrees;
}

}  // namespace

TEST(DraftReader, ReadsWhatNlohmannReadsOnHandWrittenCases) {
  for (const auto& [text, ok] : minyi::testing::reference_cases()) {
    ASSERT_EQ(json::accept(text), ok) << "the reference parser disagrees with the case: " << text;
    check(text);
  }
  // What it reads itself, typed as nlohmann types it.
  const std::vector<std::string> reads = {
      R"({"title":"t","content":"幸福小区\n\"噪音\"","submitter":{"name":"张三","phone":"13800138000","anonymous":false}})",
      R"({"location":{"lat":30.25,"lon":-120.5e-1},"n":[0,-0,1,-1,999999999999999999,-999999999999999999,1.5e3,1e-400]})",
      R"({"a":1,"a":{"b":2}})",  // the last of duplicate members
      R"("\u00e9\ud83d\ude00\u0000\/")",
      " [ true , false , null ] \n",
  };
  for (const auto& text : reads) EXPECT_EQ(check(text), Verdict::Agrees) << text;
  json d;
  ASSERT_TRUE(read_json_fast(R"({"u":1,"i":-1,"z":-0,"f":1.0,"a":1,"a":2})", d));
  EXPECT_TRUE(d["u"].is_number_unsigned());
  EXPECT_TRUE(d["i"].is_number_integer() && !d["i"].is_number_unsigned());
  EXPECT_TRUE(d["z"].is_number_integer() && !d["z"].is_number_unsigned());
  EXPECT_TRUE(d["f"].is_number_float());
  EXPECT_EQ(d["a"], 2);
  // What it leaves to nlohmann: a byte order mark, integers nlohmann range-checks itself,
  // numbers out of range, deep nesting, invalid UTF-8, lone surrogates.
  const std::vector<std::string> declines = {"\xEF\xBB\xBF{\"a\":1}",
                                             "1234567890123456789",
                                             "-1234567890123456789",
                                             "1e400",
                                             std::string(300, '[') + std::string(300, ']'),
                                             "\"\xE5\xB9\"",
                                             "\"\xED\xA0\x80\"",
                                             "\"\xC0\xAF\"",
                                             R"("\ud800")",
                                             R"("\udc00\ud800")"};
  for (const auto& text : declines) {
    json out = "untouched";
    EXPECT_FALSE(read_json_fast(text, out)) << text;
    EXPECT_EQ(out, "untouched") << "a declined text leaves the document alone";
  }
}

TEST(DraftReader, ReadsEveryBodyBuiltFromTheSharedData) {
  const auto bodies = minyi::testing::shared_bodies(100000);
  ASSERT_GE(bodies.size(), 1000u);
  for (const auto& body : bodies) ASSERT_EQ(check(body), Verdict::Agrees) << body;
}

// Mutated bodies, the mutations of the scanner's test plus byte-level ones (invalid
// UTF-8 included): never a document nlohmann would not give, and few texts declined
// that nlohmann accepts.
TEST(DraftReader, AgreesWithNlohmannOnMutatedBodies) {
  auto bodies = minyi::testing::shared_bodies(300);
  ASSERT_GE(bodies.size(), 100u);
  bodies.push_back(R"({"a":[{"b":{"c":[1,2,{"d":"\ud83d\ude00"}]}}],"e":-1.5e-3,"f":[true,false,null]})");
  minyi::testing::JsonMutator mutate(bodies, 20261128);
  int agreed = 0, refused = 0, declined_but_valid = 0;
  for (int round = 0; round < 50000; ++round) {
    std::string text = mutate.next();
    if (round % 4 == 0 && !text.empty()) {  // a byte of any value, anywhere
      const size_t at = mutate.pick(text.size());
      const char byte = static_cast<char>(mutate.pick(256));
      if (mutate.pick(2))
        text[at] = byte;
      else
        text.insert(at, 1, byte);
    }
    switch (check(text)) {
      case Verdict::Agrees:
        ++agreed;
        break;
      case Verdict::DeclinedValid:
        ++declined_but_valid;
        break;
      case Verdict::DeclinedInvalid:
        ++refused;
        break;
    }
  }
  EXPECT_GT(agreed, 8000);
  EXPECT_GT(refused, 25000);
  EXPECT_LT(declined_but_valid, agreed / 100) << "the reader declines too much that is valid";
}
