// Charset detection and decoding of raw bytes from channels (files, mail parts, exports):
// UTF-8, GB18030/GBK, Big5 and UTF-16 with a byte-order mark.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace minyi {

struct DecodedText {
  std::string utf8;         // the text, valid UTF-8, without a byte-order mark
  std::string charset;      // "utf-8", "gb18030", "big5", "utf-16le", "utf-16be"
  size_t replacements = 0;  // undecodable sequences replaced by U+FFFD
  bool replaced() const { return replacements > 0; }
};

// Decodes `bytes`. With a declared charset (e.g. from a Content-Type or a MIME part; names
// like "GB2312", "GBK", "cp936", "x-gbk" mean GB18030), that charset is used; otherwise it
// is detected: a BOM, then strict UTF-8, then GB18030 vs Big5 by which decodes cleanly and
// reads like common Chinese. The byte 0x80, which GBK (Windows code page 936) maps to '€'
// but GB18030 leaves undefined, decodes to '€' rather than failing.
DecodedText decode_text(std::string_view bytes, std::string_view declared_charset = {});

}  // namespace minyi
