// channel_phone: 12345 hotline work orders, pulled from the call-centre system's HTTP API
// (paged by cursor or by time) and/or read from exports (CSV, JSON lines) dropped into a
// spool folder. The API position is a checkpoint committed with the last work order of each
// page. See docs/channels/phone.md.
#include <curl/curl.h>

#include <array>
#include <chrono>
#include <map>
#include <minyi/plugin.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "codec.hpp"
#include "spool_ingest.hpp"

namespace {

using nlohmann::json;
namespace mp = minyi::plugins;

const std::array<minyi_config_entry_t, 27> kConfig = {{
    {"api_url", MINYI_CFG_STRING, nullptr, 0, "work-order API endpoint (GET); omit to read exports only", nullptr},
    {"paging", MINYI_CFG_STRING, "cursor", 0,
     "cursor: follow the cursor each page returns; since: ask for orders updated since the last one seen",
     "cursor|since"},
    {"page_size", MINYI_CFG_INT, "100", 0, "orders per page", nullptr},
    {"page_size_param", MINYI_CFG_STRING, "pageSize", 0, "query parameter for the page size", nullptr},
    {"cursor_param", MINYI_CFG_STRING, "cursor", 0, "query parameter carrying the cursor (paging: cursor)", nullptr},
    {"since_param", MINYI_CFG_STRING, "since", 0, "query parameter carrying the time (paging: since)", nullptr},
    {"items_path", MINYI_CFG_STRING, "data", 0, "dot path to the array of orders in the response ('' = the body)",
     nullptr},
    {"next_cursor_path", MINYI_CFG_STRING, "nextCursor", 0,
     "dot path to the next page's cursor (empty or missing = caught up)", nullptr},
    {"since_field", MINYI_CFG_STRING, "updateTime|callTime", 0,
     "order field(s) whose latest value is the next 'since' (paging: since)", nullptr},
    {"auth", MINYI_CFG_STRING, "none", 0, "how to authenticate to the API", "none|bearer|basic|header"},
    {"token", MINYI_CFG_STRING, nullptr, 0, "bearer token (use ${file:…})", nullptr},
    {"username", MINYI_CFG_STRING, nullptr, 0, "basic auth user", nullptr},
    {"password", MINYI_CFG_STRING, nullptr, 0, "basic auth password (use ${file:…})", nullptr},
    {"header_name", MINYI_CFG_STRING, nullptr, 0, "custom auth header name (auth: header)", nullptr},
    {"header_value", MINYI_CFG_STRING, nullptr, 0, "custom auth header value (use ${file:…})", nullptr},
    {"rate_limit", MINYI_CFG_DOUBLE, "2", 0, "at most this many API requests per second", nullptr},
    {"timeout", MINYI_CFG_DURATION, "15s", 0, "time limit for one API request", nullptr},
    {"backoff_max", MINYI_CFG_DURATION, "5m", 0, "longest wait after repeated API failures", nullptr},
    {"ca_file", MINYI_CFG_STRING, nullptr, 0, "CA bundle for the API (default: the system's)", nullptr},
    {"spool_dir", MINYI_CFG_STRING, nullptr, 0, "folder the call centre drops exports into (CSV or JSON lines)",
     nullptr},
    {"settle", MINYI_CFG_DURATION, "2s", 0, "an export is read once unchanged this long", nullptr},
    {"suffixes", MINYI_CFG_STRING, ".csv|.jsonl|.ndjson|.txt|.tsv", 0, "export names to pick up", nullptr},
    {"charset", MINYI_CFG_STRING, "", 0, "exports' charset; empty = detect", nullptr},
    {"max_file_size", MINYI_CFG_SIZE, "200MiB", 0, "larger exports go to failed/ unread", nullptr},
    {"time_zone", MINYI_CFG_STRING, "Asia/Shanghai", 0, "zone of the system's local times", nullptr},
    {"kinds", MINYI_CFG_STRING_LIST, nullptr, 0,
     "request kinds that become suggestions (咨询 求助 投诉 举报 建议 表扬 其他, or consultation, help, complaint, "
     "report, suggestion, praise, other); default all",
     nullptr},
    {"fields", MINYI_CFG_STRING_MAP, nullptr, 0,
     "field -> source names ('|'-separated) overriding the defaults: external_id, phone, name, time, kind, content, "
     "transcript, address, district, urgency, title, category",
     nullptr},
}};

const std::map<std::string, std::string> kDefaultFields = {
    {"external_id", "orderId|工单编号|orderNo"},
    {"phone", "callerPhone|来电号码"},
    {"name", "callerName|来电人"},
    {"time", "callTime|来电时间"},
    {"kind", "appealType|诉求类型"},
    {"content", "content|诉求内容"},
    {"transcript", "textContent|录音转写"},
    {"address", "address|事发地址"},
    {"district", "county|所属区县"},
    {"urgency", "urgency|紧急程度"},
    {"title", "title|标题|诉求标题"},
    {"category", "category|业务分类"},
};

const std::map<std::string, std::string> kKinds = {
    {"咨询", "consultation"}, {"求助", "help"},   {"投诉", "complaint"}, {"举报", "report"},
    {"建议", "suggestion"},   {"表扬", "praise"}, {"其他", "other"},
};

// A dot path ("data.list") into a JSON document; nullptr when absent.
const json* at_path(const json& doc, std::string_view path) {
  const json* cur = &doc;
  while (!path.empty()) {
    auto dot = path.find('.');
    std::string key(path.substr(0, dot));
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  return cur;
}

class PhoneChannel {
 public:
  explicit PhoneChannel(minyi::Host host) : host_(host) {
    api_url_ = host_.config_string("api_url", "");
    dir_ = host_.config_string("spool_dir", "");
    if (api_url_.empty() && dir_.empty()) throw minyi::ConfigError("set 'api_url', 'spool_dir' or both");
    if (!dir_.empty() && host_.state_dir().empty())
      throw minyi::ConfigError("this minyid is too old for spool folders (ABI 1.1)");
    since_mode_ = host_.config_string("paging", "cursor") == "since";
    page_size_ = host_.config_int("page_size", 100);
    if (page_size_ < 1) throw minyi::ConfigError("'page_size' must be at least 1");
    for (auto [key, member] : {std::pair{"page_size_param", &page_size_param_},
                               {"cursor_param", &cursor_param_},
                               {"since_param", &since_param_},
                               {"items_path", &items_path_},
                               {"next_cursor_path", &next_cursor_path_},
                               {"since_field", &since_field_},
                               {"ca_file", &ca_file_}})
      *member = host_.config_string(key, "");
    auth_ = host_.config_string("auth", "none");
    if (auth_ == "bearer") {
      auth_header_ = "Authorization: Bearer " + need("token");
    } else if (auth_ == "basic") {
      auth_header_ = "Authorization: Basic " + mp::base64_encode(need("username") + ":" + need("password"));
    } else if (auth_ == "header") {
      auth_header_ = need("header_name") + ": " + need("header_value");
    }
    double rate = host_.config_double("rate_limit", 2);
    min_gap_ms_ = rate > 0 ? static_cast<int64_t>(1000.0 / rate) : 0;
    timeout_ms_ = host_.config_int("timeout", 15000);
    backoff_max_ms_ = host_.config_int("backoff_max", 300000);
    zone_ = host_.config_string("time_zone", "Asia/Shanghai");
    std::string probe;
    if (!host_.local_time("2024-01-01 00:00:00", zone_, probe)) throw minyi::ConfigError("'time_zone': " + probe);
    fields_ = kDefaultFields;
    for (auto& [k, v] : host_.config_items("fields")) {
      if (!kDefaultFields.count(std::string(k)))
        throw minyi::ConfigError("'fields' has an unknown field '" + std::string(k) + "'");
      fields_[std::string(k)] = std::string(v);
    }
    for (auto& [k, v] : host_.config_items("kinds")) {
      std::string kind(v);
      if (kKinds.count(kind)) kind = kKinds.at(kind);
      bool known = false;
      for (auto& [zh, en] : kKinds) known = known || en == kind;
      if (!known) throw minyi::ConfigError("'kinds' has an unknown kind '" + std::string(v) + "'");
      kinds_.insert(kind);
    }
    settle_ms_ = host_.config_int("settle", 2000);
    suffixes_ = host_.config_string("suffixes", ".csv|.jsonl|.ndjson|.txt|.tsv");
    limits_.charset = host_.config_string("charset", "");
    limits_.max_file_bytes = static_cast<uint64_t>(host_.config_int("max_file_size", 200ll << 20));
  }
  const minyi::Host& host() const { return host_; }

  bool on_poll() {
    bool ok = true;
    if (!api_url_.empty()) ok = poll_api();
    if (!dir_.empty()) {
      try {
        while (!host_.stopping() &&
               mp::ingest_next_file(
                   host_, dir_, suffixes_, settle_ms_, limits_, [this](const mp::RecordReader& r) { return check(r); },
                   [this](const mp::Record& r) { return convert(r); })) {
        }
      } catch (const std::exception& e) {
        host_.error(std::string("spool folder: ") + e.what());
        ok = false;
      }
    }
    return ok;
  }

 private:
  std::string need(const char* key) {
    auto v = host_.config_string(key);
    if (!v || v->empty()) throw minyi::ConfigError(std::string("'") + key + "' is required for auth: " + auth_);
    return std::string(*v);
  }

  std::string check(const mp::RecordReader& r) const {
    if (r.header().empty()) return {};  // JSON lines: checked per record
    mp::Record header_only;
    for (const auto& h : r.header()) header_only.fields.emplace_back(h, "");
    for (const char* f : {"external_id", "content"})
      if (!header_only.has_column(fields_.at(f)) &&
          !(std::string(f) == "content" && header_only.has_column(fields_.at("transcript"))))
        return std::string("no column for ") + f + " (looked for " + fields_.at(f) + ")";
    return {};
  }

  // One work order (an API item or an export row) -> draft.
  mp::Converted convert(const mp::Record& r) const {
    auto get = [&](const char* field) { return r.pick(fields_.at(field)); };
    const std::string* id = get("external_id");
    if (!id) return {{}, "no work-order id in " + fields_.at("external_id")};
    const std::string* content = get("content");
    const std::string* transcript = get("transcript");
    if (!content && !transcript) return {{}, "no text in " + fields_.at("content") + " or " + fields_.at("transcript")};
    json d = {{"external_id", *id}, {"content", content ? *content : *transcript}};
    json phone = json::object();
    if (content && transcript) phone["transcript"] = *transcript;
    if (auto k = get("kind")) {
      auto it = kKinds.find(*k);
      std::string kind = it != kKinds.end() ? it->second : "other";
      for (auto& [zh, en] : kKinds)
        if (*k == en) kind = en;
      if (!kinds_.empty() && !kinds_.count(kind)) return {{}, {}, true};
      d["kind"] = kind;
      phone["appeal_type"] = *k;
    } else if (!kinds_.empty() && !kinds_.count("other")) {
      return {{}, {}, true};
    }
    if (auto t = get("time")) {
      std::string when;
      if (!host_.local_time(*t, zone_, when)) return {{}, "'" + *t + "' is not a date and time: " + when};
      d["submitted_at"] = when;
    }
    if (auto v = get("title")) d["title"] = *v;
    if (auto v = get("category")) d["category"] = {{"name", *v}};
    json sub = json::object();
    if (auto v = get("phone")) sub["phone"] = *v;
    if (auto v = get("name")) sub["name"] = *v;
    if (!sub.empty()) d["submitter"] = sub;
    json loc = json::object();
    if (auto v = get("address")) loc["text"] = *v;
    if (auto v = get("district")) loc["district"] = *v;
    if (!loc.empty()) d["location"] = loc;
    if (auto v = get("urgency")) phone["urgency"] = *v;
    if (!phone.empty()) d["extras"] = {{"phone", phone}};
    return {d.dump(), {}};
  }

  // ---- the work-order API ----

  bool poll_api() {
    int64_t now = host_.now_ms();
    if (now < next_attempt_ms_) return true;  // backing off
    // Follow pages until caught up (or stopping); each page is committed before the next.
    for (int pages = 0; pages < 1000 && !host_.stopping(); ++pages) {
      auto more = fetch_page();
      if (!more) {
        ++failures_;
        int64_t wait = std::min<int64_t>(backoff_max_ms_, 1000ll << std::min(failures_, 20));
        std::uniform_int_distribution<int64_t> jitter(wait / 2, wait);
        next_attempt_ms_ = host_.now_ms() + jitter(rng_);
        host_.count("api_failures");
        return false;
      }
      failures_ = 0;
      if (!*more) break;
    }
    return true;
  }

  void pace() {
    int64_t wait = last_request_ms_ + min_gap_ms_ - host_.now_ms();
    while (wait > 0 && !host_.stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(wait, 100)));
      wait = last_request_ms_ + min_gap_ms_ - host_.now_ms();
    }
    last_request_ms_ = host_.now_ms();
  }

