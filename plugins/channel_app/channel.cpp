// channel_app: the city app backend's JSON webhook. Every request is signed with
// HMAC-SHA256 over timestamp, nonce and body; stale timestamps and reused nonces are
// refused; the app's message id is the source key; attachments come inline (base64) or
// by URL (fetched with libcurl under size and time limits), are hashed with SHA-256 and
// kept under the instance's state directory. See docs/channels/app.md.
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <deque>
#include <filesystem>
#include <map>
#include <minyi/plugin.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "answer.hpp"
#include "codec.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using minyi::plugins::equal_ct;
using minyi::plugins::hmac_sha256_hex;

const std::array<minyi_config_entry_t, 9> kConfig = {{
    {"path", MINYI_CFG_STRING, "/app/v1/messages", 0, "URL path the app backend POSTs to", nullptr},
    {"secret", MINYI_CFG_STRING, nullptr, 1, "shared HMAC secret (use ${file:…}); at least 16 bytes", nullptr},
    {"timestamp_window", MINYI_CFG_DURATION, "5m", 0,
     "refuse requests whose X-Minyi-Timestamp is further than this from now", nullptr},
    {"attachment_max_bytes", MINYI_CFG_SIZE, "20MiB", 0, "largest attachment fetched or accepted inline", nullptr},
    {"attachment_timeout", MINYI_CFG_DURATION, "15s", 0, "time limit for fetching one attachment URL", nullptr},
    {"max_attachments", MINYI_CFG_INT, "10", 0, "attachments per message", nullptr},
    {"fetch_hosts", MINYI_CFG_STRING_LIST, nullptr, 0,
     "when set, attachment URLs must be on one of these hosts (e.g. the app's CDN)", nullptr},
    {"allow_http", MINYI_CFG_BOOL, "false", 0, "also fetch plain http:// URLs (default: https only)", nullptr},
    {"ca_file", MINYI_CFG_STRING, nullptr, 0, "CA bundle for fetching attachments (default: the system's)", nullptr},
}};

struct Refusal {
  int status;
  std::string code, message, field;
  bool quarantine = false;
  int retry_after = 0;
};

// Nonces seen inside the timestamp window. A nonce older than the window cannot come back:
// its timestamp would be refused first.
class NonceCache {
 public:
  // False when the nonce was already used.
  bool use(const std::string& nonce, int64_t now_ms, int64_t window_ms) {
    std::lock_guard lock(mu_);
    while (!order_.empty() && order_.front().first < now_ms - 2 * window_ms) {
      seen_.erase(order_.front().second);
      order_.pop_front();
    }
    if (!seen_.insert(nonce).second) return false;
    order_.emplace_back(now_ms, nonce);
    return true;
  }

 private:
  std::mutex mu_;
  std::set<std::string> seen_;
  std::deque<std::pair<int64_t, std::string>> order_;
};

struct Stored {
  std::string sha256, path;
  uint64_t bytes = 0;
};

// Writes attachments as STATE/attachments/<sha256>, atomically (temp file, fsync, rename).
class AttachmentStore {
 public:
  explicit AttachmentStore(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

  struct Writer {
    fs::path tmp;
    int fd = -1;
    minyi::plugins::Sha256 hash;
    uint64_t bytes = 0;
    bool write(std::string_view data) {
      hash.update(data);
      bytes += data.size();
      while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    }
    ~Writer() {
      if (fd >= 0) ::close(fd);
      std::error_code ec;
      if (!tmp.empty()) fs::remove(tmp, ec);
    }
  };

  std::unique_ptr<Writer> open() {
    auto w = std::make_unique<Writer>();
    std::string tmpl = (dir_ / ".incoming-XXXXXX").string();
    w->fd = ::mkstemp(tmpl.data());
    if (w->fd < 0) throw std::runtime_error("cannot create a file in " + dir_.string());
    w->tmp = tmpl;
    return w;
  }

  Stored commit(Writer& w) {
    if (::fsync(w.fd) != 0) throw std::runtime_error("fsync failed in " + dir_.string());
    ::close(w.fd);
    w.fd = -1;
    Stored s{w.hash.hex_digest(), "", w.bytes};
    fs::path final = dir_ / s.sha256;
    fs::rename(w.tmp, final);  // same content, same name: a second copy just replaces the first
    w.tmp.clear();
    int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    s.path = final.string();
    return s;
  }

 private:
  fs::path dir_;
};

class AppChannel {
 public:
  explicit AppChannel(minyi::Host host) : host_(host) {
    path_ = host_.config_string("path", "/app/v1/messages");
    if (path_.empty() || path_[0] != '/') throw minyi::ConfigError("'path' must start with '/', got '" + path_ + "'");
    secret_ = host_.config_string("secret", "");
    if (secret_.size() < 16) throw minyi::ConfigError("'secret' must be at least 16 bytes");
    window_ms_ = host_.config_int("timestamp_window", 300000);
    max_bytes_ = static_cast<uint64_t>(host_.config_int("attachment_max_bytes", 20 << 20));
    timeout_ms_ = host_.config_int("attachment_timeout", 15000);
    max_attachments_ = static_cast<size_t>(host_.config_int("max_attachments", 10));
    for (auto& [k, v] : host_.config_items("fetch_hosts")) fetch_hosts_.insert(std::string(v));
    allow_http_ = host_.config_bool("allow_http", false);
    ca_file_ = host_.config_string("ca_file", "");
    std::string dir = host_.state_dir();
    if (dir.empty()) throw minyi::ConfigError("this minyid is too old for channel_app (needs plugin ABI 1.1)");
    store_ = std::make_unique<AttachmentStore>(fs::path(dir) / "attachments");
    host_.route("POST", path_.c_str());
  }
  const minyi::Host& host() const { return host_; }

