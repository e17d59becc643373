#include "answer.hpp"

#include "cloudevent.hpp"

namespace minyi::plugins {

std::string error_json(std::string_view code, std::string_view message, std::string_view field) {
  std::string out = "{\"error\":{\"code\":" + json_quote(code) + ",\"message\":" + json_quote(message);
  if (!field.empty()) out += ",\"field\":" + json_quote(field);
  return out + "}}";
}

void answer_submit(const Host& host, const SubmitResult& r, HttpResponse& resp) {
  switch (r.status) {
    case MINYI_SUBMIT_ACCEPTED:
      host.count("accepted");
      resp.respond(201, "application/json", "{\"id\":" + json_quote(r.id) + "}");
      return;
    case MINYI_SUBMIT_REPLAY:
      host.count("replayed");
      resp.respond(200, "application/json", "{\"id\":" + json_quote(r.id) + ",\"replay\":true}");
      return;
    case MINYI_SUBMIT_REJECTED:
      // The host has quarantined the raw bytes already.
      host.count("rejected");
      resp.respond(400, "application/json", error_json(r.code.empty() ? "invalid" : r.code, r.reason, r.field));
      return;
    case MINYI_SUBMIT_BUSY:
    default:
      host.count("busy");
      resp.header("Retry-After", "1");
      resp.respond(503, "application/json", error_json("busy", "the journal is busy; retry shortly"));
      return;
  }
}

}  // namespace minyi::plugins
