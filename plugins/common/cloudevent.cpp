// CloudEvents rendering without a JSON library: every field is ours and already valid.
#include "cloudevent.hpp"

#include <cstdio>

namespace minyi::plugins {

std::string json_quote(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 2);
  o += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  o += '"';
  return o;
}

std::string cloudevent_type(std::string_view event_type) { return "minyi." + std::string(event_type); }

std::string cloudevent_json(const minyi_event_t& ev, std::string_view source) {
  auto v = [](minyi_str_t s) { return std::string_view(s.data ? s.data : "", s.size); };
  std::string out;
  out.reserve(ev.data.size + 300);
  out += "{\"specversion\":\"1.0\",\"id\":";
  out += json_quote(v(ev.id));
  out += ",\"source\":";
  out += json_quote(source);
  out += ",\"type\":";
  out += json_quote(cloudevent_type(v(ev.type)));
  out += ",\"subject\":";
  out += json_quote(v(ev.subject));
  out += ",\"time\":";
  out += json_quote(v(ev.time));
  out += ",\"datacontenttype\":\"application/json\",\"data\":";
  out += v(ev.data);
  out += '}';
  return out;
}

}  // namespace minyi::plugins
