// channel_web: the "minyi web intake v1" format over HTTP POST (JSON or URL-encoded form),
// with an optional HMAC-SHA256 request signature. See docs/channels/web.md.
#include <array>
#include <cstdlib>
#include <minyi/plugin.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "answer.hpp"
#include "codec.hpp"
#include "json_scan.hpp"

namespace {

using minyi::plugins::error_json;
using nlohmann::json;

const std::array<minyi_config_entry_t, 4> kConfig = {{
    {"path", MINYI_CFG_STRING, "/v1/suggestions", 0, "URL path that accepts POSTed suggestions", nullptr},
    {"secret", MINYI_CFG_STRING, nullptr, 0,
     "shared secret; when set, every request must carry a valid signature header (use ${file:…})", nullptr},
    {"signature_header", MINYI_CFG_STRING, "X-Minyi-Signature", 0,
     "header holding \"sha256=<hex HMAC-SHA256(secret, body)>\"", nullptr},
    {"accept_form", MINYI_CFG_BOOL, "true", 0, "also accept application/x-www-form-urlencoded bodies", nullptr},
}};

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

bool valid_utf8(std::string_view s) {
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    size_t len = c < 0x80                   ? 1
                 : (c >= 0xC2 && c <= 0xDF) ? 2
                 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4
                                            : 0;
    if (!len || i + len > n) return false;
    for (size_t k = 1; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return false;
    if (len == 3 && ((c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xED && p[i + 1] > 0x9F))) return false;
    if (len == 4 && ((c == 0xF0 && p[i + 1] < 0x90) || (c == 0xF4 && p[i + 1] > 0x8F))) return false;
    i += len;
  }
  return true;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return std::nullopt;
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct BadRequest {
  int status;
  std::string code, message, field;
};

// Fields of the web intake v1 format (a subset of the draft).
using Names = std::set<std::string, std::less<>>;
const Names kTop = {"title", "content", "submitter", "location", "submitted_at", "external_id", "attachments"};
const Names kSubmitter = {"name", "phone", "email", "id_number"};
const Names kLocation = {"text", "lat", "lon"};
const Names kCharsets = {"utf-8", "gb18030", "gbk", "gb2312", "big5"};
const Names kAttachment = {"url", "data_base64", "filename", "content_type"};

BadRequest unknown_field(const std::string& prefix, std::string_view name) {
  std::string field = prefix + std::string(name);
  return {400, "unknown_field", "unknown field '" + field + "' (see docs/channels/web.md)", field};
}

void check_fields(const json& obj, const Names& allowed, const std::string& prefix) {
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!allowed.count(it.key())) throw unknown_field(prefix, it.key());
}

// A JSON body is checked in one pass without building a document: the body itself goes on
// as the draft, and the host parses (and validates) that once. Same checks as
// check_fields on the form's document: the members of the body, of `submitter`, of
// `location` and of each attachment, and that `content` is there.
void check_json_body(std::string_view text) {
  std::optional<BadRequest> unknown;
  bool has_content = false;
  auto err =
      minyi::plugins::scan_json(text, [&](const std::vector<minyi::plugins::JsonFrame>& path, std::string_view name) {
        if (unknown || path.front().array) return;
        const Names* allowed = nullptr;
        std::string prefix;
        if (path.size() == 1) {
          allowed = &kTop;
          has_content = has_content || name == "content";
        } else if (path.size() == 2 && (path[1].name == "submitter" || path[1].name == "location")) {
          allowed = path[1].name == "submitter" ? &kSubmitter : &kLocation;
          prefix = path[1].name + ".";
        } else if (path.size() == 3 && path[1].array && path[1].name == "attachments") {
          allowed = &kAttachment;
          prefix = "attachments[" + std::to_string(path[2].index) + "].";
        }
        if (allowed && !allowed->count(name)) unknown = unknown_field(prefix, name);
      });
  if (err)
    throw BadRequest{400, "malformed_json",
                     "the body is not valid JSON (syntax error at byte " + std::to_string(err->byte) + ")", ""};
  if (!minyi::plugins::json_root_is_object(text))
    throw BadRequest{400, "wrong_type", "the body must be a JSON object", ""};
  if (unknown) throw *unknown;
  if (!has_content) throw BadRequest{400, "missing_field", "'content' is required", "content"};
}

// Form keys: title, content, submitted_at, external_id, submitter.name (or submitter[name]),
// location.lat, attachments[0].url, … Numbers in location are converted. `to_utf8` turns
// each %-decoded key and value into UTF-8 (identity for UTF-8 forms).
template <class ToUtf8>
json form_to_json(std::string_view body, ToUtf8 to_utf8) {
  json doc = json::object();
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    auto val = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!key || !val) throw BadRequest{400, "malformed_form", "the form body has a bad %-escape", ""};
    key = to_utf8(*key);
    val = to_utf8(*val);
    if (!valid_utf8(*key) || !valid_utf8(*val))
      throw BadRequest{400, "invalid_utf8", "the form body is not valid UTF-8 once decoded", ""};
    std::string k = *key;
    // submitter[name] → submitter.name ; attachments[0][url] → attachments[0].url
    for (size_t p; (p = k.find("][")) != std::string::npos;) {
      k[p] = '.';
      k.erase(p + 1, 1);
    }
    if (auto p = k.find('['); p != std::string::npos && k.back() == ']') {
      std::string inner = k.substr(p + 1, k.size() - p - 2);
      bool numeric = !inner.empty() && std::all_of(inner.begin(), inner.end(), ::isdigit);
      if (!numeric || k.compare(0, p, "attachments") != 0) {
        k = k.substr(0, p) + "." + inner;
      } else {
        k.pop_back();
      }
    }
    std::string field = k;
    if (field.rfind("attachments[", 0) == 0) {
      auto close = field.find(']');
      if (close == std::string::npos || close + 2 > field.size() || field[close + 1] != '.')
        throw BadRequest{400, "unknown_field", "form field '" + field + "' must look like attachments[0].url", field};
      size_t idx = std::strtoul(field.substr(12, close - 12).c_str(), nullptr, 10);
      if (idx >= 50) throw BadRequest{400, "too_long", "at most 50 attachments", field};
      auto& list = doc["attachments"];
      if (list.is_null()) list = json::array();
      while (list.size() <= idx) list.push_back(json::object());
      list[idx][field.substr(close + 2)] = *val;
      continue;
    }
    auto dot = field.find('.');
    if (dot == std::string::npos) {
      doc[field] = *val;
      continue;
    }
    std::string group = field.substr(0, dot), sub = field.substr(dot + 1);
    if (group != "submitter" && group != "location")
      throw BadRequest{400, "unknown_field", "unknown form field '" + field + "'", field};
    if (group == "location" && (sub == "lat" || sub == "lon")) {
      char* end = nullptr;
      double d = std::strtod(val->c_str(), &end);
      if (val->empty() || *end) throw BadRequest{400, "wrong_type", "'" + field + "' must be a number", field};
      doc[group][sub] = d;
    } else {
      doc[group][sub] = *val;
    }
  }
  // Drop the attachment slots a form left empty (attachments[3] without [0..2]).
  if (doc.contains("attachments")) {
    json kept = json::array();
    for (auto& a : doc["attachments"])
      if (!a.empty()) kept.push_back(a);
    doc["attachments"] = kept;
  }
  return doc;
}

