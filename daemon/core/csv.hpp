// RFC 4180 CSV reading (quoted fields may hold commas, quotes, newlines) for tools and benchmarks.
#pragma once

#include <string>
#include <vector>

namespace minyi::csv {

// All rows of the file, the header first. Throws when the file cannot be read.
std::vector<std::vector<std::string>> read_csv(const std::string& path);
// Index of a header column, or -1.
long column(const std::vector<std::string>& header, const char* name);

}  // namespace minyi::csv
