// A small JSON Schema validator for the subset minyi's own schemas use: type, enum,
// required, properties, additionalProperties (boolean), items, minLength/maxLength
// (code points), minimum/maximum, maxItems, pattern, and format "date-time".
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

namespace minyi {

struct SchemaViolation {
  std::string field;    // dotted path, e.g. "submitter.phone" or "attachments[2].url"
  std::string code;     // missing_field | wrong_type | invalid_value | unknown_field | too_long
  std::string message;  // human-readable, names the field and the expectation
};

class JsonSchema {
 public:
  explicit JsonSchema(const std::string& schema_text);
  ~JsonSchema();
  // First violation in document order, or nullopt when valid.
  std::optional<SchemaViolation> validate(const nlohmann::json& doc) const;

 private:
  std::unique_ptr<nlohmann::json> schema_;
  // Each "pattern" of the schema, compiled once (keyed by its node in schema_).
  struct Patterns;
  std::unique_ptr<Patterns> patterns_;
};

}  // namespace minyi
