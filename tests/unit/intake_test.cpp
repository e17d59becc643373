// Intake: drafts become minyi.suggestion/1 documents; bad drafts are refused with a field.
#include "intake/intake.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/embedded.hpp"
#include "core/ids.hpp"
#include "dispatch/dispatcher.hpp"

namespace minyi {

using nlohmann::json;

namespace {
const IntakeSource kSrc{"portal", "web", "1.0.0", "web"};
Intake make_intake() {
  return Intake("0123456789abcdef0123456789abcdef", [] { return int64_t{1'795'000'000'000}; });
}

JournalRecord ok(const Intake& in, const std::string& draft) {
  auto r = in.prepare(kSrc, draft, draft, "application/json");
  if (auto* rej = std::get_if<IntakeRejection>(&r))
    ADD_FAILURE() << rej->code << " " << rej->field << " " << rej->message;
  return std::get<JournalRecord>(r);
}
IntakeRejection bad(const Intake& in, const std::string& draft) {
  auto r = in.prepare(kSrc, draft, draft, "application/json");
  EXPECT_TRUE(std::holds_alternative<IntakeRejection>(r)) << draft;
  return std::holds_alternative<IntakeRejection>(r) ? std::get<IntakeRejection>(r) : IntakeRejection{};
}
}  // namespace

TEST(Intake, ProducesAValidSuggestion) {
  auto in = make_intake();
  auto rec = ok(in, R"({"title":" 噪音 ","content":"工地夜间施工\n","external_id":"e-1",
    "submitted_at":"2026-11-27T09:30:11+08:00",
    "submitter":{"name":"张三","phone":"+86 138-0013-8000","id_number":"11010519491231002x","email":"A@B.cn"},
    "location":{"text":"幸福小区","lat":30.75,"lon":120.75},
    "attachments":[{"url":"https://x.example/a.jpg","content_type":"image/jpeg"},{"data_base64":"5rCR5oSP","filename":"a.txt","content_type":"text/plain"}]})");
  json s = json::parse(rec.suggestion_json);
  JsonSchema schema{std::string(embedded::suggestion_schema)};
  auto v = schema.validate(s);
  EXPECT_FALSE(v) << v->field << ": " << v->message;
  EXPECT_EQ(s["schema"], "minyi.suggestion/1");
  EXPECT_EQ(s["id"], rec.suggestion_id);
  EXPECT_EQ(s["title"], "噪音");
  EXPECT_EQ(s["content"], "工地夜间施工");
  EXPECT_EQ(s["language"], "zh-Hans");
  EXPECT_EQ(s["source"]["external_id"], "e-1");
  EXPECT_EQ(s["submitter"]["phone_masked"], "138****8000");
  EXPECT_EQ(s["submitter"]["anonymous"], false);
  EXPECT_EQ(s["attachments"][0]["kind"], "image");
  EXPECT_EQ(s["attachments"][1]["bytes"], 6);
  EXPECT_EQ(rec.attachments.size(), 1u);
  EXPECT_EQ(rec.external_id, "e-1");
  EXPECT_EQ(rec.submitted_at, "2026-11-27T09:30:11+08:00");
  // Raw identifiers never reach the suggestion.
  for (const char* raw : {"13800138000", "0013", "11010519491231002", "A@B.cn", "a@b.cn"})
    EXPECT_EQ(rec.suggestion_json.find(raw), std::string::npos) << raw;
}

TEST(Intake, HashesAreKeyedAndCanonical) {
  auto in = make_intake();
  auto a = json::parse(ok(in, R"({"content":"x","submitter":{"phone":"13800138000"}})").suggestion_json);
  auto b = json::parse(ok(in, R"({"content":"y","submitter":{"phone":"+86 138 0013 8000"}})").suggestion_json);
  EXPECT_EQ(a["submitter"]["phone_hash"], b["submitter"]["phone_hash"]);
  Intake other("another key, another city.......", [] { return int64_t{0}; });
  auto c = json::parse(ok(other, R"({"content":"x","submitter":{"phone":"13800138000"}})").suggestion_json);
  EXPECT_NE(a["submitter"]["phone_hash"], c["submitter"]["phone_hash"]);
  EXPECT_EQ(a["submitter"]["anonymous"], false);
  EXPECT_EQ(json::parse(ok(in, R"({"content":"x"})").suggestion_json)["submitter"]["anonymous"], true);
}

