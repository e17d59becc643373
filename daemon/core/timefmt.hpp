// RFC 3339 timestamps: formatting with the local offset, strict parsing.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minyi {

int64_t wall_clock_ms();
// "2026-11-27T09:30:12.123+08:00" in the process's local zone (TZ).
std::string format_rfc3339_local(int64_t unix_ms);
// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" (also 't'/' ' separator and 'z').
// Returns Unix ms, or nullopt when malformed or out of range.
std::optional<int64_t> parse_rfc3339(std::string_view s);

}  // namespace minyi
