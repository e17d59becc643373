// Text normalization for matching (duplicate detection, clustering): the form two reports
// of the same thing share even when typed differently.
#pragma once

#include <string>
#include <string_view>

namespace minyi {

struct MatchTextOptions {
  // Drop spoken fillers (嗯, 啊, 呃, 那个, 就是说 …): for transcripts of calls and shows.
  bool drop_asr_fillers = false;
  // Replace each run of punctuation/white space by one space instead of removing it, so
  // clause boundaries survive (place extraction needs them).
  bool keep_separators = false;
};

// NFKC + case folding (ICU), Traditional → Simplified Chinese, full-width → half-width
// (part of NFKC), then only letters and digits are kept: punctuation, symbols and white
// space are removed. Input must be valid UTF-8; the result is UTF-8.
// Thread-safe; the first call builds the conversion table (~0.3 s).
std::string normalize_for_matching(std::string_view utf8, const MatchTextOptions& opts = {});
// The same, as code points (what the matching code works on).
std::u32string normalize_for_matching_u32(std::string_view utf8, const MatchTextOptions& opts = {});
// The same, appended to out; what out held before is neither changed nor looked at (a
// separator is never put first).
void append_normalized_for_matching(std::string_view utf8, const MatchTextOptions& opts, std::u32string& out);

// Traditional → Simplified for one code point (itself when there is no single-character
// simplified form).
char32_t to_simplified(char32_t c);

}  // namespace minyi
