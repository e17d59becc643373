// channel_visit: walk-in visit registrations exported at reception (CSV in UTF-8 or GBK,
// or XLSX) and dropped into a spool folder. Each good row becomes a suggestion; bad rows
// are reported with their row numbers; the file moves to processed/ or failed/. See
// docs/channels/visit.md.
#include <array>
#include <map>
#include <minyi/plugin.hpp>
#include <nlohmann/json.hpp>

#include "codec.hpp"
#include "spool_ingest.hpp"

namespace {

using nlohmann::json;
namespace mp = minyi::plugins;

const std::array<minyi_config_entry_t, 9> kConfig = {{
    {"spool_dir", MINYI_CFG_STRING, nullptr, 1,
     "folder reception exports are dropped into (processed/ and failed/ are created inside)", nullptr},
    {"settle", MINYI_CFG_DURATION, "2s", 0, "a file is picked up once its size and mtime are unchanged this long",
     nullptr},
    {"suffixes", MINYI_CFG_STRING, ".csv|.xlsx|.tsv|.txt", 0, "file names to pick up, '|'-separated", nullptr},
    {"charset", MINYI_CFG_STRING, "", 0,
     "text files' charset; empty = detect (UTF-8 with/without BOM, GBK/GB18030, Big5)", nullptr},
    {"time_zone", MINYI_CFG_STRING, "Asia/Shanghai", 0, "zone of the times in the exports (IANA name)", nullptr},
    {"columns", MINYI_CFG_STRING_MAP, nullptr, 0,
     "field -> header names ('|'-separated alternatives) overriding the defaults; fields: name, phone, id_number, "
     "time, content, title, address, district, receptionist, visitors",
     nullptr},
    {"max_file_size", MINYI_CFG_SIZE, "100MiB", 0, "larger files go to failed/ unread", nullptr},
    {"max_xlsx_size", MINYI_CFG_SIZE, "64MiB", 0, "largest uncompressed XLSX worksheet (it is parsed in memory)",
     nullptr},
    {"max_row_size", MINYI_CFG_SIZE, "1MiB", 0, "longest CSV record", nullptr},
}};

// Common headers of reception registers (来访登记表).
const std::map<std::string, std::string> kDefaultColumns = {
    {"name", "来访人|来访人姓名|姓名"},
    {"phone", "联系电话|电话|手机|手机号码|联系方式"},
    {"id_number", "身份证号|身份证号码|证件号码"},
    {"time", "来访时间|登记时间|来访日期"},
    {"content", "来访事由|反映问题|诉求内容|事由"},
    {"title", "标题|主题"},
    {"address", "地址|住址|家庭住址|事发地址"},
    {"district", "所属区县|区县|所属街道"},
    {"receptionist", "接待人|接待人员"},
    {"visitors", "来访人数|人数"},
};

class VisitChannel {
 public:
  explicit VisitChannel(minyi::Host host) : host_(host) {
    dir_ = host_.config_string("spool_dir", "");
    if (dir_.empty()) throw minyi::ConfigError("'spool_dir' is required");
    if (host_.state_dir().empty()) throw minyi::ConfigError("this minyid is too old for channel_visit (ABI 1.1)");
    settle_ms_ = host_.config_int("settle", 2000);
    suffixes_ = host_.config_string("suffixes", ".csv|.xlsx|.tsv|.txt");
    zone_ = host_.config_string("time_zone", "Asia/Shanghai");
    std::string probe;
    if (!host_.local_time("2024-01-01 00:00:00", zone_, probe)) throw minyi::ConfigError("'time_zone': " + probe);
    columns_ = kDefaultColumns;
    for (auto& [k, v] : host_.config_items("columns")) {
      if (!kDefaultColumns.count(std::string(k)))
        throw minyi::ConfigError("'columns' has an unknown field '" + std::string(k) + "'");
      columns_[std::string(k)] = std::string(v);
    }
    limits_.charset = host_.config_string("charset", "");
    limits_.max_file_bytes = static_cast<uint64_t>(host_.config_int("max_file_size", 100 << 20));
    limits_.max_xlsx_bytes = static_cast<uint64_t>(host_.config_int("max_xlsx_size", 64 << 20));
    limits_.max_record_bytes = static_cast<size_t>(host_.config_int("max_row_size", 1 << 20));
  }
  const minyi::Host& host() const { return host_; }

  bool on_poll() {
    try {
      while (!host_.stopping() &&
             mp::ingest_next_file(
                 host_, dir_, suffixes_, settle_ms_, limits_, [this](const mp::RecordReader& r) { return check(r); },
                 [this](const mp::Record& r) { return convert(r); })) {
      }
      return true;
    } catch (const std::exception& e) {
      host_.error(std::string("spool folder: ") + e.what());
      return false;
    }
  }

 private:
  std::string check(const mp::RecordReader& r) const {
    mp::Record header_only;
    for (const auto& h : r.header()) header_only.fields.emplace_back(h, "");
    if (!header_only.has_column(columns_.at("content")))
      return "no column for the visit's matter (looked for " + columns_.at("content") + ")";
    return {};
  }

  mp::Converted convert(const mp::Record& r) const {
    auto get = [&](const char* field) { return r.pick(columns_.at(field)); };
    const std::string* content = get("content");
    if (!content) return {{}, "no text in " + columns_.at("content")};
    json d = {{"content", *content}};
    if (auto t = get("title")) d["title"] = *t;
    if (auto t = get("time")) {
      std::string when;
      if (!host_.local_time(*t, zone_, when)) return {{}, "'" + *t + "' is not a date and time: " + when};
      d["submitted_at"] = when;
    }
    json sub = json::object();
    if (auto v = get("name")) sub["name"] = *v;
    if (auto v = get("phone")) sub["phone"] = *v;
    if (auto v = get("id_number")) sub["id_number"] = *v;
    if (!sub.empty()) d["submitter"] = sub;
    json loc = json::object();
    if (auto v = get("address")) loc["text"] = *v;
    if (auto v = get("district")) loc["district"] = *v;
    if (!loc.empty()) d["location"] = loc;
    json visit = json::object();
    if (auto v = get("receptionist")) visit["receptionist"] = *v;
    if (auto v = get("visitors")) {
      char* end = nullptr;
      long n = std::strtol(v->c_str(), &end, 10);
      if (end && *end == '\0' && n > 0) {
        visit["visitors"] = n;
      } else {
        return {{}, "visitor count '" + *v + "' is not a positive number"};
      }
    }
    if (!visit.empty()) d["extras"] = {{"visit", visit}};
    // The row's identity is what it says (not its file, position or encoding): the same
    // registration dropped again, as CSV or XLSX, is recognised.
    d["external_id"] = "row:" + mp::sha256_hex(d.dump()).substr(0, 32);
    return {d.dump(), {}};
  }

  minyi::Host host_;
  std::string dir_, suffixes_, zone_;
  int64_t settle_ms_ = 2000;
  std::map<std::string, std::string> columns_;
  mp::SpoolLimits limits_;
};

}  // namespace

MINYI_PLUGIN(VisitChannel, MINYI_KIND_SOURCE, "visit", "1.0.0",
             "walk-in visit registrations: CSV (UTF-8/GBK) and XLSX exports from a spool folder", "visit", kConfig,
             2000)