  std::string escape(const std::string& s) const {
    char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
    std::string out = e ? e : "";
    curl_free(e);
    return out;
  }

  // Fetches and commits one page. nullopt = failed; true = there may be more; false = caught up.
  std::optional<bool> fetch_page() {
    const char* key = since_mode_ ? "api_since" : "api_cursor";
    std::string position = host_.checkpoint(key).value_or("");
    std::string url = api_url_ + (api_url_.find('?') == std::string::npos ? "?" : "&") + page_size_param_ + "=" +
                      std::to_string(page_size_);
    if (!position.empty()) url += "&" + (since_mode_ ? since_param_ : cursor_param_) + "=" + escape(position);
    pace();
    std::string body;
    long status = 0;
    std::string error;
    if (!get(url, body, status, error)) {
      host_.warn("work-order API: " + error);
      return std::nullopt;
    }
    if (status < 200 || status >= 300) {
      host_.warn("work-order API answered HTTP " + std::to_string(status));
      return std::nullopt;
    }
    json doc;
    try {
      doc = json::parse(body);
    } catch (const json::parse_error& e) {
      host_.warn("work-order API: the answer is not JSON (syntax error at byte " + std::to_string(e.byte) + ")");
      return std::nullopt;
    }
    const json* items = items_path_.empty() ? &doc : at_path(doc, items_path_);
    if (!items || !items->is_array()) {
      host_.warn("work-order API: no array at '" + items_path_ + "' in the answer (items_path)");
      return std::nullopt;
    }
    std::string next = position;
    bool more = false;
    if (!since_mode_) {
      const json* n = at_path(doc, next_cursor_path_);
      std::string nc = !n || n->is_null() ? "" : n->is_string() ? n->get<std::string>() : n->dump();
      if (!nc.empty() && nc != position) {
        next = nc;
        more = true;
      }
    }
    // Convert the page first, so the position can ride on its last good order.
    struct Item {
      std::string draft, raw, since;
    };
    std::vector<Item> good;
    for (const auto& it : *items) {
      std::string raw = it.dump();
      if (!it.is_object()) {
        host_.quarantine(raw, "application/json", "not_an_object: a work order must be a JSON object");
        continue;
      }
      mp::Record rec;
      for (auto f = it.begin(); f != it.end(); ++f)
        if (!f->is_null()) rec.fields.emplace_back(f.key(), f->is_string() ? f->get<std::string>() : f->dump());
      auto c = convert(rec);
      if (c.skipped) {
        host_.count("skipped_kind");
        continue;
      }
      if (c.draft.empty()) {
        host_.quarantine(raw, "application/json", "bad_order: " + c.reason);
        host_.count("bad_orders");
        continue;
      }
      std::string since;
      if (auto s = rec.pick(since_field_)) since = *s;
      good.push_back({std::move(c.draft), std::move(raw), std::move(since)});
    }
    if (since_mode_) {
      // Orders come oldest first; the next request asks from the newest seen (inclusive: the
      // ones at that instant come again and are replays).
      for (const auto& g : good)
        if (!g.since.empty() && g.since > next) next = g.since;
      more = static_cast<int64_t>(items->size()) >= page_size_ && next != position;
      if (static_cast<int64_t>(items->size()) >= page_size_ && next == position)
        host_.warn("work-order API: a full page did not move past '" + position +
                   "'; raise page_size so one page holds all orders of one instant");
    }
    for (size_t i = 0; i < good.size(); ++i) {
      bool last = i + 1 == good.size();
      std::string cp_key = last && next != position ? key : "";
      std::string cp_value = cp_key.empty() ? "" : next;
      if (!submit(good[i].draft, good[i].raw, cp_key, cp_value)) return std::nullopt;
    }
    if (good.empty() && next != position) host_.set_checkpoint(key, next);
    return more;
  }

