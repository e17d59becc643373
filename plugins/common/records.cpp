#include "records.hpp"

#include <zip.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

namespace minyi::plugins {

namespace {

std::string trim(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  size_t b = 0, e = s.size();
  while (b < e && ws(s[b])) ++b;
  while (e > b && ws(s[e - 1])) --e;
  // U+3000 (ideographic space) is common around Chinese cells.
  while (e - b >= 3 && s.compare(b, 3, "\xE3\x80\x80") == 0) b += 3;
  while (e - b >= 3 && s.compare(e - 3, 3, "\xE3\x80\x80") == 0) e -= 3;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Raw byte lines of a file, each at most `max` bytes (longer ones are reported, skipped).
class LineSource {
 public:
  LineSource(const std::string& path, size_t max) : in_(path, std::ios::binary), max_(max) {}
  // False at the end. `too_long` is set when the line exceeded max (its text is dropped).
  bool next(std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    for (;;) {
      if (pos_ == buf_.size()) {
        buf_.resize(1 << 16);
        in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        buf_.resize(static_cast<size_t>(in_.gcount()));
        pos_ = 0;
        if (buf_.empty()) return !line.empty() || too_long;
      }
      size_t nl = buf_.find('\n', pos_);
      size_t end = nl == std::string::npos ? buf_.size() : nl;
      if (!too_long) {
        line.append(buf_, pos_, end - pos_);
        if (line.size() > max_) {
          too_long = true;
          line.clear();
        }
      }
      pos_ = end;
      if (nl != std::string::npos) {
        ++pos_;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
    }
  }

 private:
  std::ifstream in_;
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;
};

// The charset of a text file, from its first 64 KiB (cut at a line end so a multi-byte
// character is never split).
std::string detect_charset(const minyi::Host& host, const std::string& path, std::string_view declared,
                           OpenError& err) {
  std::ifstream in(path, std::ios::binary);
  std::string sample(1 << 16, '\0');
  in.read(sample.data(), static_cast<std::streamsize>(sample.size()));
  sample.resize(static_cast<size_t>(in.gcount()));
  if (sample.empty() || sample.find_first_not_of(" \t\r\n") == std::string::npos) {
    err.reason = "the file is empty";
    return {};
  }
  if (sample.size() >= 2 &&
      ((sample[0] == '\xFF' && sample[1] == '\xFE') || (sample[0] == '\xFE' && sample[1] == '\xFF'))) {
    err.reason = "UTF-16 text is not supported; save the export as CSV (UTF-8 or GBK)";
    return {};
  }
  if (!declared.empty()) return std::string(declared);
  if (sample.size() == (1u << 16))
    if (auto nl = sample.rfind('\n'); nl != std::string::npos) sample.resize(nl + 1);
  return host.decode_text(sample).charset;
}

class TextRecords : public RecordReader {
 public:
  TextRecords(const minyi::Host& host, const std::string& path, size_t max, bool jsonl)
      : host_(host), lines_(path, max), max_(max), jsonl_(jsonl) {}

  void set_charset(std::string cs) { charset_ = std::move(cs); }

  // Reads the header row (CSV).
  bool read_header(OpenError& err) {
    Record r;
    std::vector<std::string> cells;
    for (;;) {
      if (!physical_record(cells, r)) {
        err.reason = "the file has no header row";
        return false;
      }
      if (!r.problem.empty()) {
        err.reason = "the header row cannot be read: " + r.problem;
        return false;
      }
      if (r.replacements) {
        err.reason = "the header row is not valid " + charset_ + "; check the file's encoding";
        return false;
      }
      if (!(cells.size() == 1 && cells[0].empty())) break;
    }
    for (auto& c : cells) {
      std::string name = trim(c);
      if (name.rfind("\xEF\xBB\xBF", 0) == 0) name = name.substr(3);  // BOM before the first name
      header_.push_back(name);
    }
    return true;
  }

  bool next(Record& out) override {
    out = Record{};
    if (jsonl_) return next_json(out);
    std::vector<std::string> cells;
    for (;;) {
      if (!physical_record(cells, out)) return false;
      if (!out.problem.empty()) return true;
      if (cells.size() == 1 && trim(cells[0]).empty()) continue;  // blank line
      break;
    }
    if (cells.size() != header_.size()) {
      // Excel leaves trailing empty cells out or adds them: only non-empty extras matter.
      while (cells.size() > header_.size() && trim(cells.back()).empty()) cells.pop_back();
      if (cells.size() != header_.size() && cells.size() > header_.size()) {
        out.problem =
            "the row has " + std::to_string(cells.size()) + " cells, the header " + std::to_string(header_.size());
        return true;
      }
    }
    for (size_t i = 0; i < header_.size(); ++i)
      out.fields.emplace_back(header_[i], i < cells.size() ? trim(cells[i]) : std::string());
    if (cells.size() < header_.size())
      out.problem =
          "the row has " + std::to_string(cells.size()) + " cells, the header " + std::to_string(header_.size());
    return true;
  }

 private:
  // One decoded physical line; false at the end.
  bool decoded_line(std::string& text, Record& r, bool& too_long) {
    std::string raw;
    if (!lines_.next(raw, too_long)) return false;
    ++line_no_;
    if (too_long) return true;
    auto d = host_.decode_text(raw, charset_);
    text = std::move(d.utf8);
    r.replacements += d.replacements;
    return true;
  }

  // Detects the delimiter on the header line.
  char delimiter(const std::string& line) {
    if (delim_) return delim_;
    size_t counts[3] = {0, 0, 0};
    const char cand[3] = {',', '\t', ';'};
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      for (int k = 0; k < 3; ++k)
        if (!quoted && c == cand[k]) ++counts[k];
    }
    int best = 0;
    for (int k = 1; k < 3; ++k)
      if (counts[k] > counts[best]) best = k;
    delim_ = cand[best];
    return delim_;
  }

  // One CSV record (quoted fields may span lines). False at the end.
  bool physical_record(std::vector<std::string>& cells, Record& r) {
    cells.clear();
    std::string text;
    bool too_long = false;
    if (!decoded_line(text, r, too_long)) return false;
    r.number = line_no_;
    if (too_long) {
      r.problem = "the line is longer than " + std::to_string(max_) + " bytes";
      return true;
    }
    char d = delimiter(text);
    std::string cell;
    bool quoted = false;
    size_t total = 0;
    for (;;) {
      for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
          if (c == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              cell += '"';
              ++i;
            } else {
              quoted = false;
            }
          } else {
            cell += c;
          }
        } else if (c == '"' && cell.find_first_not_of(" ") == std::string::npos) {
          cell.clear();
          quoted = true;
        } else if (c == d) {
          cells.push_back(std::move(cell));
          cell.clear();
        } else {
          cell += c;
        }
      }
      if (!quoted) break;
      // The quoted field goes on in the next line.
      total += text.size();
      cell += '\n';
      if (total > max_ || !decoded_line(text, r, too_long) || too_long) {
        r.problem = total > max_ || too_long ? "a quoted field is longer than " + std::to_string(max_) + " bytes"
                                             : "a quoted field is not closed before the end of the file";
        return true;
      }
    }
    cells.push_back(std::move(cell));
    return true;
  }