  void on_http(const minyi::HttpRequest& req, minyi::HttpResponse& resp) {
    try {
      handle(req, resp);
    } catch (const Refusal& r) {
      if (r.quarantine && !req.body().empty())
        host_.quarantine(req.body(), "application/json", r.code + ": " + r.message);
      host_.count("rejected_" + r.code);
      if (r.retry_after) resp.header("Retry-After", std::to_string(r.retry_after));
      resp.respond(r.status, "application/json", minyi::plugins::error_json(r.code, r.message, r.field));
    }
  }

 private:
  void verify(const minyi::HttpRequest& req) {
    auto ts = req.header("X-Minyi-Timestamp");
    auto nonce = req.header("X-Minyi-Nonce");
    auto sig = req.header("X-Minyi-Signature");
    if (!ts || !nonce || !sig)
      throw Refusal{401, "signature_required",
                    "X-Minyi-Timestamp, X-Minyi-Nonce and X-Minyi-Signature are required (docs/channels/app.md)",
                    !ts      ? "X-Minyi-Timestamp"
                    : !nonce ? "X-Minyi-Nonce"
                             : "X-Minyi-Signature"};
    if (nonce->empty() || nonce->size() > 128)
      throw Refusal{401, "bad_nonce", "X-Minyi-Nonce must be 1 to 128 characters", "X-Minyi-Nonce"};
    std::string_view s = *sig;
    if (s.rfind("sha256=", 0) == 0) s.remove_prefix(7);
    std::string string_to_sign = std::string(*ts) + "\n" + std::string(*nonce) + "\n" + std::string(req.body());
    if (!equal_ct(s, hmac_sha256_hex(secret_, string_to_sign)))
      throw Refusal{401, "bad_signature", "the signature does not match timestamp, nonce and body",
                    "X-Minyi-Signature"};
    // Checked after the signature, so only the secret's holder learns about the clock.
    int64_t t = 0;
    try {
      size_t used = 0;
      t = std::stoll(std::string(*ts), &used);
      if (used != ts->size()) throw std::invalid_argument("x");
    } catch (const std::exception&) {
      throw Refusal{401, "bad_timestamp", "X-Minyi-Timestamp must be Unix seconds", "X-Minyi-Timestamp"};
    }
    int64_t now = host_.now_ms();
    if (std::llabs(now / 1000 - t) * 1000 > window_ms_)
      throw Refusal{401, "expired", "X-Minyi-Timestamp is outside the accepted window; check the clock",
                    "X-Minyi-Timestamp"};
    if (!nonces_.use(std::string(*nonce), now, window_ms_))
      throw Refusal{401, "replayed", "this nonce was already used", "X-Minyi-Nonce"};
  }

