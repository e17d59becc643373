// Configuration: YAML in the documented shape, ${env:}/${file:} substitution, and validation
// of the daemon's own keys and of each plugin instance's keys against a typed table.
#pragma once

#include <minyi/plugin.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace minyi {

// Where a value came from, 1-based, for messages like "minyi.yaml:12:5: ...".
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
  std::string str() const;
};

// Every problem found, each prefixed with file:line:column; what() joins them.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// One declared key (the C++ twin of minyi_config_entry_t).
struct KeySpec {
  std::string key;
  minyi_config_type_t type;
  std::optional<std::string> default_value;
  bool required = false;
  std::string description;
  std::vector<std::string> choices = {};  // strings only: the allowed values (empty = any)
};

// A validated value. Durations and sizes live in `i` (ms / bytes); `text` keeps the
// scalar as written after substitution; `items` holds lists and maps.
struct ConfigValue {
  minyi_config_type_t type = MINYI_CFG_STRING;
  std::string text;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::vector<std::pair<std::string, std::string>> items;
  SourceMark mark;
  bool defaulted = false;
};
using ConfigTable = std::map<std::string, ConfigValue>;

// A channel or sink entry: the host keys are parsed; plugin keys are validated later
// against the plugin's table (validate_plugin_keys).
struct InstanceConfig {
  std::string name;
  std::string plugin;
  bool enabled = true;
  ConfigTable host;  // host-level keys (name, plugin, enabled, retry policy, …)
  YAML::Node node;
  SourceMark mark;
};

struct DaemonConfig {
  std::string source;  // file name, or "<embedded config/minyi.yaml>"
  ConfigTable minyi;   // flattened: "state_dir", "public.listen", "journal.synchronous", …
  ConfigTable dedup;
  std::vector<InstanceConfig> channels;
  std::vector<InstanceConfig> sinks;

  const std::string& str(const std::string& key) const { return minyi.at(key).text; }
  int64_t num(const std::string& key) const { return minyi.at(key).i; }
};

// The daemon's own keys, printed by docs and used by validation.
const std::vector<KeySpec>& daemon_key_specs();  // under minyi:, dotted
const std::vector<KeySpec>& dedup_key_specs();   // under dedup:
const std::vector<KeySpec>& channel_host_key_specs();
const std::vector<KeySpec>& sink_host_key_specs();

// Parses and validates. Throws ConfigError listing every problem.
DaemonConfig load_config_file(const std::string& path);
DaemonConfig load_config_text(const std::string& text, const std::string& source_name, const std::string& base_dir);

// Validates an instance's plugin keys (everything except the host keys) against a plugin
// table; unknown keys, type errors and missing required keys become problems.
ConfigTable validate_plugin_keys(const InstanceConfig& inst, const std::vector<KeySpec>& specs,
                                 std::vector<std::string>& problems);

std::optional<int64_t> parse_duration_ms(const std::string& s);
std::optional<int64_t> parse_size_bytes(const std::string& s);
const char* config_type_name(minyi_config_type_t t);

}  // namespace minyi
