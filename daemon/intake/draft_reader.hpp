// A faster way to the same nlohmann-json document for the drafts intake reads.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace minyi {

// Reads a JSON text (RFC 8259) into `out`: the document nlohmann::json::parse gives for
// the same text, with the same value types (unsigned for non-negative integers, signed
// for negative ones, double for the rest), the last of duplicate members kept. Strings
// are copied in runs and their UTF-8 checked run by run, where nlohmann's lexer goes byte
// by byte. Returns false whenever it is not sure to agree: a syntax error, invalid UTF-8,
// a byte order mark, integers of more than 18 digits, a number out of range, nesting
// deeper than 256. The caller then parses with nlohmann-json, whose verdict and error
// messages stand: this reader never accepts a text that parser refuses.
bool read_json_fast(std::string_view text, nlohmann::json& out);

}  // namespace minyi
