// A single pass over a JSON text with an explicit stack (no recursion, so no depth limit
// to pick and no stack to overflow).
#include "json_scan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace minyi::plugins {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// True when one of the 8 bytes at p ends a string's plain run: a control character, '"'
// or '\\' (the "has a zero byte" test on the word, and on it XOR '"' and XOR '\\').
// The daemon's core has the same test (json_word_has_special); plugins do not link it.
bool word_has_special(const char* p) {
  constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t w;
  std::memcpy(&w, p, 8);
  const uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
  return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

struct Scanner {
  explicit Scanner(std::string_view text) : s_(text) {}

  // `i_` is at the opening quote; on success it is past the closing one. The decoded
  // string goes to `out` when given.
  bool string(std::string* out) {
    if (out) out->clear();
    ++i_;
    size_t run = i_;
    for (;;) {
      // Most of a string is plain bytes (all of UTF-8's multi-byte sequences): eight at a time.
      while (i_ + 8 <= s_.size() && !word_has_special(s_.data() + i_)) i_ += 8;
      if (i_ >= s_.size()) return false;
      char c = s_[i_];
      if (c == '"') {
        if (out) out->append(s_.substr(run, i_ - run));
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        ++i_;
        continue;
      }
      if (out) out->append(s_.substr(run, i_ - run));
      if (++i_ >= s_.size()) return false;
      // The one-character escapes and what they stand for.
      static constexpr std::string_view kEscape = "\"\\/bfnrt", kMeans = "\"\\/\b\f\n\r\t";
      if (s_[i_] != 'u') {
        size_t k = kEscape.find(s_[i_]);
        if (k == std::string_view::npos) return false;
        if (out) *out += kMeans[k];
      } else {
        auto unit = code_unit();
        if (!unit) return false;
        uint32_t cp = *unit;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate on its own
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (i_ + 2 >= s_.size() || s_[i_ + 1] != '\\' || s_[i_ + 2] != 'u') return false;
          i_ += 2;
          auto low = code_unit();
          if (!low || *low < 0xDC00 || *low > 0xDFFF) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (*low - 0xDC00);
        }
        if (out) append_utf8(*out, cp);
      }
      run = ++i_;
    }
  }

  // `i_` is at the 'u' of \uXXXX; on success it is at the last hex digit.
  std::optional<uint32_t> code_unit() {
    if (i_ + 4 >= s_.size()) return std::nullopt;
    uint32_t v = 0;
    for (size_t k = 1; k <= 4; ++k) {
      int h = hex_value(s_[i_ + k]);
      if (h < 0) {
        i_ += k;
        return std::nullopt;
      }
      v = v << 4 | static_cast<uint32_t>(h);
    }
    i_ += 4;
    return v;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number() {
    size_t start = i_;
    bool exponent = false;
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;  // a leading zero stands alone: "01" is not a number
    } else if (!digits()) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
      exponent = true;
    }
    // Like the host's parser, refuse a number beyond the range of a double (1e400): it
    // could not be read back. Without an exponent that takes over 300 digits.
    if (exponent || i_ - start > 300) {
      std::string token(s_.substr(start, i_ - start));
      if (std::isinf(std::strtod(token.c_str(), nullptr))) return false;
    }
    return true;
  }

  bool digits() {
    size_t start = i_;
    while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    return i_ > start;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  void skip_ws() {
    while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Where the JSON text starts: past a UTF-8 byte order mark, which JSON parsers allow.
size_t text_start(std::string_view text) { return text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0; }

}  // namespace

bool json_root_is_object(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n", text_start(text));
  return first != std::string_view::npos && text[first] == '{';
}

std::optional<JsonSyntaxError> scan_json(
    std::string_view text,
    const std::function<void(const std::vector<JsonFrame>& path, std::string_view name)>& on_member) {
  Scanner sc(text);
  sc.i_ = text_start(text);
  auto fail = [&] { return JsonSyntaxError{std::min(sc.i_, text.size()) + 1}; };
  enum class Want { Value, ValueOrClose, Key, KeyOrClose, After };
  Want want = Want::Value;
  std::vector<JsonFrame> stack;
  std::string name;  // the member name just read: names a container that opens next
  for (;;) {
    sc.skip_ws();
    size_t& i = sc.i_;
    bool at_end = i >= text.size();
    if (want == Want::After) {
      if (stack.empty()) {
        if (!at_end) return fail();
        return std::nullopt;
      }
      if (at_end) return fail();
      bool array = stack.back().array;
      if (text[i] == ',') {
        ++i;
        want = array ? Want::Value : Want::Key;
      } else if (text[i] == (array ? ']' : '}')) {
        ++i;
        stack.pop_back();
      } else {
        return fail();
      }
      continue;
    }
    if (at_end) return fail();
    if (want == Want::Key || want == Want::KeyOrClose) {
      if (want == Want::KeyOrClose && text[i] == '}') {
        ++i;
        stack.pop_back();
        want = Want::After;
        continue;
      }
      if (text[i] != '"' || !sc.string(&name)) return fail();
      sc.skip_ws();
      if (i >= text.size() || text[i] != ':') return fail();
      ++i;
      ++stack.back().members;
      on_member(stack, name);
      want = Want::Value;
      continue;
    }
    if (want == Want::ValueOrClose && text[i] == ']') {
      ++i;
      stack.pop_back();
      want = Want::After;
      continue;
    }
    char c = text[i];
    if (c == '{' || c == '[') {
      JsonFrame frame;
      frame.array = c == '[';
      if (!stack.empty()) {
        if (stack.back().array)
          frame.index = stack.back().members++;
        else
          frame.name = name;
      }
      stack.push_back(std::move(frame));
      ++i;
      want = c == '[' ? Want::ValueOrClose : Want::KeyOrClose;
      continue;
    }
    bool ok;
    switch (c) {
      case '"':
        ok = sc.string(nullptr);
        break;
      case 't':
        ok = sc.literal("true");
        break;
      case 'f':
        ok = sc.literal("false");
        break;
      case 'n':
        ok = sc.literal("null");
        break;
      default:
        ok = (c == '-' || is_digit(c)) && sc.number();
        break;
    }
    if (!ok) return fail();
    if (!stack.empty() && stack.back().array) ++stack.back().members;
    want = Want::After;
  }
}

}  // namespace minyi::plugins