  void handle(const minyi::HttpRequest& req, minyi::HttpResponse& resp) {
    std::string ctype(req.header("Content-Type").value_or(""));
    std::string base = ctype.substr(0, ctype.find(';'));
    while (!base.empty() && base.back() == ' ') base.pop_back();
    if (base != "application/json")
      throw Refusal{415, "unsupported_media_type", "Content-Type must be application/json", ""};
    verify(req);
    json in;
    try {
      in = json::parse(req.body());
    } catch (const json::parse_error& e) {
      throw Refusal{400, "malformed_json",
                    "the body is not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")", "", true};
    }
    if (!in.is_object()) throw Refusal{400, "wrong_type", "the body must be a JSON object", "", true};
    static const std::set<std::string> known = {"message_id",   "content", "title",    "kind",       "category",
                                                "submitted_at", "user",    "location", "attachments"};
    for (auto it = in.begin(); it != in.end(); ++it)
      if (!known.count(it.key()))
        throw Refusal{400, "unknown_field", "unknown field '" + it.key() + "' (see docs/channels/app.md)", it.key(),
                      true};
    if (!in.contains("message_id") || !in["message_id"].is_string() || in["message_id"].get<std::string>().empty())
      throw Refusal{400, "missing_field", "'message_id' (a non-empty string) is required", "message_id", true};
    json draft = json::object();
    for (const char* k : {"content", "title", "kind", "category", "submitted_at", "location"})
      if (in.contains(k)) draft[k] = in[k];
    draft["external_id"] = in["message_id"];
    json extras = json::object();
    if (in.contains("user")) {
      const json& u = in["user"];
      if (!u.is_object()) throw Refusal{400, "wrong_type", "'user' must be an object", "user", true};
      json sub = json::object();
      for (const char* k : {"name", "phone", "email", "id_number", "anonymous"})
        if (u.contains(k)) sub[k] = u[k];
      if (u.contains("id")) extras["user_id"] = u["id"];
      for (auto it = u.begin(); it != u.end(); ++it)
        if (!sub.contains(it.key()) && it.key() != "id")
          throw Refusal{400, "unknown_field", "unknown field 'user." + it.key() + "'", "user." + it.key(), true};
      draft["submitter"] = sub;
    }
    json attachments = json::array(), sources = json::array(), errors = json::array();
    if (in.contains("attachments")) {
      const json& list = in["attachments"];
      if (!list.is_array()) throw Refusal{400, "wrong_type", "'attachments' must be an array", "attachments", true};
      if (list.size() > max_attachments_)
        throw Refusal{400, "too_many", "at most " + std::to_string(max_attachments_) + " attachments", "attachments",
                      true};
      for (size_t i = 0; i < list.size(); ++i) attachments.push_back(attachment(list[i], i, sources, errors));
    }
    draft["attachments"] = attachments;
    if (!sources.empty()) extras["attachment_sources"] = sources;
    if (!errors.empty()) extras["attachment_errors"] = errors;
    if (!extras.empty()) draft["extras"] = json{{"app", extras}};
    std::string d = draft.dump();
    auto r = host_.submit({d, req.body(), "application/json", {}, {}});
    minyi::plugins::answer_submit(host_, r, resp);
  }

  // One attachment → the draft's attachment (stored file, SHA-256, size). Transient fetch
  // failures refuse the request (503, the app retries); permanent ones keep the message
  // and record why the file is missing.
  json attachment(const json& a, size_t i, json& sources, json& errors) {
    std::string field = "attachments[" + std::to_string(i) + "]";
    if (!a.is_object()) throw Refusal{400, "wrong_type", "'" + field + "' must be an object", field, true};
    bool has_url = a.contains("url"), has_data = a.contains("data_base64");
    if (has_url == has_data)
      throw Refusal{400, "invalid_value", "'" + field + "' needs exactly one of url or data_base64", field, true};
    json out = json::object();
    for (const char* k : {"kind", "filename", "content_type"})
      if (a.contains(k)) {
        if (!a[k].is_string()) throw Refusal{400, "wrong_type", "'" + field + "." + k + "' must be a string", field};
        out[k] = a[k];
      }
    Stored stored;
    if (has_data) {
      if (!a["data_base64"].is_string())
        throw Refusal{400, "wrong_type", "'" + field + ".data_base64' must be a string", field, true};
      auto bytes = minyi::plugins::base64_decode(a["data_base64"].get<std::string>());
      if (!bytes) throw Refusal{400, "invalid_value", "'" + field + ".data_base64' is not base64", field, true};
      if (bytes->size() > max_bytes_)
        throw Refusal{413, "too_large", "'" + field + "' exceeds attachment_max_bytes", field};
      auto w = store_->open();
      if (!w->write(*bytes)) throw Refusal{503, "storage", "cannot store the attachment", field, false, 5};
      stored = store_->commit(*w);
      sources.push_back({{"index", i}, {"inline", true}});
    } else {
      if (!a["url"].is_string()) throw Refusal{400, "wrong_type", "'" + field + ".url' must be a string", field, true};
      std::string url = a["url"];
      std::string why;
      bool transient = false;
      auto got = fetch(url, why, transient);
      if (!got) {
        if (transient) throw Refusal{503, "attachment_unavailable", field + ": " + why, field, false, 30};
        host_.count("attachment_errors");
        errors.push_back({{"index", i}, {"url", url}, {"error", why}});
        out["url"] = url;
        if (!out.contains("kind")) out["kind"] = "link";
        return out;
      }
      stored = *got;
      sources.push_back({{"index", i}, {"url", url}});
    }
    out["url"] = "file://" + stored.path;
    out["sha256"] = stored.sha256;
    out["bytes"] = stored.bytes;
    host_.count("attachments_stored");
    return out;
  }

