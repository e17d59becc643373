// channel_wechat: the WeChat official-account (公众号) and WeCom (企业微信) callback protocol —
// URL verification, plain / compatible / safe (AES) modes, passive replies, and conversation
// assembly (a citizen's text, photo and location become one suggestion). One instance per
// account. See docs/channels/wechat.md.
#include <array>
#include <ctime>
#include <map>
#include <memory>
#include <minyi/plugin.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "codec.hpp"
#include "wxcrypt.hpp"
#include "wxmessage.hpp"

namespace {

using nlohmann::json;
namespace wx = minyi::wx;

const char* const kPlatforms = "mp|wecom";
const char* const kModes = "plain|compatible|safe";

const std::array<minyi_config_entry_t, 14> kConfig = {{
    {"path", MINYI_CFG_STRING, "/wechat/callback", 0,
     "URL path of the callback (GET verifies the URL, POST delivers messages)", nullptr},
    {"platform", MINYI_CFG_STRING, "mp", 0, "mp = official account (公众号); wecom = WeCom (企业微信) app", kPlatforms},
    {"mode", MINYI_CFG_STRING, "safe", 0,
     "message encryption as set in the console: plain (明文), compatible (兼容), safe (安全); wecom is always safe",
     kModes},
    {"token", MINYI_CFG_STRING, nullptr, 1, "the Token entered in the console (use ${file:…})", nullptr},
    {"encoding_aes_key", MINYI_CFG_STRING, nullptr, 0,
     "the 43-character EncodingAESKey (required for compatible, safe and wecom)", nullptr},
    {"app_id", MINYI_CFG_STRING, nullptr, 0,
     "AppID of the official account, or CorpID for wecom; decrypted messages must name it", nullptr},
    {"agent_id", MINYI_CFG_STRING, nullptr, 0, "wecom: accept only messages for this AgentID", nullptr},
    {"timestamp_window", MINYI_CFG_DURATION, "5m", 0,
     "refuse requests whose timestamp is further than this from now (replayed captures)", nullptr},
    {"quiet_period", MINYI_CFG_DURATION, "60s", 0,
     "messages of one user within this quiet period become one suggestion; 0 = one per message", nullptr},
    {"reply", MINYI_CFG_STRING, "", 0,
     "passive text reply to each message, e.g. \"您的建议已收到，编号 {ref}\" ({ref}, or {id} when quiet_period is 0); "
     "empty = answer \"success\"",
     nullptr},
    {"event_suggestions", MINYI_CFG_STRING_LIST, nullptr, 0,
     "events that become suggestions (e.g. [CLICK]); others are counted as channel activity", nullptr},
    {"location_ttl", MINYI_CFG_DURATION, "30m", 0,
     "a LOCATION event locates the user's next suggestion if it starts within this time", nullptr},
    {"max_body", MINYI_CFG_SIZE, "64KiB", 0, "larger callback bodies are refused with 413", nullptr},
    {"max_parts", MINYI_CFG_INT, "20", 0, "a conversation is committed early once it has this many messages", nullptr},
}};

// How long the keys of committed messages are remembered, so WeChat's retries (three,
// over ~15 s) are answered without storing anything again.
constexpr int64_t kRememberMs = 10 * 60 * 1000;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Query strings: %XX decoded; '+' kept (base64 echostr values use it literally).
std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  auto dec = [](std::string_view s) {
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        o += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        o += s[i];
      }
    }
    return o;
  };
  while (!q.empty()) {
    auto amp = q.find('&');
    auto pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.empty()) continue;
    out.emplace(dec(pair.substr(0, eq)), eq == std::string_view::npos ? "" : dec(pair.substr(eq + 1)));
  }
  return out;
}

