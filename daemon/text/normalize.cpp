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
#include <unordered_map>
#include <vector>

#include "core/text.hpp"

namespace minyi {

namespace {

// Han characters in CJK Unified Ideographs Extension A and the main block. Most map to
// themselves; a bit per character marks the few thousand that do not (traditional forms,
// and what is not a letter), whose mappings sit in a hash table. The bits (3.4 KB) stay in
// cache under load, where a full table of mappings (108 KB) did not.
constexpr char32_t kHanLo = 0x3400, kHanHi = 0x9FFF;

struct SimplifiedTable {
  std::vector<uint64_t> changes;                  // bit c - kHanLo: see `mapped`
  std::unordered_map<char32_t, char32_t> mapped;  // the simplified form; 0 for not a letter

  SimplifiedTable() : changes((kHanHi - kHanLo + 64) / 64, 0) {
    UErrorCode ec = U_ZERO_ERROR;
    std::unique_ptr<icu::Transliterator> t(
        icu::Transliterator::createInstance("Traditional-Simplified", UTRANS_FORWARD, ec));
    if (U_FAILURE(ec) || !t) throw std::runtime_error("ICU Traditional-Simplified transliterator unavailable");
    // CJK Unified Ideographs and Extension A cover the characters in use; compatibility
    // ideographs are folded by NFKC before this table is consulted.
    for (char32_t c = kHanLo; c <= kHanHi; ++c) {
      char32_t to = u_isalnum(static_cast<UChar32>(c)) ? c : 0;  // 0: not a letter (unassigned, symbols)
      if (to) {
        icu::UnicodeString s(static_cast<UChar32>(c));
        t->transliterate(s);
        if (s.countChar32() == 1) to = static_cast<char32_t>(s.char32At(0));
      }
      if (to == c) continue;
      changes[(c - kHanLo) >> 6] |= uint64_t{1} << ((c - kHanLo) & 63);
      mapped.emplace(c, to);
    }
  }
  // c itself outside the table; inside, 0 for what is not a letter.
  char32_t operator()(char32_t c) const {
    if (c < kHanLo || c > kHanHi || !((changes[(c - kHanLo) >> 6] >> ((c - kHanLo) & 63)) & 1)) return c;
    return mapped.find(c)->second;
  }
};

const SimplifiedTable& simplified_table() {
  static const SimplifiedTable table;
  return table;
}

// Fillers of spoken Chinese, longest first so "就是说" wins over "就是".
// Only sounds and set phrases: "这个" or "额" also carry meaning ("这个小区", "额度").
const std::array<std::u32string_view, 7> kFillers = {U"就是说", U"那个", U"然后呢", U"嗯", U"啊", U"呃", U"哦"};

}  // namespace

char32_t to_simplified(char32_t c) {
  char32_t s = simplified_table()(c);
  return s ? s : c;
}

std::string normalize_for_matching(std::string_view utf8, const MatchTextOptions& opts) {
  return u32_to_utf8(normalize_for_matching_u32(utf8, opts));
}

namespace {

// Characters NFKC_Casefold maps by a rule known here, each a normalization boundary on its
// own (combining class 0, never composing with a neighbour except a following mark): ASCII
// (upper case folds to lower case) and the Han blocks (unchanged).
bool fast_char(char32_t c) { return c < 0x80 || (c >= kHanLo && c <= kHanHi); }

char32_t decode_utf8(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  size_t len = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  char32_t c = b & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len && i + k < s.size(); ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return c;
}

}  // namespace

std::u32string normalize_for_matching_u32(std::string_view utf8, const MatchTextOptions& opts) {
  std::u32string out;
  append_normalized_for_matching(utf8, opts, out);
  return out;
}

void append_normalized_for_matching(std::string_view utf8, const MatchTextOptions& opts, std::u32string& kept) {
  UErrorCode ec = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(ec);
  if (U_FAILURE(ec)) throw std::runtime_error("ICU NFKC_Casefold normalizer unavailable");
  const SimplifiedTable& simplified = simplified_table();
  const size_t start = kept.size();  // what was there before is left as it is
  size_t chars = 0;                  // code points: what the result usually needs
  for (char b : utf8) chars += (static_cast<unsigned char>(b) & 0xC0) != 0x80;
  kept.reserve(start + chars);
  auto emit = [&](char32_t c) {
    if (!u_isalnum(static_cast<UChar32>(c))) {  // punctuation, symbols, white space, controls
      if (opts.keep_separators && kept.size() > start && kept.back() != U' ') kept += U' ';
      return;
    }
    const char32_t s = simplified(c);
    kept += s ? s : c;
  };
  // ASCII and Han are handled here; every other run goes through ICU. The text splits at
  // normalization boundaries, so the result is that of normalizing it whole: a run that
  // starts with a character combining backwards (a mark after "e") takes the preceding
  // fast character with it.
  size_t prev_start = std::string_view::npos, prev_kept = 0;  // the last fast character
  for (size_t i = 0; i < utf8.size();) {
    const size_t at = i;
    char32_t c = decode_utf8(utf8, i);
    if (fast_char(c)) {
      prev_start = at;
      prev_kept = kept.size();
      if (c >= U'A' && c <= U'Z') c += 32;
      const char32_t letter = c < 0x80 ? ((c >= U'a' && c <= U'z') || (c >= U'0' && c <= U'9') ? c : 0) : simplified(c);
      if (letter)
        kept += letter;
      else if (opts.keep_separators && kept.size() > start && kept.back() != U' ')
        kept += U' ';
      continue;
    }
    size_t from = at;
    // prev_start is only set when that character came right before this one.
    if (prev_start != std::string_view::npos && !nfkc_cf->hasBoundaryBefore(static_cast<UChar32>(c))) {
      from = prev_start;  // e.g. "e" + U+0301 composes to "é"
      kept.resize(prev_kept);
    }
    // The run ends before the next fast character.
    size_t to = i;
    while (to < utf8.size()) {
      size_t next = to;
      if (fast_char(decode_utf8(utf8, next))) break;
      to = next;
    }
    i = to;
    prev_start = std::string_view::npos;
    icu::UnicodeString run =
        icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data() + from, static_cast<int32_t>(to - from)));
    icu::UnicodeString folded = nfkc_cf->normalize(run, ec);
    if (U_FAILURE(ec)) throw std::runtime_error("ICU NFKC_Casefold normalization failed");
    for (int32_t k = 0; k < folded.length();) {
      UChar32 f = folded.char32At(k);
      k += U16_LENGTH(f);
      emit(static_cast<char32_t>(f));
    }
  }
  if (opts.drop_asr_fillers) {
    std::u32string out(kept, 0, start);
    out.reserve(kept.size());
    for (size_t i = start; i < kept.size();) {
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
}

}  // namespace minyi
