#include "core/localtime.hpp"

#include <unicode/calendar.h>
#include <unicode/gregocal.h>
#include <unicode/timezone.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/timefmt.hpp"

namespace minyi {
namespace {

// Reads 1..max digits at pos.
bool number(std::string_view s, size_t& pos, size_t max, int& out) {
  size_t start = pos;
  out = 0;
  while (pos < s.size() && pos - start < max && s[pos] >= '0' && s[pos] <= '9') out = out * 10 + (s[pos++] - '0');
  return pos > start;
}

bool skip(std::string_view s, size_t& pos, std::string_view token) {
  if (s.substr(pos, token.size()) != token) return false;
  pos += token.size();
  return true;
}

bool date_sep(std::string_view s, size_t& pos) { return skip(s, pos, "-") || skip(s, pos, "/") || skip(s, pos, "."); }

int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

// Time zones are created once per name (ICU creation parses rule data).
const icu::TimeZone* zone_named(std::string_view name) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::unique_ptr<icu::TimeZone>> zones;
  std::lock_guard lock(mu);
  auto& z = zones[std::string(name)];
  if (!z) {
    z.reset(icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(icu::StringPiece(name.data(), name.size()))));
    icu::UnicodeString id;
    z->getID(id);
    if (id == icu::UnicodeString(u"Etc/Unknown")) z.reset();
  }
  return z.get();
}

}  // namespace

std::variant<std::string, LocalTimeError> local_time_to_rfc3339(std::string_view text, std::string_view zone) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) return LocalTimeError{"empty time"};
  if (auto ms = parse_rfc3339(text)) {
    // Already absolute: keep its meaning, render in UTC.
    time_t secs = static_cast<time_t>(*ms / 1000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf);
  }
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  bool cjk = false;
  if (!number(text, pos, 4, y) || pos != 4) return LocalTimeError{"expected a date like 2024-03-05 14:30:00"};
  if (skip(text, pos, "年")) {
    cjk = true;
  } else if (!date_sep(text, pos)) {
    return LocalTimeError{"expected a date like 2024-03-05 14:30:00"};
  }
  if (!number(text, pos, 2, mo)) return LocalTimeError{"the month is missing"};
  if (cjk ? !skip(text, pos, "月") : !date_sep(text, pos)) return LocalTimeError{"the day is missing"};
  if (!number(text, pos, 2, d)) return LocalTimeError{"the day is missing"};
  if (cjk) skip(text, pos, "日");
  if (pos < text.size()) {
    if (!skip(text, pos, "T") && !skip(text, pos, " ")) return LocalTimeError{"unexpected text after the date"};
    while (skip(text, pos, " ")) {
    }
    if (!number(text, pos, 2, h) || !(skip(text, pos, ":") || skip(text, pos, "时") || skip(text, pos, "点")))
      return LocalTimeError{"expected a time like 14:30 or 14:30:00"};
    if (!number(text, pos, 2, mi)) return LocalTimeError{"the minutes are missing"};
    skip(text, pos, "分");
    if (skip(text, pos, ":")) {
      if (!number(text, pos, 2, sec)) return LocalTimeError{"the seconds are missing"};
      if (skip(text, pos, ".")) {
        int frac = 0;
        if (!number(text, pos, 9, frac)) return LocalTimeError{"bad fraction of a second"};
      }
    }
    skip(text, pos, "秒");
    if (pos != text.size()) return LocalTimeError{"unexpected text after the time"};
  }
  if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
    return LocalTimeError{"no such date or time"};
  const icu::TimeZone* tz = zone_named(zone);
  if (!tz) return LocalTimeError{"unknown time zone '" + std::string(zone) + "'"};
  UErrorCode status = U_ZERO_ERROR;
  icu::GregorianCalendar cal(*tz, status);
  if (U_FAILURE(status)) return LocalTimeError{"time zone data unavailable"};
  cal.clear();
  cal.set(y, mo - 1, d, h, mi, sec);
  UDate when = cal.getTime(status);
  int32_t raw = 0, dst = 0;
  tz->getOffset(when, false, raw, dst, status);
  if (U_FAILURE(status)) return LocalTimeError{"cannot compute the offset"};
  int off = (raw + dst) / 60000;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, mo, d, h, mi, sec, sign, off / 60,
                off % 60);
  return std::string(buf);
}

}  // namespace minyi