std::string rfc3339(int64_t unix_s) {
  std::time_t t = unix_s;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Refusal {
  int status;
  std::string code, message;
  std::string quarantine;  // readable bytes worth keeping, or empty
};

// One user's pending messages and recent history. Guarded by its own mutex.
struct Conversation {
  std::mutex mu;
  std::string openid, account, ref, agent_id;
  json parts = json::array();  // pending, in arrival order
  std::vector<std::string> raw;
  int64_t first_ms = 0, last_ms = 0;
  json location;  // last LOCATION event: {lat, lon, precision, at_ms}
  // source key -> {"ref", "id", "until"} of committed messages (answered on retries)
  json recent = json::object();
  bool dead = false;  // removed from the map: callers holding a pointer must look again

  json to_json() const {
    return {{"openid", openid},     {"account", account}, {"ref", ref},           {"agent_id", agent_id},
            {"parts", parts},       {"raw", raw},         {"first_ms", first_ms}, {"last_ms", last_ms},
            {"location", location}, {"recent", recent}};
  }
  void from_json(const json& j) {
    openid = j.value("openid", "");
    account = j.value("account", "");
    ref = j.value("ref", "");
    agent_id = j.value("agent_id", "");
    parts = j.value("parts", json::array());
    raw = j.value("raw", std::vector<std::string>{});
    first_ms = j.value("first_ms", int64_t{0});
    last_ms = j.value("last_ms", int64_t{0});
    location = j.value("location", json());
    recent = j.value("recent", json::object());
  }
  bool pending_has(const std::string& key) const {
    for (const auto& p : parts)
      if (p.value("key", "") == key) return true;
    return false;
  }
  bool empty() const { return parts.empty() && location.is_null() && recent.empty(); }
};

class WeChatChannel {
 public:
  explicit WeChatChannel(minyi::Host host) : host_(host) {
    path_ = host_.config_string("path", "/wechat/callback");
    if (path_.empty() || path_[0] != '/') throw minyi::ConfigError("'path' must start with '/', got '" + path_ + "'");
    wecom_ = host_.config_string("platform", "mp") == "wecom";
    mode_ = wecom_ ? "safe" : host_.config_string("mode", "safe");
    token_ = host_.config_string("token", "");
    if (token_.empty()) throw minyi::ConfigError("'token' is required (the Token from the WeChat console)");
    if (auto k = host_.config_string("encoding_aes_key")) {
      auto key = wx::decode_encoding_aes_key(*k);
      if (!key) throw minyi::ConfigError("'encoding_aes_key' must be the 43-character EncodingAESKey from the console");
      key_ = *key;
    } else if (mode_ != "plain") {
      throw minyi::ConfigError(std::string("'encoding_aes_key' is required for ") +
                               (wecom_ ? "platform wecom" : "mode " + mode_));
    }
    app_id_ = host_.config_string("app_id", "");
    if (app_id_.empty() && mode_ != "plain")
      throw minyi::ConfigError(std::string("'app_id' is required for ") +
                               (wecom_ ? "platform wecom (the CorpID)" : "mode " + mode_ + " (the AppID)"));
    agent_id_ = host_.config_string("agent_id", "");
    window_ms_ = host_.config_int("timestamp_window", 300000);
    quiet_ms_ = host_.config_int("quiet_period", 60000);
    reply_ = host_.config_string("reply", "");
    for (auto& [k, v] : host_.config_items("event_suggestions")) event_suggestions_.insert(std::string(v));
    location_ttl_ms_ = host_.config_int("location_ttl", 1800000);
    max_body_ = static_cast<size_t>(host_.config_int("max_body", 65536));
    max_parts_ = static_cast<size_t>(std::max<int64_t>(1, host_.config_int("max_parts", 20)));
    host_.route("GET", path_.c_str());
    host_.route("POST", path_.c_str());
    // Conversations that were open when the daemon stopped (or crashed) carry on.
    for (auto& [key, value] : host_.checkpoints("conv/")) {
      try {
        auto c = std::make_shared<Conversation>();
        c->from_json(json::parse(value));
        if (c->openid.empty()) continue;
        convs_[c->openid] = c;
      } catch (const std::exception&) {
        host_.warn("ignoring an unreadable conversation checkpoint");
      }
    }
    if (!convs_.empty()) host_.info("restored " + std::to_string(convs_.size()) + " open conversation(s)");
  }
  const minyi::Host& host() const { return host_; }

  void on_http(const minyi::HttpRequest& req, minyi::HttpResponse& resp) {
    try {
      if (req.method() == "GET")
        verify_url(req, resp);
      else
        receive(req, resp);
    } catch (const Refusal& r) {
      if (!r.quarantine.empty()) host_.quarantine(r.quarantine, "application/xml", r.code + ": " + r.message);
      host_.count("rejected_" + r.code);
      host_.warn("refused a callback: " + r.code + " (" + r.message + ")");
      resp.respond(r.status, "text/plain; charset=utf-8", r.code + ": " + r.message + "\n");
    }
  }

  // Commits conversations whose quiet period is over; forgets expired replay keys.
  bool on_poll() {
    std::vector<std::shared_ptr<Conversation>> all;
    {
      std::lock_guard lock(mu_);
      for (auto& [k, c] : convs_) all.push_back(c);
    }
    bool ok = true;
    for (auto& c : all) {
      std::lock_guard lock(c->mu);
      int64_t now = host_.now_ms();
      if (!c->parts.empty() && now - c->last_ms >= quiet_ms_) ok = flush(*c) && ok;
      tidy(*c, now);
    }
    return ok;
  }

 private:
  // ---- protocol ----

  void check_timestamp(const std::string& ts) {
    int64_t t = 0;
    try {
      size_t used = 0;
      t = std::stoll(ts, &used);
      if (used != ts.size()) throw std::invalid_argument("x");
    } catch (const std::exception&) {
      throw Refusal{400, "bad_request", "timestamp is missing or not a number", ""};
    }
    int64_t skew = host_.now_ms() / 1000 - t;
    if (window_ms_ > 0 && std::llabs(skew) * 1000 > window_ms_)
      throw Refusal{
          403, "stale_timestamp",
          "timestamp is " + std::to_string(skew) + " s from now (window " + std::to_string(window_ms_ / 1000) + " s)",
          ""};
  }

  void verify_url(const minyi::HttpRequest& req, minyi::HttpResponse& resp) {
    auto q = parse_query(req.query());
    const std::string &ts = q["timestamp"], &nonce = q["nonce"], &echostr = q["echostr"];
    if (echostr.empty()) throw Refusal{400, "bad_request", "echostr is missing", ""};
    check_timestamp(ts);
    if (wecom_) {
      // WeCom: msg_signature covers the encrypted echostr; the answer is its plaintext.
      if (!minyi::plugins::equal_ct(wx::sorted_sha1({token_, ts, nonce, echostr}), q["msg_signature"]))
        throw Refusal{403, "bad_signature", "msg_signature does not match", ""};
      auto d = wx::decrypt(*key_, echostr);
      if (auto* e = std::get_if<wx::DecryptError>(&d)) throw Refusal{400, "bad_encrypt", e->message, ""};
      auto& plain = std::get<wx::Decrypted>(d);
      if (!minyi::plugins::equal_ct(plain.receive_id, app_id_))
        throw Refusal{403, "wrong_app_id", "the echostr was encrypted for another CorpID", ""};
      host_.count("url_verified");
      resp.respond(200, "text/plain", plain.message);
      return;
    }
    if (!minyi::plugins::equal_ct(wx::sorted_sha1({token_, ts, nonce}), q["signature"]))
      throw Refusal{403, "bad_signature", "signature does not match", ""};
    host_.count("url_verified");
    resp.respond(200, "text/plain", echostr);
  }

  void receive(const minyi::HttpRequest& req, minyi::HttpResponse& resp) {
    std::string_view body = req.body();
    if (body.size() > max_body_)
      throw Refusal{413, "too_large", "the body exceeds max_body (" + std::to_string(max_body_) + " bytes)", ""};
    auto q = parse_query(req.query());
    const std::string &ts = q["timestamp"], &nonce = q["nonce"];
    check_timestamp(ts);
    bool encrypted = wecom_ || q["encrypt_type"] == "aes";
    if (encrypted && mode_ == "plain")
      throw Refusal{403, "mode_mismatch", "an encrypted message reached a channel in plain mode (set mode)", ""};
    if (!encrypted && mode_ == "safe")
      throw Refusal{403, "mode_mismatch", "a plaintext message reached a channel in safe mode", ""};

    std::string plaintext;
    if (encrypted) {
      auto outer = wx::parse_body(body);
      if (auto* e = std::get_if<wx::ParseError>(&outer)) throw Refusal{400, e->code, e->message, std::string(body)};
      auto& f = std::get<wx::Fields>(outer);
      std::string enc = f.count("Encrypt") ? f["Encrypt"] : f["encrypt"];
      if (enc.empty()) throw Refusal{400, "bad_encrypt", "the body has no Encrypt element", std::string(body)};
      if (!minyi::plugins::equal_ct(wx::sorted_sha1({token_, ts, nonce, enc}), q["msg_signature"]))
        throw Refusal{403, "bad_signature", "msg_signature does not match", ""};
      auto d = wx::decrypt(*key_, enc);
      if (auto* e = std::get_if<wx::DecryptError>(&d)) throw Refusal{400, "bad_encrypt", e->message, std::string(body)};
      auto& plain = std::get<wx::Decrypted>(d);
      if (!minyi::plugins::equal_ct(plain.receive_id, app_id_))
        throw Refusal{403, "wrong_app_id", "the message was encrypted for another AppID/CorpID", plain.message};
      plaintext = std::move(plain.message);
    } else {
      if (!minyi::plugins::equal_ct(wx::sorted_sha1({token_, ts, nonce}), q["signature"]))
        throw Refusal{403, "bad_signature", "signature does not match", ""};
      plaintext = std::string(body);
    }
    auto fields = wx::parse_body(plaintext);
    if (auto* e = std::get_if<wx::ParseError>(&fields)) throw Refusal{400, e->code, e->message, plaintext};
    auto parsed = wx::to_message(std::get<wx::Fields>(fields));
    if (auto* e = std::get_if<wx::ParseError>(&parsed)) throw Refusal{400, e->code, e->message, plaintext};
    auto& msg = std::get<wx::Message>(parsed);
    if (wecom_ && !agent_id_.empty() && msg.agent_id != agent_id_)
      throw Refusal{403, "wrong_agent", "the message is for another AgentID", ""};

    std::string reply_text = handle(msg, plaintext);
    if (reply_text.empty()) {
      resp.respond(200, "text/plain", "success");
      return;
    }
    resp.respond(200, "application/xml", passive_reply(msg, reply_text, encrypted, nonce));
  }

  // The XML WeChat shows the user as our answer; encrypted when the request was.
  std::string passive_reply(const wx::Message& msg, const std::string& text, bool encrypted, const std::string& nonce) {
    std::string now = std::to_string(host_.now_ms() / 1000);
    std::string xml = "<xml><ToUserName>" + wx::cdata(msg.from_user) + "</ToUserName><FromUserName>" +
                      wx::cdata(msg.to_user) + "</FromUserName><CreateTime>" + now +
                      "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>" + wx::cdata(text) + "</Content>";
    if (wecom_ && !msg.agent_id.empty()) xml += "<AgentID>" + msg.agent_id + "</AgentID>";
    xml += "</xml>";
    if (!encrypted) return xml;
    return wx::encrypted_reply(*key_, token_, wx::random16(), xml, app_id_, now, nonce);
  }

  std::string reply_for(const std::string& ref, const std::string& id) const {
    if (reply_.empty()) return {};
    std::string out = reply_;
    for (auto [ph, val] :
         {std::pair<const char*, const std::string*>{"{ref}", &ref}, {"{id}", id.empty() ? &ref : &id}})
      for (size_t p; (p = out.find(ph)) != std::string::npos;) out.replace(p, std::strlen(ph), *val);
    return out;
  }

  // ---- conversations ----

  std::shared_ptr<Conversation> conversation(const std::string& openid) {
    std::lock_guard lock(mu_);
    auto& c = convs_[openid];
    if (!c) {
      c = std::make_shared<Conversation>();
      c->openid = openid;
    }
    return c;
  }

  // Returns the passive reply text (empty = "success").
  std::string handle(const wx::Message& msg, const std::string& plaintext) {
    std::shared_ptr<Conversation> conv;
    std::unique_lock<std::mutex> lock;
    do {
      conv = conversation(msg.from_user);
      lock = std::unique_lock(conv->mu);
    } while (conv->dead);
    const std::string key = msg.source_key();
    int64_t now = host_.now_ms();
    // WeChat retries after 5 s without an answer: the retry is answered, nothing stored.
    if (conv->recent.contains(key)) {
      host_.count("replayed");
      if (msg.is_event() && !event_suggestions_.count(msg.event)) return {};
      const auto& r = conv->recent[key];
      return reply_for(r.value("ref", ""), r.value("id", ""));
    }
    if (conv->pending_has(key)) {
      host_.count("replayed");
      return reply_for(conv->ref, "");
    }
    if (msg.is_event() && !event_suggestions_.count(msg.event)) {
      host_.count("event_" + lower(msg.event));
      if (msg.event == "LOCATION") conv->location = {{"lat", *msg.lat}, {"lon", *msg.lon}, {"at_ms", now}};
      conv->recent[key] = {{"until", now + kRememberMs}};
      if (msg.event == "LOCATION" && !persist(*conv))
        throw Refusal{503, "busy", "the journal is busy; WeChat will retry", ""};
      return {};
    }
    if (conv->parts.empty()) {
      conv->ref = msg.msg_id.empty() ? std::to_string(msg.create_time) + std::to_string(now % 1000) : msg.msg_id;
      conv->first_ms = now;
      conv->account = msg.to_user;
      conv->agent_id = msg.agent_id;
    }
    conv->parts.push_back(part(msg, key));
    conv->raw.push_back(plaintext);
    conv->last_ms = now;
    host_.count("messages");
    std::string ref = conv->ref;
    if (quiet_ms_ == 0 || conv->parts.size() >= max_parts_) {
      if (!flush(*conv)) throw Refusal{503, "busy", "the journal is busy; WeChat will retry", ""};
      const auto& r = conv->recent[key];
      return reply_for(r.value("ref", ref), r.value("id", ""));
    }
    // Durable before WeChat hears back: a restart now loses no part.
    if (!persist(*conv)) {
      conv->parts.erase(conv->parts.size() - 1);
      conv->raw.pop_back();
      throw Refusal{503, "busy", "the journal is busy; WeChat will retry", ""};
    }
    return reply_for(ref, "");
  }

  static json part(const wx::Message& m, const std::string& key) {
    json p = {{"key", key}, {"type", m.msg_type}, {"create_time", m.create_time}};
    auto put = [&](const char* k, const std::string& v) {
      if (!v.empty()) p[k] = v;
    };
    put("msg_id", m.msg_id);
    put("content", m.content);
    put("media_id", m.media_id);
    put("pic_url", m.pic_url);
    put("format", m.format);
    put("recognition", m.recognition);
    put("thumb_media_id", m.thumb_media_id);
    put("title", m.title);
    put("description", m.description);
    put("url", m.url);
    put("label", m.label);
    put("event", m.event);
    put("event_key", m.event_key);
    if (m.lat) p["lat"] = *m.lat;
    if (m.lon) p["lon"] = *m.lon;
    return p;
  }

  bool persist(Conversation& c) {
    return host_.set_checkpoint("conv/" + c.openid, c.empty() ? std::string() : c.to_json().dump());
  }

  // Builds the draft of a conversation's pending parts.
  json draft(const Conversation& c) const {
    std::vector<std::string> texts, placeholders;
    json attachments = json::array(), location, media_ids = json::array(), msg_ids = json::array(),
         types = json::array();
    bool needs_transcription = false;
    int64_t first_ct = 0;
    for (const auto& p : c.parts) {
      std::string type = p.value("type", "");
      if (!first_ct) first_ct = p.value("create_time", int64_t{0});
      if (p.contains("msg_id")) msg_ids.push_back(p["msg_id"]);
      types.push_back(type);
      auto media = [&](const char* kind, const std::string& ct) {
        json a = {{"kind", kind}, {"url", "wechat-media:" + p.value("media_id", "")}};
        if (!ct.empty()) a["content_type"] = ct;
        media_ids.push_back(p.value("media_id", ""));
        return a;
      };
      if (type == "text") {
        texts.push_back(p.value("content", ""));
      } else if (type == "voice") {
        std::string fmt = lower(p.value("format", ""));
        json a = media("audio", fmt.empty() ? "" : "audio/" + fmt);
        if (p.contains("recognition") && !p["recognition"].get<std::string>().empty()) {
          texts.push_back(p["recognition"].get<std::string>());
          a["text"] = p["recognition"];
        } else {
          needs_transcription = true;
          placeholders.push_back("[语音，待转写]");
        }
        attachments.push_back(a);
      } else if (type == "image") {
        json a = {{"kind", "image"},
                  {"url", p.contains("pic_url") ? p["pic_url"].get<std::string>()
                                                : "wechat-media:" + p.value("media_id", "")}};
        if (p.contains("media_id")) media_ids.push_back(p["media_id"]);
        attachments.push_back(a);
        placeholders.push_back("[图片]");
      } else if (type == "video" || type == "shortvideo") {
        attachments.push_back(media("video", ""));
        placeholders.push_back(type == "video" ? "[视频]" : "[小视频]");
      } else if (type == "location") {
        location = {{"lat", p["lat"]}, {"lon", p["lon"]}};
        if (p.contains("label")) location["text"] = p["label"];
        placeholders.push_back("[位置] " + p.value("label", ""));
      } else if (type == "link") {
        json a = {{"kind", "link"}, {"url", p.value("url", "wechat-link:")}};
        if (p.contains("title")) a["text"] = p["title"];
        attachments.push_back(a);
        std::string t = p.value("title", "");
        if (p.contains("description")) t += (t.empty() ? "" : "\n") + p["description"].get<std::string>();
        if (!t.empty()) texts.push_back(t);
      } else if (type == "event") {
        std::string t = "[" + p.value("event", "") + "]";
        if (p.contains("event_key")) t += " " + p["event_key"].get<std::string>();
        texts.push_back(t);
      } else {
        placeholders.push_back("[" + type + "]");
      }
    }
    std::string content;
    for (const auto& t : texts)
      if (!t.empty()) content += (content.empty() ? "" : "\n") + t;
    if (content.empty())
      for (const auto& t : placeholders) content += (content.empty() ? "" : " ") + t;
    if (content.empty()) content = "[" + c.parts[0].value("type", "message") + "]";
    // A LOCATION event shortly before the conversation tells where the user was.
    if (location.is_null() && c.location.is_object() &&
        c.first_ms - c.location.value("at_ms", int64_t{0}) <= location_ttl_ms_)
      location = {{"lat", c.location["lat"]}, {"lon", c.location["lon"]}};
    json wechat = {{"account", c.account},
                   {"msg_ids", msg_ids},
                   {"message_types", types},
                   {"needs_transcription", needs_transcription}};
    if (!media_ids.empty()) wechat["media_ids"] = media_ids;
    if (!c.agent_id.empty()) wechat["agent_id"] = c.agent_id;
    json d = {{"content", content},
              {"external_id", c.ref},
              {"submitter", {{"wechat_openid", c.openid}}},
              {"attachments", attachments},
              {"extras", {{wecom_ ? "wecom" : "wechat", wechat}}}};
    if (first_ct > 0) d["submitted_at"] = rfc3339(first_ct);
    if (location.is_object()) d["location"] = location;
    return d;
  }

  // Submits the pending parts as one suggestion; the conversation's new state (parts gone,
  // their keys remembered) is committed in the same transaction. Caller holds c.mu.
  bool flush(Conversation& c) {
    if (c.parts.empty()) return true;
    int64_t now = host_.now_ms();
    Conversation after;
    after.openid = c.openid;
    after.location = c.location;
    after.recent = c.recent;
    std::string d = draft(c).dump();
    std::string raw = json(c.raw).dump();
    for (const auto& p : c.parts) after.recent[p.value("key", "")] = {{"ref", c.ref}, {"until", now + kRememberMs}};
    std::string state = after.to_json().dump();
    auto r = host_.submit({d, raw, "application/json", "conv/" + c.openid, state});
    switch (r.status) {
      case MINYI_SUBMIT_ACCEPTED:
      case MINYI_SUBMIT_REPLAY:
        host_.count(r.status == MINYI_SUBMIT_ACCEPTED ? "accepted" : "replayed");
        break;
      case MINYI_SUBMIT_REJECTED:
        // The host quarantined the raw parts; do not try again.
        host_.count("rejected");
        host_.error("a conversation was rejected: " + r.code + " " + r.reason);
        host_.set_checkpoint("conv/" + c.openid, state);
        break;
      default:
        host_.count("busy");
        return false;
    }
    // The id is known only now; retries in this process get it, after a restart the ref.
    for (auto& [k, v] : after.recent.items())
      if (v.value("ref", "") == c.ref && !r.id.empty()) v["id"] = r.id;
    c.parts = json::array();
    c.raw.clear();
    c.recent = after.recent;
    c.ref.clear();
    return true;
  }

  // Drops expired replay keys and locations; deletes the checkpoint of an idle user.
  void tidy(Conversation& c, int64_t now) {
    bool changed = false;
    for (auto it = c.recent.begin(); it != c.recent.end();) {
      if (it.value().value("until", int64_t{0}) < now) {
        it = c.recent.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
    if (c.location.is_object() && now - c.location.value("at_ms", int64_t{0}) > location_ttl_ms_) {
      c.location = json();
      changed = true;
    }
    if (!changed) return;
    persist(c);
    if (c.empty()) {
      std::lock_guard lock(mu_);
      c.dead = true;
      convs_.erase(c.openid);
    }
  }

  minyi::Host host_;
  std::string path_, mode_, token_, app_id_, agent_id_, reply_;
  bool wecom_ = false;
  std::optional<wx::AesKey> key_;
  int64_t window_ms_ = 0, quiet_ms_ = 0, location_ttl_ms_ = 0;
  size_t max_body_ = 0, max_parts_ = 0;
  std::set<std::string> event_suggestions_;
  std::mutex mu_;  // guards convs_ (the map, not the conversations)
  std::map<std::string, std::shared_ptr<Conversation>> convs_;
};

}  // namespace

MINYI_PLUGIN(WeChatChannel, MINYI_KIND_SOURCE, "wechat", "1.0.0",
             "WeChat official account / WeCom callback: verified, decrypted, conversations assembled", "wechat",
             kConfig, 1000)
