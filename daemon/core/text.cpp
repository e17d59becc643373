// Text clean-up shared by intake and channels.
#include "core/text.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <stdexcept>

namespace minyi {

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

namespace {

std::string nfc_trim_impl(std::string_view s, bool valid) {
  UErrorCode ec = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(ec);
  if (U_FAILURE(ec)) throw std::runtime_error("ICU NFC normalizer unavailable");
  // Nearly all text arrives in NFC already: checked on the UTF-8 bytes and trimmed in
  // place, it needs no round trip through UTF-16 (a few µs per suggestion on the network
  // threads). Ill-formed input takes the long way, which replaces bad bytes with U+FFFD.
  if (s.size() <= INT32_MAX && (valid || is_valid_utf8(s))) {
    UErrorCode qc = U_ZERO_ERROR;
    if (nfc->isNormalizedUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), qc) && U_SUCCESS(qc)) {
      const char* p = s.data();
      int32_t start = 0, end = static_cast<int32_t>(s.size());
      while (start < end) {
        int32_t next = start;
        UChar32 c;
        U8_NEXT(p, next, end, c);
        if (c < 0 || !u_isUWhiteSpace(c)) break;
        start = next;
      }
      while (end > start) {
        int32_t prev = end;
        UChar32 c;
        U8_PREV(p, start, prev, c);
        if (c < 0 || !u_isUWhiteSpace(c)) break;
        end = prev;
      }
      return std::string(s.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
    }
  }
  icu::UnicodeString in = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  icu::UnicodeString out;
  if (nfc->isNormalized(in, ec) && U_SUCCESS(ec)) {
    out = in;
  } else {
    ec = U_ZERO_ERROR;
    out = nfc->normalize(in, ec);
    if (U_FAILURE(ec)) throw std::runtime_error("ICU NFC normalization failed");
  }
  int32_t start = 0, end = out.length();
  while (start < end && u_isUWhiteSpace(out.char32At(start))) start = out.moveIndex32(start, 1);
  while (end > start) {
    int32_t prev = out.moveIndex32(end, -1);
    if (!u_isUWhiteSpace(out.char32At(prev))) break;
    end = prev;
  }
  std::string result;
  out.tempSubStringBetween(start, end).toUTF8String(result);
  return result;
}

}  // namespace

std::string nfc_trim(std::string_view s) { return nfc_trim_impl(s, false); }
std::string nfc_trim_valid(std::string_view valid_utf8) { return nfc_trim_impl(valid_utf8, true); }

std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  utf8_to_u32(s, out);
  return out;
}

void utf8_to_u32(std::string_view s, std::u32string& out) {
  out.clear();
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    size_t len;
    if (c < 0x80)
      cp = c, len = 1;
    else if (c < 0xE0)
      cp = c & 0x1F, len = 2;
    else if (c < 0xF0)
      cp = c & 0x0F, len = 3;
    else
      cp = c & 0x07, len = 4;
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out += cp;
    i += len;
  }
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size() * 3);
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

}  // namespace minyi
