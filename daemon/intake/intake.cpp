// Draft → suggestion. The output document follows sdk/schema/suggestion.v1.json.
#include "intake/intake.hpp"

#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "core/embedded.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"
#include "core/timefmt.hpp"

namespace minyi {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

bool has_cjk(std::string_view s) {
  // U+3400..U+9FFF encode as E3 90 80 .. E9 BF BF in UTF-8.
  for (size_t i = 0; i + 2 < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0xE3 && c <= 0xE9 && (c > 0xE3 || static_cast<unsigned char>(s[i + 1]) >= 0x90)) return true;
  }
  return false;
}

std::string attachment_kind(const json& a) {
  if (a.contains("kind")) return a["kind"].get<std::string>();
  std::string ct = a.value("content_type", "");
  if (ct.rfind("image/", 0) == 0) return "image";
  if (ct.rfind("audio/", 0) == 0) return "audio";
  if (ct.rfind("video/", 0) == 0) return "video";
  if (ct == "application/pdf" || ct.rfind("text/", 0) == 0) return "document";
  return a.contains("url") ? "link" : "other";
}

}  // namespace

Intake::Intake(std::string pii_key, std::function<int64_t()> clock)
    : draft_schema_(std::string(embedded::draft_schema)), pii_(std::move(pii_key)), clock_(std::move(clock)) {}

