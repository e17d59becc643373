// UTF-8 validation and Unicode normalization of incoming text.
#pragma once
#include <string>
#include <string_view>

namespace minyi {

// True when s is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_valid_utf8(std::string_view s);
// NFC-normalizes (ICU) and trims Unicode white space at both ends. Ill-formed UTF-8 is
// repaired on the way (U+FFFD).
std::string nfc_trim(std::string_view s);
// The same for text already known to be well-formed UTF-8 (a string of a parsed JSON
// document): skips nfc_trim's own check of it.
std::string nfc_trim_valid(std::string_view valid_utf8);
// Code points of valid UTF-8, and back.
std::u32string utf8_to_u32(std::string_view s);
// The same into out (cleared first), reusing its storage.
void utf8_to_u32(std::string_view s, std::u32string& out);
void append_utf8(std::string& out, char32_t c);
std::string u32_to_utf8(std::u32string_view s);

}  // namespace minyi
