#include "wxmessage.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

namespace minyi::wx {

std::variant<Fields, ParseError> parse_xml(std::string_view body) {
  pugi::xml_document doc;
  // parse_doctype keeps a DOCTYPE as a node so it can be refused; pugixml never expands
  // entities other than the five predefined ones and character references.
  auto res = doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_doctype, pugi::encoding_utf8);
  if (!res)
    return ParseError{"malformed_xml", std::string("the body is not well-formed XML (") + res.description() +
                                           " at byte " + std::to_string(res.offset) + ")"};
  for (auto n : doc.children())
    if (n.type() == pugi::node_doctype)
      return ParseError{"doctype_refused", "XML with a DOCTYPE (or entity declarations) is refused"};
  auto root = doc.document_element();
  if (std::string_view(root.name()) != "xml") return ParseError{"not_wechat", "the XML root element must be <xml>"};
  Fields f;
  for (auto child : root.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string text;
    for (auto t : child.children())
      if (t.type() == pugi::node_pcdata || t.type() == pugi::node_cdata) text += t.value();
    f.emplace(child.name(), std::move(text));
  }
  return f;
}

std::variant<Fields, ParseError> parse_json(std::string_view body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    return ParseError{"malformed_json",
                      "the body is not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")"};
  }
  if (!j.is_object()) return ParseError{"malformed_json", "the JSON body must be an object"};
  Fields f;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& v = it.value();
    if (v.is_string())
      f.emplace(it.key(), v.get<std::string>());
    else if (v.is_number() || v.is_boolean())
      f.emplace(it.key(), v.dump());  // integers print exactly (MsgIds are 64-bit)
  }
  return f;
}

std::variant<Fields, ParseError> parse_body(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos && body[i] == '{') return parse_json(body);
  return parse_xml(body);
}

std::string Message::source_key() const {
  if (!msg_id.empty()) return "msg:" + msg_id;
  return "ev:" + from_user + ":" + std::to_string(create_time) + ":" + event;
}

namespace {

std::string get(const Fields& f, const char* key) {
  auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}

bool parse_int(std::string_view s, int64_t& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

}  // namespace

std::variant<Message, ParseError> to_message(const Fields& f) {
  Message m;
  m.to_user = get(f, "ToUserName");
  m.from_user = get(f, "FromUserName");
  m.msg_type = get(f, "MsgType");
  for (const char* k : {"ToUserName", "FromUserName", "CreateTime", "MsgType"})
    if (get(f, k).empty()) return ParseError{"missing_field", std::string("the message has no ") + k};
  if (!parse_int(get(f, "CreateTime"), m.create_time) || m.create_time < 0)
    return ParseError{"bad_field", "CreateTime is not a number"};
  m.msg_id = get(f, "MsgId");
  if (m.msg_id.empty()) m.msg_id = get(f, "MsgID");
  if (m.msg_id.size() > 40 || m.msg_id.find_first_not_of("0123456789") != std::string::npos)
    return ParseError{"bad_field", "MsgId is not a number"};
  m.event = get(f, "Event");
  m.content = get(f, "Content");
  m.media_id = get(f, "MediaId");
  m.pic_url = get(f, "PicUrl");
  m.format = get(f, "Format");
  m.recognition = get(f, "Recognition");
  m.thumb_media_id = get(f, "ThumbMediaId");
  m.title = get(f, "Title");
  m.description = get(f, "Description");
  m.url = get(f, "Url");
  m.label = get(f, "Label");
  m.event_key = get(f, "EventKey");
  m.agent_id = get(f, "AgentID");
  if (m.msg_type == "location") {
    m.lat = parse_double(get(f, "Location_X"));
    m.lon = parse_double(get(f, "Location_Y"));
    m.scale = parse_double(get(f, "Scale"));
    if (!m.lat || !m.lon) return ParseError{"bad_field", "a location message needs numeric Location_X and Location_Y"};
  } else if (m.is_event() && m.event == "LOCATION") {
    m.lat = parse_double(get(f, "Latitude"));
    m.lon = parse_double(get(f, "Longitude"));
    m.precision = parse_double(get(f, "Precision"));
    if (!m.lat || !m.lon) return ParseError{"bad_field", "a LOCATION event needs numeric Latitude and Longitude"};
  }
  if ((m.lat && (*m.lat < -90 || *m.lat > 90)) || (m.lon && (*m.lon < -180 || *m.lon > 180)))
    return ParseError{"bad_field", "the coordinates are out of range"};
  return m;
}

std::string cdata(std::string_view text) {
  std::string out = "<![CDATA[";
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "]]>") == 0) {
      out += "]]]]><![CDATA[>";
      i += 2;
    } else {
      out += text[i];
    }
  }
  out += "]]>";
  return out;
}

}  // namespace minyi::wx