  bool next_json(Record& out) {
    std::string text;
    bool too_long = false;
    for (;;) {
      if (!decoded_line(text, out, too_long)) return false;
      out.number = line_no_;
      if (too_long) {
        out.problem = "the line is longer than " + std::to_string(max_) + " bytes";
        return true;
      }
      if (trim(text).empty()) continue;
      break;
    }
    try {
      auto j = nlohmann::json::parse(text);
      if (!j.is_object()) {
        out.problem = "the line is not a JSON object";
        return true;
      }
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it->is_null()) continue;
        out.fields.emplace_back(it.key(), it->is_string() ? trim(it->get<std::string>()) : it->dump());
      }
    } catch (const nlohmann::json::parse_error& e) {
      out.problem = "not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")";
    }
    return true;
  }

  const minyi::Host& host_;
  LineSource lines_;
  size_t max_;
  bool jsonl_;
  char delim_ = 0;
  size_t line_no_ = 0;
};

// ---- XLSX ----

std::optional<std::string> zip_entry(zip_t* z, const std::string& name, uint64_t max, std::string& why) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(z, name.c_str(), 0, &st) != 0) return std::nullopt;
  if ((st.valid & ZIP_STAT_SIZE) && st.size > max) {
    why = name + " is larger than " + std::to_string(max) + " bytes uncompressed";
    return std::nullopt;
  }
  zip_file_t* f = zip_fopen(z, name.c_str(), 0);
  if (!f) {
    why = "cannot open " + name + " in the workbook";
    return std::nullopt;
  }
  std::string out;
  char buf[1 << 15];
  for (;;) {
    zip_int64_t n = zip_fread(f, buf, sizeof buf);
    if (n < 0) {
      why = name + " is damaged (" + std::string(zip_error_strerror(zip_file_get_error(f))) + ")";
      zip_fclose(f);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) {
      why = name + " is larger than " + std::to_string(max) + " bytes uncompressed";
      zip_fclose(f);
      return std::nullopt;
    }
  }
  zip_fclose(f);
  return out;
}