TEST(Intake, RefusesBadDraftsNamingTheField) {
  auto in = make_intake();
  EXPECT_EQ(bad(in, R"({"title":"t"})").field, "content");
  EXPECT_EQ(bad(in, R"({"title":"t"})").code, "missing_field");
  EXPECT_EQ(bad(in, R"({"content":"   "})").field, "content");
  EXPECT_EQ(bad(in, R"({"content":5})").code, "wrong_type");
  EXPECT_EQ(bad(in, R"({"content":"x","colour":"red"})").code, "unknown_field");
  EXPECT_EQ(bad(in, R"({"content":"x","submitted_at":"2026-11-27 09:00"})").field, "submitted_at");
  EXPECT_EQ(bad(in, R"({"content":"x","location":{"lat":91,"lon":0}})").field, "location.lat");
  EXPECT_EQ(bad(in, R"({"content":"x","location":{"lat":30}})").field, "location.lon");
  EXPECT_EQ(bad(in, R"({"content":"x","attachments":[{"filename":"a"}]})").field, "attachments[0]");
  EXPECT_EQ(bad(in, R"({"content":"x","attachments":[{"data_base64":"!!"}]})").field, "attachments[0].data_base64");
  EXPECT_EQ(bad(in, R"({"content":"x","kind":"rant"})").field, "kind");
  EXPECT_EQ(bad(in, "{\"content\":\"\xB6\xF8\"}").code, "invalid_utf8");
  EXPECT_EQ(bad(in, "{nope").code, "malformed_draft");
  // Numbers nlohmann-json cannot hold (it throws out_of_range, not parse_error): refused
  // like any malformed draft, not an exception out of intake into the plugin calling it.
  EXPECT_EQ(bad(in, R"({"content":"x","location":{"lat":1e400,"lon":0}})").code, "malformed_draft");
  EXPECT_EQ(bad(in, R"({"content":"x","extras":{"n":-1E+309}})").code, "malformed_draft");
}

TEST(PiiKey, CreatedWithMode0600AndReused) {
  auto dir = std::filesystem::temp_directory_path() / ("minyi-pii-" + new_uuid_v7());
  std::string path = (dir / "sub" / "pii.key").string();
  std::string k1 = load_or_create_pii_key(path);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(k1.size(), 64u);
  EXPECT_EQ(load_or_create_pii_key(path), k1);
  std::filesystem::remove_all(dir);
}

TEST(Masking, Phones) {
  EXPECT_EQ(mask_phone("13800138000"), "138****8000");
  EXPECT_EQ(mask_phone("0086 13800138000"), "138****8000");
  EXPECT_EQ(mask_phone("12345"), "***45");
  EXPECT_EQ(canonical_phone("(0571) 8765-4321"), "057187654321");
}

TEST(Backoff, ExponentialCappedJitteredAndHonoursRetryAfter) {
  RetryPolicy p;
  p.backoff_initial_ms = 100;
  p.backoff_max_ms = 1000;
  EXPECT_EQ(backoff_delay_ms(p, 1, 0, 1.0), 100);
  EXPECT_EQ(backoff_delay_ms(p, 1, 0, 0.0), 50);
  EXPECT_EQ(backoff_delay_ms(p, 3, 0, 1.0), 400);
  EXPECT_EQ(backoff_delay_ms(p, 30, 0, 1.0), 1000);
  EXPECT_EQ(backoff_delay_ms(p, 2, 5000, 0.5), 5000);
}

}  // namespace minyi

