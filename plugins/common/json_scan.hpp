// A JSON syntax check that builds nothing: one pass over the text (RFC 8259 grammar,
// surrogate pairs in \u escapes checked), reporting each object member's name with the
// containers around it. A channel that forwards a JSON body as its draft checks the body
// with it instead of parsing it into a document the host parses again anyway.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace minyi::plugins {

// One open container, from the root inward.
struct JsonFrame {
  bool array = false;
  std::string name;    // member name under which it sits in an object ("" for the root)
  size_t index = 0;    // element index when it sits in an array
  size_t members = 0;  // members or elements seen so far
};

struct JsonSyntaxError {
  size_t byte;  // 1-based offset of the byte where the text stops being JSON
};

// Calls on_member(path, name) for every member of every object, path ending with the
// object itself (path.size() == 1 for the root's members). Member names arrive with
// their escapes decoded. UTF-8 is not checked here: the caller validates the bytes.
// Returns the first syntax error, or nullopt for a complete JSON text.
std::optional<JsonSyntaxError> scan_json(
    std::string_view text,
    const std::function<void(const std::vector<JsonFrame>& path, std::string_view name)>& on_member);

// Whether a text (already checked by scan_json) is an object, not an array or a scalar.
bool json_root_is_object(std::string_view text);

}  // namespace minyi::plugins