// "AB12" -> 27 (zero-based column)
size_t column_index(std::string_view ref) {
  size_t col = 0;
  for (char c : ref) {
    if (c < 'A' || c > 'Z') break;
    col = col * 26 + static_cast<size_t>(c - 'A' + 1);
  }
  return col ? col - 1 : 0;
}

bool is_date_format(int id, const std::string& code) {
  if ((id >= 14 && id <= 22) || (id >= 45 && id <= 47) || (id >= 27 && id <= 36) || (id >= 50 && id <= 58)) return true;
  if (code.empty()) return false;
  // Date/time letters outside quoted text and [..] sections ([Red], [$-804]).
  bool quoted = false;
  int bracket = 0;
  for (char c : code) {
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == '[') ++bracket;
    if (c == ']') --bracket;
    if (bracket) continue;
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == 'y' || l == 'd' || l == 'h' || l == 'm' || l == 's') return true;
  }
  return false;
}

std::string serial_to_text(double serial, bool date1904) {
  // Days since 1899-12-30 (1900 system, which includes Excel's fictitious 1900-02-29), or 1904-01-01.
  double whole = std::floor(serial);
  int64_t secs = std::llround((serial - whole) * 86400.0);
  int64_t days = static_cast<int64_t>(whole) + (date1904 ? 1462 : 0);
  if (secs >= 86400) {
    secs -= 86400;
    ++days;
  }
  // Civil date from days since 1899-12-30 (days_from_civil, inverted).
  int64_t z = days - 25569 + 719468;  // 25569 = days 1899-12-30 .. 1970-01-01
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

std::string number_text(const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (!end || *end || !std::isfinite(d)) return v;
  if (d == std::floor(d) && std::fabs(d) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    return buf;
  }
  return v;
}

std::string inline_text(pugi::xml_node si) {
  // <si><t>…</t></si> or rich text runs <si><r><t>…</t></r>…</si>; phonetic <rPh> is not text.
  std::string out;
  for (auto n : si.children()) {
    if (std::string_view(n.name()) == "t") out += n.text().get();
    if (std::string_view(n.name()) == "r") out += n.child("t").text().get();
  }
  return out;
}

class XlsxRecords : public RecordReader {
 public:
  bool open(const std::string& path, uint64_t max, OpenError& err) {
    int code = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!z) {
      zip_error_t ze;
      zip_error_init_with_code(&ze, code);
      err.reason = std::string("not a readable XLSX workbook (") + zip_error_strerror(&ze) + ")";
      zip_error_fini(&ze);
      return false;
    }
    std::unique_ptr<zip_t, decltype(&zip_discard)> guard(z, zip_discard);
    std::string why;
    auto workbook = zip_entry(z, "xl/workbook.xml", max, why);
    if (!workbook) {
      err.reason = why.empty() ? "not an XLSX workbook (no xl/workbook.xml)" : why;
      return false;
    }
    pugi::xml_document wb;
    if (!wb.load_string(workbook->c_str())) {
      err.reason = "xl/workbook.xml is not well-formed";
      return false;
    }
    auto wbroot = wb.document_element();
    date1904_ = std::string_view(wbroot.child("workbookPr").attribute("date1904").value()) == "1" ||
                std::string_view(wbroot.child("workbookPr").attribute("date1904").value()) == "true";
    auto sheet = wbroot.child("sheets").child("sheet");
    if (!sheet) {
      err.reason = "the workbook has no worksheet";
      return false;
    }
    std::string rid = sheet.attribute("r:id").value();
    std::string target = "worksheets/sheet1.xml";
    if (auto rels = zip_entry(z, "xl/_rels/workbook.xml.rels", max, why)) {
      pugi::xml_document rd;
      if (rd.load_string(rels->c_str()))
        for (auto rel : rd.document_element().children("Relationship"))
          if (rid == rel.attribute("Id").value()) target = rel.attribute("Target").value();
    }
    std::string sheet_path = target.rfind("/xl/", 0) == 0 ? target.substr(1) : "xl/" + target;
    if (auto ss = zip_entry(z, "xl/sharedStrings.xml", max, why)) {
      pugi::xml_document sd;
      if (!sd.load_string(ss->c_str())) {
        err.reason = "xl/sharedStrings.xml is not well-formed";
        return false;
      }
      for (auto si : sd.document_element().children("si")) shared_.push_back(inline_text(si));
    } else if (!why.empty()) {
      err.reason = why;
      return false;
    }
    if (auto styles = zip_entry(z, "xl/styles.xml", max, why)) {
      pugi::xml_document sd;
      if (sd.load_string(styles->c_str())) {
        std::map<int, std::string> codes;
        for (auto f : sd.document_element().child("numFmts").children("numFmt"))
          codes[f.attribute("numFmtId").as_int()] = f.attribute("formatCode").value();
        for (auto xf : sd.document_element().child("cellXfs").children("xf")) {
          int id = xf.attribute("numFmtId").as_int();
          date_style_.push_back(is_date_format(id, codes.count(id) ? codes[id] : ""));
        }
      }
    }
    auto data = zip_entry(z, sheet_path, max, why);
    if (!data) {
      err.reason = why.empty() ? "the worksheet " + sheet_path + " is missing" : why;
      return false;
    }
    auto res = sheet_.load_buffer(data->data(), data->size());
    if (!res) {
      err.reason = "the worksheet is not well-formed XML (" + std::string(res.description()) + ")";
      return false;
    }
    row_ = sheet_.document_element().child("sheetData").child("row");
    // The header: the first row with any text.
    for (; row_; row_ = row_.next_sibling("row")) {
      auto cells = read_row(row_);
      bool any = false;
      for (auto& c : cells) any = any || !c.empty();
      if (!any) continue;
      for (auto& c : cells) header_.push_back(c);
      row_ = row_.next_sibling("row");
      return true;
    }
    err.reason = "the worksheet has no header row";
    return false;
  }

  bool next(Record& out) override {
    out = Record{};
    for (; row_; row_ = row_.next_sibling("row")) {
      auto cells = read_row(row_);
      out.number = row_.attribute("r").as_ullong();
      row_ = row_.next_sibling("row");
      bool any = false;
      for (auto& c : cells) any = any || !c.empty();
      if (!any) {
        if (!row_) return false;
        out = Record{};
        continue;
      }
      size_t last = cells.size();
      while (last > header_.size() && cells[last - 1].empty()) --last;
      if (last > header_.size()) {
        out.problem = "the row has text in column " + std::to_string(last) + ", beyond the header's " +
                      std::to_string(header_.size()) + " columns";
        return true;
      }
      for (size_t i = 0; i < header_.size(); ++i)
        out.fields.emplace_back(header_[i], i < cells.size() ? cells[i] : std::string());
      return true;
    }
    return false;
  }

 private:
  std::vector<std::string> read_row(pugi::xml_node row) {
    std::vector<std::string> cells;
    size_t next_col = 0;
    for (auto c : row.children("c")) {
      size_t col = c.attribute("r") ? column_index(c.attribute("r").value()) : next_col;
      next_col = col + 1;
      if (col > 16384) continue;
      if (cells.size() <= col) cells.resize(col + 1);
      std::string type = c.attribute("t").value();
      std::string v = c.child("v").text().get();
      std::string text;
      if (type == "s") {
        size_t idx = static_cast<size_t>(std::strtoull(v.c_str(), nullptr, 10));
        text = idx < shared_.size() ? shared_[idx] : "";
      } else if (type == "inlineStr") {
        text = inline_text(c.child("is"));
      } else if (type == "str" || type == "e") {
        text = v;
      } else if (type == "b") {
        text = v == "1" ? "TRUE" : "FALSE";
      } else if (!v.empty()) {
        size_t style = c.attribute("s").as_uint();
        text = style < date_style_.size() && date_style_[style]
                   ? serial_to_text(std::strtod(v.c_str(), nullptr), date1904_)
                   : number_text(v);
      }
      cells[col] = trim(text);
    }
    return cells;
  }

  std::vector<std::string> shared_;
  std::vector<bool> date_style_;
  bool date1904_ = false;
  pugi::xml_document sheet_;
  pugi::xml_node row_;
};

}  // namespace

