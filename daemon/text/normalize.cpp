// Matching normalization. ICU's Traditional-Simplified transliterator is far too slow to
// run per message, so its single-character mappings are collected once into a table.
#include "text/normalize.hpp"

#include <unicode/normalizer2.h>
#include <unicode/translit.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>

#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/text.hpp"

namespace minyi {

namespace {

// Han characters in CJK Unified Ideographs Extension A and the main block; the table holds
// each one's simplified form (itself when there is none): a flat array, one load per character.
constexpr char32_t kHanLo = 0x3400, kHanHi = 0x9FFF;

struct SimplifiedTable {
  std::vector<char32_t> map;  // index c - kHanLo

  SimplifiedTable() {
    UErrorCode ec = U_ZERO_ERROR;
    std::unique_ptr<icu::Transliterator> t(
        icu::Transliterator::createInstance("Traditional-Simplified", UTRANS_FORWARD, ec));
    if (U_FAILURE(ec) || !t) throw std::runtime_error("ICU Traditional-Simplified transliterator unavailable");
    // CJK Unified Ideographs and Extension A cover the characters in use; compatibility
    // ideographs are folded by NFKC before this table is consulted.
    map.resize(kHanHi - kHanLo + 1);
    for (char32_t c = kHanLo; c <= kHanHi; ++c) {
      map[c - kHanLo] = c;
      if (c > 0x4DBF && c < 0x4E00) continue;  // Yijing hexagram symbols: not Han
      icu::UnicodeString s(static_cast<UChar32>(c));
      t->transliterate(s);
      if (s.countChar32() == 1) map[c - kHanLo] = static_cast<char32_t>(s.char32At(0));
    }
  }
  char32_t operator()(char32_t c) const { return c >= kHanLo && c <= kHanHi ? map[c - kHanLo] : c; }
};

const SimplifiedTable& simplified_table() {
  static const SimplifiedTable table;
  return table;
}

// Fillers of spoken Chinese, longest first so "就是说" wins over "就是".
// Only sounds and set phrases: "这个" or "额" also carry meaning ("这个小区", "额度").
const std::array<std::u32string_view, 7> kFillers = {U"就是说", U"那个", U"然后呢", U"嗯", U"啊", U"呃", U"哦"};

}  // namespace

char32_t to_simplified(char32_t c) { return simplified_table()(c); }

std::string normalize_for_matching(std::string_view utf8, const MatchTextOptions& opts) {
  return u32_to_utf8(normalize_for_matching_u32(utf8, opts));
}

std::u32string normalize_for_matching_u32(std::string_view utf8, const MatchTextOptions& opts) {
  UErrorCode ec = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(ec);
  if (U_FAILURE(ec)) throw std::runtime_error("ICU NFKC_Casefold normalizer unavailable");
  icu::UnicodeString in =
      icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  icu::UnicodeString folded = nfkc_cf->normalize(in, ec);
  if (U_FAILURE(ec)) throw std::runtime_error("ICU NFKC_Casefold normalization failed");

  const SimplifiedTable& simplified = simplified_table();
  std::u32string kept;
  kept.reserve(static_cast<size_t>(folded.length()));
  for (int32_t i = 0; i < folded.length();) {
    UChar32 c = folded.char32At(i);
    i += U16_LENGTH(c);
    if (!u_isalnum(c)) {  // punctuation, symbols, white space, controls
      if (opts.keep_separators && !kept.empty() && kept.back() != U' ') kept += U' ';
      continue;
    }
    kept += simplified(static_cast<char32_t>(c));
  }
  if (opts.drop_asr_fillers) {
    std::u32string out;
    out.reserve(kept.size());
    for (size_t i = 0; i < kept.size();) {
      bool skipped = false;
      for (auto f : kFillers)
        if (kept.compare(i, f.size(), f) == 0) {
          i += f.size();
          skipped = true;
          break;
        }
      if (!skipped) out += kept[i++];
    }
    kept.swap(out);
  }
  return kept;
}

}  // namespace minyi