class WebChannel {
 public:
  // on_http only parses and hands the draft to submit_async: safe on the network threads.
  static constexpr bool nonblocking_http = true;

  explicit WebChannel(minyi::Host host) : host_(host) {
    path_ = host_.config_string("path", "/v1/suggestions");
    if (path_.empty() || path_[0] != '/') throw minyi::ConfigError("'path' must start with '/', got '" + path_ + "'");
    if (auto s = host_.config_string("secret")) {
      if (s->empty()) throw minyi::ConfigError("'secret' is set but empty");
      secret_ = std::string(*s);
    }
    sig_header_ = host_.config_string("signature_header", "X-Minyi-Signature");
    accept_form_ = host_.config_bool("accept_form", true);
    host_.route("POST", path_.c_str());
  }
  const minyi::Host& host() const { return host_; }

  void on_http(const minyi::HttpRequest& req, minyi::HttpResponse& resp) {
    std::string_view body = req.body();
    std::string ctype_raw(req.header("Content-Type").value_or(""));
    try {
      handle(req, body, ctype_raw, resp);
    } catch (const BadRequest& e) {
      if (!body.empty()) host_.quarantine(body, ctype_raw, e.code + ": " + e.message);
      host_.count("rejected");
      resp.respond(e.status, "application/json", error_json(e.code, e.message, e.field));
    }
  }

