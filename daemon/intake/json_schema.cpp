// JSON Schema subset validation (see json_schema.hpp for what is supported).
#include "intake/json_schema.hpp"

#include <nlohmann/json.hpp>
#include <regex>

#include "core/timefmt.hpp"

namespace minyi {

using nlohmann::json;

namespace {

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool has_type(const json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "integer")
    return v.is_number_integer() ||
           (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
  if (t == "number") return v.is_number();
  return false;
}

std::string type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    default:
      return "a number";
  }
}

std::string child(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::optional<SchemaViolation> check(const json& s, const json& v, const std::string& path) {
  std::string name = path.empty() ? "the document" : "'" + path + "'";
  if (auto t = s.find("type"); t != s.end()) {
    bool ok = false;
    std::string expected;
    if (t->is_array()) {
      for (const auto& x : *t) {
        ok |= has_type(v, x.get<std::string>());
        expected += (expected.empty() ? "" : " or ") + x.get<std::string>();
      }
    } else {
      ok = has_type(v, t->get<std::string>());
      expected = t->get<std::string>();
    }
    if (!ok) return SchemaViolation{path, "wrong_type", name + " must be " + expected + ", got " + type_of(v)};
  }
  if (auto e = s.find("enum"); e != s.end()) {
    bool ok = false;
    std::string list;
    for (const auto& x : *e) {
      ok |= x == v;
      list += (list.empty() ? "" : ", ") + x.dump();
    }
    if (!ok) return SchemaViolation{path, "invalid_value", name + " must be one of " + list};
  }
  if (v.is_string()) {
    const auto& str = v.get_ref<const std::string&>();
    if (auto m = s.find("minLength"); m != s.end() && code_points(str) < m->get<size_t>())
      return SchemaViolation{
          path, m->get<size_t>() == 1 ? "missing_field" : "invalid_value",
          name + (m->get<size_t>() == 1 ? " must not be empty" : " must be at least " + m->dump() + " characters")};
    if (auto m = s.find("maxLength"); m != s.end() && code_points(str) > m->get<size_t>())
      return SchemaViolation{path, "too_long", name + " is longer than " + m->dump() + " characters"};
    if (auto f = s.find("format"); f != s.end() && *f == "date-time" && !parse_rfc3339(str))
      return SchemaViolation{path, "invalid_value",
                             name + " must be an RFC 3339 date-time with offset, e.g. 2026-11-27T09:30:00+08:00"};
    if (auto p = s.find("pattern"); p != s.end() && !std::regex_search(str, std::regex(p->get<std::string>())))
      return SchemaViolation{path, "invalid_value", name + " does not match " + p->get<std::string>()};
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (auto m = s.find("minimum"); m != s.end() && d < m->get<double>())
      return SchemaViolation{path, "invalid_value", name + " must be at least " + m->dump()};
    if (auto m = s.find("maximum"); m != s.end() && d > m->get<double>())
      return SchemaViolation{path, "invalid_value", name + " must be at most " + m->dump()};
  }
  if (v.is_object()) {
    if (auto r = s.find("required"); r != s.end())
      for (const auto& k : *r)
        if (!v.contains(k.get<std::string>()))
          return SchemaViolation{child(path, k), "missing_field", "'" + child(path, k) + "' is required"};
    auto props = s.find("properties");
    bool closed = s.value("additionalProperties", true) == false;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const json* sub = nullptr;
      if (props != s.end())
        if (auto p = props->find(it.key()); p != props->end()) sub = &*p;
      if (!sub) {
        if (closed)
          return SchemaViolation{child(path, it.key()), "unknown_field",
                                 "unknown field '" + child(path, it.key()) + "'"};
        continue;
      }
      if (auto r = check(*sub, it.value(), child(path, it.key()))) return r;
    }
  }
  if (v.is_array()) {
    if (auto m = s.find("maxItems"); m != s.end() && v.size() > m->get<size_t>())
      return SchemaViolation{path, "too_long", name + " has more than " + m->dump() + " items"};
    if (auto items = s.find("items"); items != s.end())
      for (size_t i = 0; i < v.size(); ++i)
        if (auto r = check(*items, v[i], path + "[" + std::to_string(i) + "]")) return r;
  }
  return std::nullopt;
}

}  // namespace

JsonSchema::JsonSchema(const std::string& schema_text) : schema_(std::make_unique<json>(json::parse(schema_text))) {}
JsonSchema::~JsonSchema() = default;

std::optional<SchemaViolation> JsonSchema::validate(const json& doc) const { return check(*schema_, doc, ""); }

}  // namespace minyi