namespace minyi {

TEST(JsonSchema, EachKeywordNamesTheFieldCodeAndExpectation) {
  // Every keyword of the supported subset, with the exact answer a client gets back.
  JsonSchema schema{R"({
    "type": "object", "additionalProperties": false, "required": ["a"],
    "properties": {
      "a": {"type": "string", "minLength": 1, "maxLength": 3},
      "b": {"type": ["integer", "null"], "minimum": 1, "maximum": 9},
      "c": {"type": "string", "enum": ["x", "y"]},
      "d": {"type": "string", "format": "date-time"},
      "e": {"type": "string", "pattern": "^[0-9a-f]{4}$"},
      "f": {"type": "string", "minLength": 2},
      "g": {"type": "array", "maxItems": 2,
            "items": {"type": "object", "required": ["h"], "properties": {"h": {"type": "number"}},
                      "additionalProperties": false}}
    }})"};
  auto violation = [&](const char* doc) {
    auto v = schema.validate(json::parse(doc));
    EXPECT_TRUE(v) << doc;
    return v ? *v : SchemaViolation{};
  };
  auto expect = [&](const char* doc, const char* field, const char* code, const char* message) {
    SchemaViolation v = violation(doc);
    EXPECT_EQ(v.field, field) << doc;
    EXPECT_EQ(v.code, code) << doc;
    EXPECT_EQ(v.message, message) << doc;
  };
  EXPECT_FALSE(schema.validate(json::parse(
      R"({"a":"abc","b":null,"c":"y","d":"2026-11-27T09:30:00+08:00","e":"00ff","f":"ab","g":[{"h":1},{"h":2.5}]})")));
  EXPECT_FALSE(schema.validate(json::parse(R"({"a":"中文字","b":9.0})")))
      << "lengths in code points; 9.0 is an integer";
  expect("[]", "", "wrong_type", "the document must be object, got an array");
  expect("{}", "a", "missing_field", "'a' is required");
  expect(R"({"a":""})", "a", "missing_field", "'a' must not be empty");
  expect(R"({"a":"abcd"})", "a", "too_long", "'a' is longer than 3 characters");
  expect(R"({"a":1})", "a", "wrong_type", "'a' must be string, got a number");
  expect(R"({"a":"x","b":"1"})", "b", "wrong_type", "'b' must be integer or null, got a string");
  expect(R"({"a":"x","b":1.5})", "b", "wrong_type", "'b' must be integer or null, got a number");
  expect(R"({"a":"x","b":0})", "b", "invalid_value", "'b' must be at least 1");
  expect(R"({"a":"x","b":10})", "b", "invalid_value", "'b' must be at most 9");
  expect(R"({"a":"x","c":"z"})", "c", "invalid_value", R"('c' must be one of "x", "y")");
  expect(R"({"a":"x","d":"2026-11-27 09:30"})", "d", "invalid_value",
         "'d' must be an RFC 3339 date-time with offset, e.g. 2026-11-27T09:30:00+08:00");
  expect(R"({"a":"x","e":"00FF"})", "e", "invalid_value", "'e' does not match ^[0-9a-f]{4}$");
  expect(R"({"a":"x","f":"a"})", "f", "invalid_value", "'f' must be at least 2 characters");
  expect(R"({"a":"x","colour":1})", "colour", "unknown_field", "unknown field 'colour'");
  expect(R"({"a":"x","g":[{"h":1},{},{}]})", "g", "too_long", "'g' has more than 2 items");
  expect(R"({"a":"x","g":[{"h":1},{}]})", "g[1].h", "missing_field", "'g[1].h' is required");
  expect(R"({"a":"x","g":[{"h":1},{"h":"2"}]})", "g[1].h", "wrong_type", "'g[1].h' must be number, got a string");
  expect(R"({"a":"x","g":[{"h":1,"i":2}]})", "g[0].i", "unknown_field", "unknown field 'g[0].i'");
  // The first violation in document order; paths do not leak from one member to the next.
  expect(R"({"g":[{"h":1}],"a":"abcd"})", "a", "too_long", "'a' is longer than 3 characters");
  expect(R"({"a":"x","g":[{"h":1}],"b":0})", "b", "invalid_value", "'b' must be at least 1");
}

}  // namespace minyi
