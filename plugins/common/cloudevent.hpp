// CloudEvents 1.0 rendering of minyi events, shared by the sink plugins.
#pragma once

#include <minyi/plugin.h>

#include <string>
#include <string_view>

namespace minyi::plugins {

// JSON string literal (with quotes) for s, which must be valid UTF-8.
std::string json_quote(std::string_view s);
// CloudEvents "type" for a minyi event type: "suggestion.created" → "minyi.suggestion.created".
std::string cloudevent_type(std::string_view event_type);
// Structured-mode JSON: {"specversion":"1.0","id":…,"source":…,"type":…,"subject":…,
// "time":…,"datacontenttype":"application/json","data":{…}}. The event data is spliced
// verbatim, so the same event always renders to the same bytes.
std::string cloudevent_json(const minyi_event_t& ev, std::string_view source);

}  // namespace minyi::plugins
