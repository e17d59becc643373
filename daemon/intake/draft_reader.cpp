// The draft's JSON read in one pass into a nlohmann-json document (see draft_reader.hpp).
#include "intake/draft_reader.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "core/json_writer.hpp"
#include "core/text.hpp"

namespace minyi {

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 256;

class Reader {
 public:
  explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool document(json& out) {
    // nlohmann skips a UTF-8 byte order mark; leave such texts to it.
    if (p_ < end_ && static_cast<unsigned char>(*p_) == 0xEF) return false;
    skip_ws();
    if (!value(out, 0)) return false;
    skip_ws();
    return p_ == end_;
  }

 private:
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool value(json& out, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't':
        out = true;
        return literal("true");
      case 'f':
        out = false;
        return literal("false");
      case 'n':
        out = nullptr;
        return literal("null");
      default:
        return number(out);
    }
  }

  bool object(json& out, int depth) {
    if (depth > kMaxDepth) return false;
    out = json::object();
    if (opens_empty('}')) return true;
    std::string key;
    for (;;) {
      if (p_ == end_ || *p_ != '"' || !string(key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      json member;
      if (!value(member, depth)) return false;
      out[key] = std::move(member);  // a later duplicate replaces the earlier one, as in nlohmann
      if (auto after = next_item('}'); after != After::Comma) return after == After::Closed;
    }
  }

  bool array(json& out, int depth) {
    if (depth > kMaxDepth) return false;
    out = json::array();
    if (opens_empty(']')) return true;
    for (;;) {
      json element;
      if (!value(element, depth)) return false;
      out.push_back(std::move(element));
      if (auto after = next_item(']'); after != After::Comma) return after == After::Closed;
    }
  }

  // At an opening bracket: steps past it (and whitespace); true when the closing one follows.
  bool opens_empty(char close) {
    ++p_;
    skip_ws();
    if (p_ == end_ || *p_ != close) return false;
    ++p_;
    return true;
  }

  enum class After { Comma, Closed, Error };

  // After a member or element: a comma (and the whitespace after it), or the closing bracket.
  After next_item(char close) {
    skip_ws();
    if (p_ == end_) return After::Error;
    if (*p_ == close) {
      ++p_;
      return After::Closed;
    }
    if (*p_ != ',') return After::Error;
    ++p_;
    skip_ws();
    return After::Comma;
  }

  // Plain bytes are copied in runs, each run's UTF-8 checked whole: a multi-byte sequence
  // cut by an escape or the closing quote is invalid either way.
  bool string(std::string& out) {
    out.clear();
    ++p_;  // '"'
    const char* run = p_;
    auto flush = [&] {
      std::string_view part(run, static_cast<size_t>(p_ - run));
      if (!is_valid_utf8(part)) return false;
      out.append(part);
      return true;
    };
    for (;;) {
      while (end_ - p_ >= 8 && !json_word_has_special(p_)) p_ += 8;
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        if (!flush()) return false;
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        ++p_;
        continue;
      }
      if (!flush()) return false;
      if (++p_ == end_) return false;
      switch (*p_) {
        case '"':
        case '\\':
        case '/':
          out += *p_;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (!unicode_escape(out)) return false;
          break;
        default:
          return false;
      }
      run = ++p_;
    }
  }

  // p_ at the 'u' of \uXXXX; on success at its last hex digit (of the low surrogate's,
  // for a pair).
  bool unicode_escape(std::string& out) {
    auto unit = [&]() -> long {
      if (end_ - p_ < 5) return -1;
      long v = 0;
      for (int k = 1; k <= 4; ++k) {
        const char h = p_[k];
        const int d = h >= '0' && h <= '9'   ? h - '0'
                      : h >= 'a' && h <= 'f' ? h - 'a' + 10
                      : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                             : -1;
        if (d < 0) return -1;
        v = v << 4 | d;
      }
      p_ += 4;
      return v;
    };
    long cp = unit();
    if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (end_ - p_ < 3 || p_[1] != '\\' || p_[2] != 'u') return false;
      p_ += 2;
      const long low = unit();
      if (low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, static_cast<char32_t>(cp));
    return true;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, typed as nlohmann types it.
  bool number(json& out) {
    const char* start = p_;
    auto digits = [&] {
      const char* from = p_;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      return p_ > from;
    };
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (!digits()) {
      return false;
    }
    const char* int_end = p_;
    bool fraction = false;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
      fraction = true;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
      fraction = true;
    }
    if (!fraction) {
      const char* first = start + (negative ? 1 : 0);
      if (int_end - first > 18) return false;  // nlohmann's range checks are its own
      uint64_t v = 0;
      for (const char* d = first; d < int_end; ++d) v = v * 10 + static_cast<uint64_t>(*d - '0');
      if (negative)
        out = -static_cast<int64_t>(v);
      else
        out = v;
      return true;
    }
    // The same conversion nlohmann's lexer makes (strtod, C locale), on a terminated copy.
    const size_t len = static_cast<size_t>(p_ - start);
    if (len > 64) return false;
    char buf[65];
    std::memcpy(buf, start, len);
    buf[len] = '\0';
    const double d = std::strtod(buf, nullptr);
    if (!std::isfinite(d)) return false;
    out = d;
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool read_json_fast(std::string_view text, nlohmann::json& out) {
  Reader r(text);
  json doc;
  if (!r.document(doc)) return false;
  out = std::move(doc);
  return true;
}

}  // namespace minyi
