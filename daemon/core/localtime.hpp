// Local wall times from exports and call-centre systems ("2024-03-05 14:30:00", no offset)
// turned into RFC 3339 with the offset their zone had then (ICU's time-zone data).
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace minyi {

struct LocalTimeError {
  std::string reason;
};

// Accepts, with '-', '/' or '.' between date parts or 年/月/日:
//   yyyy-MM-dd, yyyy-MM-dd HH:mm, yyyy-MM-dd HH:mm:ss[.fff] (also 'T' before the time,
//   one-digit month/day/hour), and RFC 3339 text that already carries Z or an offset
//   (normalized, zone ignored). zone is an IANA name such as "Asia/Shanghai".
std::variant<std::string, LocalTimeError> local_time_to_rfc3339(std::string_view text, std::string_view zone);

}  // namespace minyi
