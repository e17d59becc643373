// A minimal JSON writer for documents minyi renders on hot paths. Strings must be valid
// UTF-8 (checked at intake); they are escaped per RFC 8259 and otherwise copied as is.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace minyi {

// True when one of the 8 bytes at p ends a plain run of JSON string text: a control
// character, '"' or '\\'. The classic "has a zero byte" test, (v - 0x01..) & ~v & 0x80..,
// on the word itself (bytes below 0x20) and on it XOR '"' and XOR '\\': exact as a yes/no
// answer for any byte values. Strings are mostly plain bytes (all of UTF-8's multi-byte
// sequences), so writers and readers skip them eight at a time.
inline bool json_word_has_special(const char* p) {
  constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t w;
  std::memcpy(&w, p, 8);
  const uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
  return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs;
}

// Appends JSON text for s (with quotes) to out.
void append_json_string(std::string& out, std::string_view s);

class JsonWriter {
 public:
  JsonWriter(std::string& out, size_t reserve) : out_(out) { out_.reserve(reserve); }
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(std::string_view k) {
    comma();
    append_json_string(out_, k);
    out_ += ':';
    after_key_ = true;
  }
  void string(std::string_view v) {
    comma();
    append_json_string(out_, v);
  }
  void field(std::string_view k, std::string_view v) {
    key(k);
    string(v);
  }
  // v must already be valid JSON.
  void raw_field(std::string_view k, std::string_view v) {
    key(k);
    comma();
    out_ += v;
  }
  void boolean(bool v) {
    comma();
    out_ += v ? "true" : "false";
  }
  void integer(int64_t v) {
    comma();
    out_ += std::to_string(v);
  }
  void number(double v);

 private:
  void comma() {
    if (after_key_)
      after_key_ = false;
    else if (need_comma_)
      out_ += ',';
    need_comma_ = true;
  }
  void open(char c) {
    comma();
    out_ += c;
    need_comma_ = false;
  }
  void close(char c) {
    out_ += c;
    need_comma_ = true;
  }

  std::string& out_;
  bool need_comma_ = false;
  bool after_key_ = false;
};

}  // namespace minyi