  std::optional<Stored> fetch(const std::string& url, std::string& why, bool& transient) {
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
    char* scheme = nullptr;
    char* hostname = nullptr;
    if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
        curl_url_get(u.get(), CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u.get(), CURLUPART_HOST, &hostname, 0) != CURLUE_OK) {
      curl_free(scheme);
      curl_free(hostname);
      why = "not a valid URL";
      return std::nullopt;
    }
    std::string sch = scheme, hst = hostname;
    curl_free(scheme);
    curl_free(hostname);
    if (sch != "https" && !(allow_http_ && sch == "http")) {
      why = "scheme '" + sch + "' is not allowed" + (allow_http_ ? "" : " (https only; see allow_http)");
      return std::nullopt;
    }
    if (!fetch_hosts_.empty() && !fetch_hosts_.count(hst)) {
      why = "host is not in fetch_hosts";
      return std::nullopt;
    }
    auto w = store_->open();
    struct Sink {
      AttachmentStore::Writer* w;
      uint64_t max;
      bool too_big = false, io_error = false;
    } sink{w.get(), max_bytes_};
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, allow_http_ ? "http,https" : "https");
    curl_easy_setopt(c.get(), CURLOPT_REDIR_PROTOCOLS_STR, allow_http_ ? "http,https" : "https");
    curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(timeout_ms_, 5000)));
    curl_easy_setopt(c.get(), CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes_));
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "minyi-channel-app/1.0");
    if (!ca_file_.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(
        c.get(), CURLOPT_WRITEFUNCTION, +[](char* p, size_t sz, size_t n, void* ud) -> size_t {
          auto* s = static_cast<Sink*>(ud);
          size_t len = sz * n;
          if (s->w->bytes + len > s->max) {
            s->too_big = true;
            return 0;  // aborts the transfer
          }
          if (!s->w->write(std::string_view(p, len))) {
            s->io_error = true;
            return 0;
          }
          return len;
        });
    CURLcode rc = curl_easy_perform(c.get());
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
      why = "larger than attachment_max_bytes (" + std::to_string(max_bytes_) + ")";
      return std::nullopt;
    }
    if (sink.io_error) {
      why = "cannot store the attachment";
      transient = true;
      return std::nullopt;
    }
    if (rc != CURLE_OK) {
      why = std::string("fetch failed: ") + curl_easy_strerror(rc);
      transient = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                  rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
                  rc == CURLE_PARTIAL_FILE;
      return std::nullopt;
    }
    if (status >= 400) {
      why = "the server answered HTTP " + std::to_string(status);
      transient = status >= 500 || status == 429 || status == 408;
      return std::nullopt;
    }
    try {
      return store_->commit(*w);
    } catch (const std::exception&) {
      why = "cannot store the attachment";
      transient = true;
      return std::nullopt;
    }
  }

  minyi::Host host_;
  std::string path_, secret_, ca_file_;
  int64_t window_ms_ = 0, timeout_ms_ = 0;
  uint64_t max_bytes_ = 0;
  size_t max_attachments_ = 0;
  std::set<std::string> fetch_hosts_;
  bool allow_http_ = false;
  NonceCache nonces_;
  std::unique_ptr<AttachmentStore> store_;
};

}  // namespace

MINYI_PLUGIN(AppChannel, MINYI_KIND_SOURCE, "app", "1.0.0",
             "city app backend webhook: signed JSON, attachments fetched and kept", "app", kConfig, 0)