  bool submit(const std::string& draft, const std::string& raw, const std::string& cp_key, const std::string& cp_val) {
    for (int attempt = 0;; ++attempt) {
      auto r = host_.submit({draft, raw, "application/json", cp_key, cp_val});
      switch (r.status) {
        case MINYI_SUBMIT_ACCEPTED:
          host_.count("accepted");
          return true;
        case MINYI_SUBMIT_REPLAY:
          host_.count("replayed");
          return true;
        case MINYI_SUBMIT_REJECTED:
          host_.count("rejected");
          if (!cp_key.empty()) host_.set_checkpoint(cp_key, cp_val);
          return true;
        default:
          if (host_.stopping() || attempt >= 50) return false;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  bool get(const std::string& url, std::string& body, long& status, std::string& error) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    if (!auth_header_.empty()) headers = curl_slist_append(headers, auth_header_.c_str());
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(timeout_ms_, 5000)));
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "minyi-channel-phone/1.0");
    if (!ca_file_.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(
        c.get(), CURLOPT_WRITEFUNCTION, +[](char* p, size_t sz, size_t n, void* ud) -> size_t {
          auto* b = static_cast<std::string*>(ud);
          if (b->size() + sz * n > (256u << 20)) return 0;  // a page is never this large
          b->append(p, sz * n);
          return sz * n;
        });
    CURLcode rc = curl_easy_perform(c.get());
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      error = curl_easy_strerror(rc);
      return false;
    }
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    return true;
  }

  minyi::Host host_;
  std::string api_url_, dir_, page_size_param_, cursor_param_, since_param_, items_path_, next_cursor_path_,
      since_field_, ca_file_, auth_, auth_header_, zone_, suffixes_;
  bool since_mode_ = false;
  int64_t page_size_ = 100, min_gap_ms_ = 0, timeout_ms_ = 15000, backoff_max_ms_ = 300000, settle_ms_ = 2000;
  int64_t last_request_ms_ = 0, next_attempt_ms_ = 0;
  int failures_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  std::map<std::string, std::string> fields_;
  std::set<std::string> kinds_;
  mp::SpoolLimits limits_;
};

}  // namespace

MINYI_PLUGIN(PhoneChannel, MINYI_KIND_SOURCE, "phone", "1.0.0",
             "12345 hotline work orders: paged HTTP API and call-centre exports", "phone", kConfig, 5000)