namespace {
// Calls fn(name) for each '|'-separated name until it returns true.
template <class Fn>
bool any_name(std::string_view names, Fn fn) {
  while (!names.empty()) {
    auto bar = names.find('|');
    if (fn(names.substr(0, bar))) return true;
    names = bar == std::string_view::npos ? std::string_view{} : names.substr(bar + 1);
  }
  return false;
}
}  // namespace

const std::string* Record::pick(std::string_view names) const {
  const std::string* found = nullptr;
  any_name(names, [&](std::string_view name) {
    for (const auto& [k, v] : fields)
      if (k == name && !v.empty()) return (found = &v) != nullptr;
    return false;
  });
  return found;
}

bool Record::has_column(std::string_view names) const {
  return any_name(names, [&](std::string_view name) {
    return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == name; });
  });
}

std::unique_ptr<RecordReader> open_records(const minyi::Host& host, const std::string& path, std::string_view charset,
                                           size_t max_record_bytes, uint64_t max_xlsx_bytes, OpenError& err) {
  std::string name = lower(path);
  if (ends_with(name, ".xlsx")) {
    auto r = std::make_unique<XlsxRecords>();
    if (!r->open(path, max_xlsx_bytes, err)) return nullptr;
    return r;
  }
  bool jsonl = ends_with(name, ".jsonl") || ends_with(name, ".ndjson");
  if (!jsonl && !ends_with(name, ".csv") && !ends_with(name, ".txt") && !ends_with(name, ".tsv")) {
    err.reason = "unknown file type (expected .csv, .tsv, .txt, .jsonl, .ndjson or .xlsx)";
    return nullptr;
  }
  std::string cs = detect_charset(host, path, charset, err);
  if (cs.empty()) return nullptr;
  auto r = std::make_unique<TextRecords>(host, path, max_record_bytes, jsonl);
  r->set_charset(cs);
  if (!jsonl && !r->read_header(err)) return nullptr;
  return r;
}

}  // namespace minyi::plugins
