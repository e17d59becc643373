// The JSON answers HTTP channels give: error bodies, and the status for a submission's
// outcome (201 stored, 200 replay, 400 rejected, 503 busy with Retry-After).
#pragma once

#include <minyi/plugin.hpp>
#include <string>
#include <string_view>

namespace minyi::plugins {

// {"error":{"code":…,"message":…[,"field":…]}}
std::string error_json(std::string_view code, std::string_view message, std::string_view field = {});

// Responds to a submission's result and counts it (accepted, replayed, rejected, busy).
void answer_submit(const Host& host, const SubmitResult& r, HttpResponse& resp);

}  // namespace minyi::plugins
