// JSON Schema subset validation (see json_schema.hpp for what is supported).
#include "intake/json_schema.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/timefmt.hpp"

namespace minyi {

using nlohmann::json;

struct JsonSchema::Patterns {
  std::map<const json*, std::regex> by_node;
};

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

// One validation: the schema's compiled patterns, and the path of the value being checked,
// grown and cut back as the walk goes down and up (no string per node when all is well).
struct Walk {
  const std::map<const json*, std::regex>& patterns;
  std::string path;

  std::string name() const { return path.empty() ? "the document" : "'" + path + "'"; }
  std::optional<SchemaViolation> fail(const char* code, std::string message) const {
    return SchemaViolation{path, code, std::move(message)};
  }
  // Runs `f` with `key` appended to the path as a member.
  template <class F>
  std::optional<SchemaViolation> in_member(const std::string& key, F&& f) {
    const size_t mark = path.size();
    if (!path.empty()) path += '.';
    path += key;
    auto r = f();
    path.resize(mark);
    return r;
  }

  std::optional<SchemaViolation> check(const json& s, const json& v) {
    if (auto t = s.find("type"); t != s.end()) {
      bool ok = false;
      if (t->is_array()) {
        for (const auto& x : *t) ok = ok || has_type(v, x.get_ref<const std::string&>());
      } else {
        ok = has_type(v, t->get_ref<const std::string&>());
      }
      if (!ok) {
        std::string expected;
        if (t->is_array()) {
          for (const auto& x : *t) expected += (expected.empty() ? "" : " or ") + x.get<std::string>();
        } else {
          expected = t->get<std::string>();
        }
        return fail("wrong_type", name() + " must be " + expected + ", got " + type_of(v));
      }
    }
    if (auto e = s.find("enum"); e != s.end()) {
      bool ok = false;
      for (const auto& x : *e) ok = ok || x == v;
      if (!ok) {
        std::string list;
        for (const auto& x : *e) list += (list.empty() ? "" : ", ") + x.dump();
        return fail("invalid_value", name() + " must be one of " + list);
      }
    }
    if (v.is_string()) {
      const auto& str = v.get_ref<const std::string&>();
      if (auto m = s.find("minLength"); m != s.end() && code_points(str) < m->get<size_t>())
        return m->get<size_t>() == 1 ? fail("missing_field", name() + " must not be empty")
                                     : fail("invalid_value", name() + " must be at least " + m->dump() + " characters");
      if (auto m = s.find("maxLength"); m != s.end() && code_points(str) > m->get<size_t>())
        return fail("too_long", name() + " is longer than " + m->dump() + " characters");
      if (auto f = s.find("format"); f != s.end() && *f == "date-time" && !parse_rfc3339(str))
        return fail("invalid_value",
                    name() + " must be an RFC 3339 date-time with offset, e.g. 2026-11-27T09:30:00+08:00");
      if (auto p = s.find("pattern"); p != s.end() && !std::regex_search(str, patterns.at(&*p)))
        return fail("invalid_value", name() + " does not match " + p->get<std::string>());
    }
    if (v.is_number()) {
      double d = v.get<double>();
      if (auto m = s.find("minimum"); m != s.end() && d < m->get<double>())
        return fail("invalid_value", name() + " must be at least " + m->dump());
      if (auto m = s.find("maximum"); m != s.end() && d > m->get<double>())
        return fail("invalid_value", name() + " must be at most " + m->dump());
    }
    if (v.is_object()) {
      if (auto r = s.find("required"); r != s.end())
        for (const auto& k : *r)
          if (!v.contains(k.get_ref<const std::string&>()))
            return in_member(k.get_ref<const std::string&>(),
                             [&] { return fail("missing_field", name() + " is required"); });
      auto props = s.find("properties");
      bool closed = s.value("additionalProperties", true) == false;
      for (auto it = v.begin(); it != v.end(); ++it) {
        const json* sub = nullptr;
        if (props != s.end())
          if (auto p = props->find(it.key()); p != props->end()) sub = &*p;
        if (!sub && !closed) continue;
        auto r = in_member(it.key(), [&]() -> std::optional<SchemaViolation> {
          if (!sub) return fail("unknown_field", "unknown field " + name());
          return check(*sub, it.value());
        });
        if (r) return r;
      }
    }
    if (v.is_array()) {
      if (auto m = s.find("maxItems"); m != s.end() && v.size() > m->get<size_t>())
        return fail("too_long", name() + " has more than " + m->dump() + " items");
      if (auto items = s.find("items"); items != s.end())
        for (size_t i = 0; i < v.size(); ++i) {
          const size_t mark = path.size();
          path += '[' + std::to_string(i) + ']';
          auto r = check(*items, v[i]);
          path.resize(mark);
          if (r) return r;
        }
    }
    return std::nullopt;
  }
};

// Every "pattern" in the schema, compiled once.
void compile_patterns(const json& s, std::map<const json*, std::regex>& out) {
  if (s.is_object()) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (it.key() == "pattern" && it.value().is_string())
        out.emplace(&it.value(), std::regex(it.value().get<std::string>()));
      else
        compile_patterns(it.value(), out);
    }
  } else if (s.is_array()) {
    for (const auto& x : s) compile_patterns(x, out);
  }
}

}  // namespace

JsonSchema::JsonSchema(const std::string& schema_text)
    : schema_(std::make_unique<json>(json::parse(schema_text))), patterns_(std::make_unique<Patterns>()) {
  compile_patterns(*schema_, patterns_->by_node);
}
JsonSchema::~JsonSchema() = default;

std::optional<SchemaViolation> JsonSchema::validate(const json& doc) const {
  Walk walk{patterns_->by_node, {}};
  walk.path.reserve(64);
  return walk.check(*schema_, doc);
}

}  // namespace minyi
