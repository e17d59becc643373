// Draft → suggestion. The output document follows sdk/schema/suggestion.v1.json.
#include "intake/intake.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "core/embedded.hpp"
#include "core/ids.hpp"
#include "core/json_writer.hpp"
#include "core/text.hpp"
#include "core/timefmt.hpp"
#include "dedup/clusters.hpp"
#include "dedup/minhash.hpp"
#include "intake/draft_reader.hpp"
#include "text/normalize.hpp"

namespace minyi {

using nlohmann::json;

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

Intake::Intake(std::string pii_key, std::function<int64_t()> clock, bool dedup, std::vector<std::string> gazetteer)
    : draft_schema_(std::string(embedded::draft_schema)),
      pii_(std::move(pii_key)),
      clock_(std::move(clock)),
      dedup_(dedup),
      gazetteer_(std::move(gazetteer)) {}

std::variant<JournalRecord, IntakeRejection> Intake::prepare(const IntakeSource& src, std::string_view draft_json,
                                                             std::string_view raw, std::string_view raw_content_type,
                                                             std::string_view charset, uint32_t replacements) const {
  json d;
  // The one-pass reader gives the same document faster; whatever it is not sure of goes to
  // nlohmann's parser, whose verdict and messages stand.
  if (!read_json_fast(draft_json, d)) {
    try {
      d = json::parse(draft_json);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
      bool utf8 = std::string_view(e.what()).find("UTF-8") != std::string_view::npos;
      return IntakeRejection{utf8 ? "invalid_utf8" : "malformed_draft", "",
                             utf8 ? "the draft is not valid UTF-8" : "the plugin's draft is not valid JSON"};
    }
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

  // The draft's strings passed the JSON parser's UTF-8 check.
  std::string content = nfc_trim_valid(d["content"].get_ref<const std::string&>());
  if (content.empty()) return IntakeRejection{"missing_field", "content", "'content' must not be blank"};
  std::string title = d.contains("title") ? nfc_trim_valid(d["title"].get_ref<const std::string&>()) : "";

  // Checks first, so nothing is rendered for a draft that is refused.
  const json no_object = json::object();
  const json& ds = d.contains("submitter") ? d["submitter"] : no_object;
  if (ds.contains("phone") && canonical_phone(ds["phone"].get_ref<const std::string&>()).size() < 5)
    return IntakeRejection{"invalid_value", "submitter.phone", "'submitter.phone' must contain at least 5 digits"};
  if (ds.contains("email") && ds["email"].get_ref<const std::string&>().find('@') == std::string::npos)
    return IntakeRejection{"invalid_value", "submitter.email", "'submitter.email' is not an e-mail address"};
  const json& dl = d.contains("location") ? d["location"] : no_object;
  if (dl.contains("lat") != dl.contains("lon"))
    return IntakeRejection{"missing_field", dl.contains("lat") ? "location.lon" : "location.lat",
                           "'location.lat' and 'location.lon' come together"};
  const json no_list = json::array();
  const json& list = d.contains("attachments") ? d["attachments"] : no_list;
  std::vector<std::optional<std::string>> decoded(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    std::string field = "attachments[" + std::to_string(i) + "]";
    if (a.contains("url") == a.contains("data_base64"))
      return IntakeRejection{"invalid_value", field, "'" + field + "' needs exactly one of url or data_base64"};
    if (a.contains("data_base64")) {
      decoded[i] = base64_decode(a["data_base64"].get_ref<const std::string&>());
      if (!decoded[i])
        return IntakeRejection{"invalid_value", field + ".data_base64", "'" + field + ".data_base64' is not base64"};
    }
  }
  if (d.contains("external_id")) rec.external_id = d["external_id"].get<std::string>();
  if (d.contains("submitted_at")) rec.submitted_at = d["submitted_at"].get<std::string>();

  // Rendered directly (no DOM): this is the hot path of every submission. Field order is
  // the schema's, so documents read the same everywhere.
  JsonWriter w(rec.suggestion_json, 512 + content.size() + title.size());
  w.begin_object();
  w.field("schema", "minyi.suggestion/1");
  w.field("id", rec.suggestion_id);
  w.field("channel", src.channel);
  w.key("source");
  w.begin_object();
  w.field("instance", src.instance);
  w.field("plugin", src.plugin);
  w.field("plugin_version", src.plugin_version);
  if (rec.external_id) w.field("external_id", *rec.external_id);
  w.field("raw_sha256", rec.raw_sha256);
  w.field("charset", charset.empty() ? std::string_view("utf-8") : charset);
  if (replacements > 0) {
    w.key("charset_replacements");
    w.integer(replacements);
  }
  w.end_object();
  w.field("received_at", rec.received_at);
  if (rec.submitted_at) w.field("submitted_at", *rec.submitted_at);
  if (!title.empty()) w.field("title", title);
  w.field("content", content);
  if (d.contains("language"))
    w.field("language", d["language"].get_ref<const std::string&>());
  else if (has_cjk(content) || has_cjk(title))
    w.field("language", "zh-Hans");
  if (d.contains("kind")) w.field("kind", d["kind"].get_ref<const std::string&>());
  if (d.contains("category")) w.raw_field("category", d["category"].dump());

  DedupInput dedup_input;
  w.key("submitter");
  w.begin_object();
  if (ds.contains("name")) {
    std::string name = nfc_trim_valid(ds["name"].get_ref<const std::string&>());
    if (!name.empty()) w.field("name", name);
  }
  if (ds.contains("phone")) {
    const auto& phone = ds["phone"].get_ref<const std::string&>();
    std::string hash = pii_.phone_hash(phone);
    w.field("phone_masked", mask_phone(phone));
    w.field("phone_hash", hash);
    dedup_input.identities.push_back("phone:" + hash);
  }
  auto identity = [&](const char* member, const char* field, const char* kind, auto hasher) {
    if (!ds.contains(member)) return;
    std::string hash = (pii_.*hasher)(ds[member].template get_ref<const std::string&>());
    w.field(field, hash);
    dedup_input.identities.push_back(std::string(kind) + ":" + hash);
  };
  identity("id_number", "id_hash", "id", &PiiHasher::id_hash);
  identity("email", "email_hash", "email", &PiiHasher::email_hash);
  identity("wechat_openid", "wechat_openid_hash", "openid", &PiiHasher::openid_hash);
  bool identified = ds.contains("name") || ds.contains("phone") || ds.contains("id_number") || ds.contains("email") ||
                    ds.contains("wechat_openid");
  w.key("anonymous");
  w.boolean(ds.value("anonymous", !identified));
  w.end_object();

  if (d.contains("location")) {
    std::string text = dl.contains("text") ? nfc_trim_valid(dl["text"].get_ref<const std::string&>()) : "";
    std::string district = dl.contains("district") ? nfc_trim_valid(dl["district"].get_ref<const std::string&>()) : "";
    if (!text.empty() || !district.empty() || dl.contains("lat")) {
      w.key("location");
      w.begin_object();
      if (!text.empty()) w.field("text", text);
      if (!district.empty()) w.field("district", district);
      if (dl.contains("lat")) {
        w.key("lat");
        w.number(dl["lat"].get<double>());
        w.key("lon");
        w.number(dl["lon"].get<double>());
      }
      w.end_object();
    }
  }

  w.key("attachments");
  w.begin_array();
  for (size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    w.begin_object();
    w.field("kind", attachment_kind(a));
    if (a.contains("url")) {
      // A plugin that fetched the file itself (and keeps it) says what it holds.
      w.field("uri", a["url"].get_ref<const std::string&>());
      if (a.contains("sha256")) w.field("sha256", a["sha256"].get_ref<const std::string&>());
      if (a.contains("bytes")) {
        w.key("bytes");
        w.integer(a["bytes"].get<int64_t>());
      }
    } else {
      const std::string& bytes = *decoded[i];
      JournalRecord::Blob blob{sha256_hex(bytes), a.value("content_type", "application/octet-stream"), bytes};
      w.field("uri", "minyi:attachment:" + blob.sha256);
      w.field("sha256", blob.sha256);
      w.key("bytes");
      w.integer(static_cast<int64_t>(bytes.size()));
      rec.attachments.push_back(std::move(blob));
    }
    for (const char* k : {"filename", "content_type", "text"})
      if (a.contains(k)) w.field(k, a[k].get_ref<const std::string&>());
    w.end_object();
  }
  w.end_array();
  if (d.contains("extras")) w.raw_field("extras", d["extras"].dump());
  // Always the last member: the journal writer rewrites it with its decision.
  w.raw_field("dedup", R"({"status":"new","duplicate_of":null,"cluster_id":null,"cluster_size":null,"score":null,)"
                       R"("reason":null,"algorithm":null})");
  w.end_object();
  if (dedup_) {
    IssueFeatures features = issue_features(title, content, gazetteer_, &dedup_input.match_text, &dedup_input.topic);
    if (src.channel == "media") {  // call-in show transcripts: drop spoken fillers
      MatchTextOptions spoken;
      spoken.drop_asr_fillers = true;
      dedup_input.match_text = normalize_for_matching(content, spoken);
    }
    dedup_input.shingles = shingle_hashes_unsorted(dedup_input.match_text);
    if (!dedup_input.match_text.empty()) dedup_input.text_hash = text_digest(dedup_input.match_text);
    dedup_input.bands = band_keys(minhash_of(dedup_input.shingles));
    // Windows are measured in event time: submitted_at when present, but never later than
    // the moment it was received — one report dated in the future would otherwise move
    // every window forward and expire the rest of the index.
    dedup_input.event_time_ms = rec.submitted_at ? std::min(parse_rfc3339(*rec.submitted_at).value_or(now), now) : now;
    dedup_input.places = std::move(features.places);
    dedup_input.problems = std::move(features.problems);
    if (!title.empty()) {
      dedup_input.title = title;
    } else {  // the start of the content, cut on a character boundary
      size_t n = std::min<size_t>(content.size(), 90);
      while (n < content.size() && (static_cast<unsigned char>(content[n]) & 0xC0) == 0x80) --n;
      dedup_input.title = content.substr(0, n);
    }
    dedup_input.identity_bits = identity_tag(dedup_input.identities);
    rec.dedup = std::move(dedup_input);
  }
  return rec;
}

}  // namespace minyi