std::variant<JournalRecord, IntakeRejection> Intake::prepare(const IntakeSource& src, std::string_view draft_json,
                                                             std::string_view raw,
                                                             std::string_view raw_content_type) const {
  json d;
  try {
    d = json::parse(draft_json);
  } catch (const json::parse_error& e) {
    bool utf8 = std::string_view(e.what()).find("UTF-8") != std::string_view::npos;
    return IntakeRejection{utf8 ? "invalid_utf8" : "malformed_draft", "",
                           utf8 ? "the draft is not valid UTF-8" : "the plugin's draft is not valid JSON"};
  }
  if (auto v = draft_schema_.validate(d)) return IntakeRejection{v->code, v->field, v->message};

  int64_t now = clock_();
  JournalRecord rec;
  rec.instance = src.instance;
  rec.channel = src.channel;
  rec.suggestion_id = new_uuid_v7(now);
  rec.event_id = new_uuid_v7(now);
  rec.received_at = format_rfc3339_local(now);
  rec.raw = std::string(raw);
  rec.raw_sha256 = sha256_hex(raw);
  rec.raw_content_type = raw_content_type.empty() ? "application/octet-stream" : std::string(raw_content_type);

  std::string content = nfc_trim(d["content"].get<std::string>());
  if (content.empty()) return IntakeRejection{"missing_field", "content", "'content' must not be blank"};
  std::string title = d.contains("title") ? nfc_trim(d["title"].get<std::string>()) : "";

  ojson s;
  s["schema"] = "minyi.suggestion/1";
  s["id"] = rec.suggestion_id;
  s["channel"] = src.channel;
  ojson source;
  source["instance"] = src.instance;
  source["plugin"] = src.plugin;
  source["plugin_version"] = src.plugin_version;
  if (d.contains("external_id")) {
    rec.external_id = d["external_id"].get<std::string>();
    source["external_id"] = *rec.external_id;
  }
  source["raw_sha256"] = rec.raw_sha256;
  source["charset"] = "utf-8";
  s["source"] = source;
  s["received_at"] = rec.received_at;
  if (d.contains("submitted_at")) {
    rec.submitted_at = d["submitted_at"].get<std::string>();
    s["submitted_at"] = *rec.submitted_at;
  }
  if (!title.empty()) s["title"] = title;
  s["content"] = content;
  if (d.contains("language")) s["language"] = d["language"];
  else if (has_cjk(content) || has_cjk(title)) s["language"] = "zh-Hans";
  if (d.contains("kind")) s["kind"] = d["kind"];
  if (d.contains("category")) s["category"] = d["category"];

  ojson sub = ojson::object();
  const json ds = d.value("submitter", json::object());
  if (ds.contains("name")) {
    std::string name = nfc_trim(ds["name"].get<std::string>());
    if (!name.empty()) sub["name"] = name;
  }
  if (ds.contains("phone")) {
    const auto& phone = ds["phone"].get_ref<const std::string&>();
    if (canonical_phone(phone).size() < 5)
      return IntakeRejection{"invalid_value", "submitter.phone", "'submitter.phone' must contain at least 5 digits"};
    sub["phone_masked"] = mask_phone(phone);
    sub["phone_hash"] = pii_.phone_hash(phone);
  }
  if (ds.contains("id_number")) sub["id_hash"] = pii_.id_hash(ds["id_number"].get<std::string>());
  if (ds.contains("email")) {
    const auto& email = ds["email"].get_ref<const std::string&>();
    if (email.find('@') == std::string::npos)
      return IntakeRejection{"invalid_value", "submitter.email", "'submitter.email' is not an e-mail address"};
    sub["email_hash"] = pii_.email_hash(email);
  }
  if (ds.contains("wechat_openid")) sub["wechat_openid_hash"] = pii_.openid_hash(ds["wechat_openid"].get<std::string>());
  sub["anonymous"] = ds.value("anonymous", !ds.contains("name") && !ds.contains("phone") && !ds.contains("id_number") &&
                                               !ds.contains("email") && !ds.contains("wechat_openid"));
  s["submitter"] = sub;

  if (d.contains("location")) {
    ojson loc = ojson::object();
    const json& dl = d["location"];
    if (dl.contains("text")) loc["text"] = nfc_trim(dl["text"].get<std::string>());
    if (dl.contains("district")) loc["district"] = nfc_trim(dl["district"].get<std::string>());
    if (dl.contains("lat") != dl.contains("lon"))
      return IntakeRejection{"missing_field", dl.contains("lat") ? "location.lon" : "location.lat",
                             "'location.lat' and 'location.lon' come together"};
    if (dl.contains("lat")) {
      loc["lat"] = dl["lat"];
      loc["lon"] = dl["lon"];
    }
    if (!loc.empty()) s["location"] = loc;
  }

  ojson atts = ojson::array();
  if (d.contains("attachments")) {
    const json& list = d["attachments"];
    for (size_t i = 0; i < list.size(); ++i) {
      const json& a = list[i];
      std::string field = "attachments[" + std::to_string(i) + "]";
      if (a.contains("url") == a.contains("data_base64"))
        return IntakeRejection{"invalid_value", field, "'" + field + "' needs exactly one of url or data_base64"};
      ojson o;
      o["kind"] = attachment_kind(a);
      if (a.contains("url")) {
        o["uri"] = a["url"];
      } else {
        auto bytes = base64_decode(a["data_base64"].get<std::string>());
        if (!bytes)
          return IntakeRejection{"invalid_value", field + ".data_base64", "'" + field + ".data_base64' is not base64"};
        JournalRecord::Blob blob{sha256_hex(*bytes), a.value("content_type", "application/octet-stream"), *bytes};
        o["uri"] = "minyi:attachment:" + blob.sha256;
        o["sha256"] = blob.sha256;
        o["bytes"] = bytes->size();
        rec.attachments.push_back(std::move(blob));
      }
      if (a.contains("filename")) o["filename"] = a["filename"];
      if (a.contains("content_type")) o["content_type"] = a["content_type"];
      if (a.contains("text")) o["text"] = a["text"];
      atts.push_back(std::move(o));
    }
  }
  s["attachments"] = atts;
  if (d.contains("extras")) s["extras"] = d["extras"];
  s["dedup"] = {{"status", "new"}, {"duplicate_of", nullptr}, {"cluster_id", nullptr}, {"cluster_size", 1},
                {"score", nullptr}, {"reason", nullptr}, {"algorithm", nullptr}};
  rec.suggestion_json = s.dump();
  return rec;
}

}  // namespace minyi
