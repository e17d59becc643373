// The benchmark's request bodies, shared by the load generator and the micro-benchmarks:
// web-channel JSON of ~target_bytes of real Chinese text from the CSV (`detail`, padded
// with other rows' text; `subject` as the title) and a phone number per message.
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/csv.hpp"

namespace minyi::bench {

// Cuts UTF-8 text to at most n bytes on a character boundary.
inline std::string cut_utf8(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t k = n;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return s.substr(0, k);
}

inline std::vector<std::string> make_bodies(const std::string& csv, size_t target_bytes) {
  auto rows = minyi::csv::read_csv(csv);
  if (rows.size() < 2) throw std::runtime_error(csv + " has no data rows");
  const auto& head = rows[0];
  auto col = [&](const char* name) -> long {
    auto it = std::find(head.begin(), head.end(), name);
    return it == head.end() ? -1 : it - head.begin();
  };
  long detail = col("detail"), subject = col("subject");
  if (detail < 0) throw std::runtime_error(csv + " has no 'detail' column");
  std::vector<std::string> bodies;
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() <= static_cast<size_t>(detail) || rows[r][detail].empty()) continue;
    std::string text = rows[r][detail];
    while (text.size() < target_bytes) text += " " + rows[(r * 7919) % (rows.size() - 1) + 1][detail];
    nlohmann::json j;
    if (subject >= 0 && rows[r].size() > static_cast<size_t>(subject)) j["title"] = cut_utf8(rows[r][subject], 300);
    j["content"] = cut_utf8(text, target_bytes);
    j["submitter"] = {{"phone", "138" + std::to_string(10000000 + r)}};
    bodies.push_back(j.dump());
  }
  return bodies;
}

}  // namespace minyi::bench
