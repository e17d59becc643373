// Intake: turns a channel's draft (draft.v1) into a minyi.suggestion/1 document and a
// journal record — validation, text normalization, PII masking/hashing, attachments.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "intake/json_schema.hpp"
#include "intake/pii.hpp"
#include "journal/journal.hpp"

namespace minyi {

// Who submitted: fixed per channel instance.
struct IntakeSource {
  std::string instance;
  std::string plugin;
  std::string plugin_version;
  std::string channel;
};

struct IntakeRejection {
  std::string code;  // e.g. malformed_draft, missing_field, wrong_type, invalid_utf8
  std::string field;
  std::string message;
};

class Intake {
 public:
  // clock: Unix ms (injectable); pii_key: the HMAC key; dedup: compute signatures.
  Intake(std::string pii_key, std::function<int64_t()> clock, bool dedup = false,
         std::vector<std::string> gazetteer = {});

  // charset/replacements: what the channel decoded the text from (recorded in source).
  std::variant<JournalRecord, IntakeRejection> prepare(const IntakeSource& src, std::string_view draft_json,
                                                       std::string_view raw, std::string_view raw_content_type,
                                                       std::string_view charset = "utf-8",
                                                       uint32_t replacements = 0) const;
  int64_t now_ms() const { return clock_(); }

 private:
  JsonSchema draft_schema_;
  PiiHasher pii_;
  std::function<int64_t()> clock_;
  bool dedup_ = false;
  std::vector<std::string> gazetteer_;
};

}  // namespace minyi
