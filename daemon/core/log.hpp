// Process-wide logging: spdlog to stderr, with sd-daemon priority prefixes under systemd.
#pragma once
#include <spdlog/spdlog.h>

#include <string_view>

namespace minyi {

// Installs the default logger. With journald=true (JOURNAL_STREAM set) each line starts
// with "<N>" so journald records the right priority and adds its own timestamp.
void setup_logging(std::string_view level, bool journald);
// Parses "trace|debug|info|warn|error|critical|off"; throws std::invalid_argument otherwise.
spdlog::level::level_enum parse_log_level(std::string_view level);
// Names the calling thread (as `top -H`, `ps -L` and perf show it); cut to 15 bytes.
void name_this_thread(std::string_view name);

}  // namespace minyi