 private:
  void handle(const minyi::HttpRequest& req, std::string_view body, const std::string& ctype_raw,
              minyi::HttpResponse& resp) {
    std::string ctype = lower(trim(ctype_raw.substr(0, ctype_raw.find(';'))));
    bool is_json = ctype == "application/json";
    bool is_form = accept_form_ && ctype == "application/x-www-form-urlencoded";
    if (!is_json && !is_form)
      throw BadRequest{415, "unsupported_media_type",
                       "Content-Type must be application/json" +
                           std::string(accept_form_ ? " or application/x-www-form-urlencoded" : "") + ", got '" +
                           (ctype.empty() ? std::string("none") : ctype) + "'",
                       ""};
    // Portals of older systems post GBK/GB18030 or Big5: decode a declared charset.
    std::string cs = "utf-8";
    if (auto pos = lower(ctype_raw).find("charset="); pos != std::string::npos) {
      cs = lower(trim(ctype_raw.substr(pos + 8)));
      cs = cs.substr(0, cs.find(';'));
      if (!cs.empty() && cs.front() == '"') cs = cs.substr(1, cs.find('"', 1) - 1);
      if (cs == "utf8") cs = "utf-8";
      if (!kCharsets.count(cs))
        throw BadRequest{415, "unsupported_charset",
                         "charset '" + cs + "' is not supported (use utf-8, gb18030, gbk, gb2312 or big5)", ""};
    }
    if (secret_) verify_signature(req, body);
    bool utf8 = cs == "utf-8";
    uint32_t replacements = 0;
    std::string charset_used = utf8 ? "utf-8" : "";
    std::string decoded;
    std::string_view text = body;
    if (!utf8 && is_json) {
      auto d = host_.decode_text(body, cs);
      decoded = std::move(d.utf8);
      text = decoded;
      charset_used = d.charset;
      replacements = d.replacements;
    }
    if (utf8 && !valid_utf8(body)) throw BadRequest{400, "invalid_utf8", "the request body is not valid UTF-8", ""};

    std::string form_draft;
    if (is_json) {
      check_json_body(text);
    } else {
      json doc =
          utf8 ? form_to_json(body, [](std::string s) { return s; }) : form_to_json(body, [&](const std::string& s) {
            auto d = host_.decode_text(s, cs);
            charset_used = d.charset;
            replacements += d.replacements;
            return d.utf8;
          });
      check_fields(doc, kTop, "");
      for (auto [name, allowed] : {std::pair{"submitter", &kSubmitter}, std::pair{"location", &kLocation}})
        if (doc.contains(name) && doc[name].is_object()) check_fields(doc[name], *allowed, std::string(name) + ".");
      if (doc.contains("attachments") && doc["attachments"].is_array())
        for (size_t i = 0; i < doc["attachments"].size(); ++i)
          if (doc["attachments"][i].is_object())
            check_fields(doc["attachments"][i], kAttachment, "attachments[" + std::to_string(i) + "].");
      if (!doc.contains("content")) throw BadRequest{400, "missing_field", "'content' is required", "content"};
      form_draft = doc.dump();
    }

    resp.defer();
    // A JSON body that passed the checks above is already a valid draft: hand it over as
    // is instead of serializing it again (the host validates it against draft.v1 anyway).
    std::string_view draft = is_json ? text : std::string_view(form_draft);
    host_.submit_async({draft, body, ctype_raw, {}, {}, charset_used, replacements},
                       [this, resp](const minyi::SubmitResult& r) mutable {
                         minyi::plugins::answer_submit(host_, r, resp);
                         resp.finish();
                       });
  }

  void verify_signature(const minyi::HttpRequest& req, std::string_view body) {
    auto sig = req.header(sig_header_);
    if (!sig)
      throw BadRequest{401, "signature_required", "this channel requires a " + sig_header_ + " header", sig_header_};
    std::string_view s = *sig;
    if (s.rfind("sha256=", 0) != 0 || s.size() != 7 + 64)
      throw BadRequest{401, "bad_signature", sig_header_ + " must be sha256=<64 hex digits>", sig_header_};
    std::string expected = minyi::plugins::hmac_sha256_hex(*secret_, body);
    if (!minyi::plugins::equal_ct(lower(s.substr(7)), expected))
      throw BadRequest{401, "bad_signature", "the request signature does not match the body", sig_header_};
  }

  minyi::Host host_;
  std::string path_;
  std::optional<std::string> secret_;
  std::string sig_header_;
  bool accept_form_ = true;
};

}  // namespace

MINYI_PLUGIN(WebChannel, MINYI_KIND_SOURCE, "web", "1.0.0", "citizen web portal: POST one suggestion as JSON or form",
             "web", kConfig, 0)
