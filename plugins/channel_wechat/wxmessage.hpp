// Parsing WeChat / WeCom callback bodies (XML, or WeCom's JSON format) into flat fields,
// and turning the fields into a Message. Refuses DOCTYPE (and with it every entity
// declaration): callback bodies never carry one, and entity expansion is how XXE starts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace minyi::wx {

// Element name -> text of the direct children of the root (<xml> or a JSON object).
using Fields = std::map<std::string, std::string>;

struct ParseError {
  std::string code, message;  // code: malformed_xml, doctype_refused, malformed_json, not_wechat
};

std::variant<Fields, ParseError> parse_xml(std::string_view body);
std::variant<Fields, ParseError> parse_json(std::string_view body);
// XML unless the body (after whitespace) starts with '{'.
std::variant<Fields, ParseError> parse_body(std::string_view body);

struct Message {
  std::string to_user, from_user, msg_type, event;
  int64_t create_time = 0;
  std::string msg_id;  // kept as text: MsgIds exceed 2^53
  std::string content, media_id, pic_url, format, recognition, thumb_media_id;
  std::string title, description, url, label, event_key, agent_id;
  std::optional<double> lat, lon, precision, scale;

  bool is_event() const { return msg_type == "event"; }
  // The replay key WeChat's retries share: MsgId, or for events FromUserName+CreateTime+Event.
  std::string source_key() const;
};

// Validates what every message has (ToUserName, FromUserName, CreateTime, MsgType) and
// the numbers; nullopt with a reason otherwise.
std::variant<Message, ParseError> to_message(const Fields& f);

// Text made safe inside <![CDATA[ ]]> (a "]]>" inside is split across two sections).
std::string cdata(std::string_view text);

}  // namespace minyi::wx
