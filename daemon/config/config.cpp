// Configuration loading and validation. Every error names file:line:column and says what
// would be accepted, so an operator can fix the file without reading code.
#include "config/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace minyi {

std::string SourceMark::str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }

namespace {
std::string join_problems(const std::vector<std::string>& p) {
  std::string out;
  for (const auto& s : p) out += (out.empty() ? "" : "\n") + s;
  return out;
}
}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_problems(problems)), problems_(std::move(problems)) {}

const char* config_type_name(minyi_config_type_t t) {
  switch (t) {
    case MINYI_CFG_STRING:
      return "string";
    case MINYI_CFG_INT:
      return "integer";
    case MINYI_CFG_BOOL:
      return "boolean";
    case MINYI_CFG_DOUBLE:
      return "number";
    case MINYI_CFG_DURATION:
      return "duration";
    case MINYI_CFG_SIZE:
      return "size";
    case MINYI_CFG_STRING_LIST:
      return "list of strings";
    case MINYI_CFG_STRING_MAP:
      return "mapping";
  }
  return "unknown";
}

const std::vector<KeySpec>& daemon_key_specs() {
  static const std::vector<KeySpec> specs = {
      {"state_dir", MINYI_CFG_STRING, "./var", false,
       "journal and key files live here ($STATE_DIRECTORY under systemd wins over the default)"},
      {"plugin_path", MINYI_CFG_STRING_LIST, "[]", false,
       "folders searched for plugin .so files (the build tree's plugins folder is always searched last)"},
      {"public.listen", MINYI_CFG_STRING, "127.0.0.1:8080", false, "host:port for channel HTTP routes (port 0 = any)"},
      {"public.max_connections", MINYI_CFG_INT, "1024", false, "open connections; beyond it new ones get 503"},
      {"public.max_connections_per_client", MINYI_CFG_INT, "256", false,
       "open connections per client address; beyond it 429"},
      {"public.header_limit", MINYI_CFG_SIZE, "16KiB", false, "largest request header block (431/400 beyond)"},
      {"public.body_limit", MINYI_CFG_SIZE, "4MiB", false, "largest request body (413 beyond)"},
      {"public.read_timeout", MINYI_CFG_DURATION, "10s", false,
       "time allowed to receive one request once it has started (408 beyond)"},
      {"public.idle_timeout", MINYI_CFG_DURATION, "60s", false, "keep-alive connections idle this long are closed"},
      {"public.workers", MINYI_CFG_INT, "64", false, "threads running channel handlers (they wait on commits)"},
      {"admin.listen", MINYI_CFG_STRING, "", false,
       "admin listener: unix:PATH or host:port (default unix:STATE_DIR/admin.sock; off disables): /livez, /readyz, "
       "/metrics, /v1/admin/*"},
      {"pii.key_file", MINYI_CFG_STRING, "", false,
       "HMAC key for phone/ID hashes; created with mode 0600 if absent (default: STATE_DIR/pii.key)"},
      {"log.level", MINYI_CFG_STRING, "info", false, "trace, debug, info, warn, error"},
      {"journal.synchronous", MINYI_CFG_STRING, "FULL", false, "SQLite synchronous mode: FULL or NORMAL"},
      {"journal.batch_max", MINYI_CFG_INT, "512", false, "most submissions committed in one transaction"},
      {"journal.queue_max", MINYI_CFG_INT, "20000", false, "pending submissions before submit answers busy"},
  };
  return specs;
}

const std::vector<KeySpec>& dedup_key_specs() {
  static const std::vector<KeySpec> specs = {
      {"enabled", MINYI_CFG_BOOL, "true", false, "link duplicates (false: every suggestion is stored as new)"},
      {"duplicate_window", MINYI_CFG_DURATION, "30d", false,
       "how far apart in event time (submitted_at, else received_at) a duplicate may be"},
      {"duplicate_threshold", MINYI_CFG_DOUBLE, "0.8", false,
       "least similarity (3-gram Jaccard of the normalized text) for a duplicate"},
      {"cluster_window", MINYI_CFG_DURATION, "90d", false,
       "a same-issue cluster stays open while reports keep arriving within this time of its latest one"},
      {"cluster_topic_threshold", MINYI_CFG_DOUBLE, "0.2", false,
       "least keyword overlap (shared / smaller set) for a report to join a cluster at its place"},
      {"gazetteer", MINYI_CFG_STRING, "", false, "optional file of local place names, one per line"},
  };
  return specs;
}

const std::vector<KeySpec>& channel_host_key_specs() {
  static const std::vector<KeySpec> specs = {
      {"name", MINYI_CFG_STRING, std::nullopt, true, "instance name, unique among channels; stored as source.instance"},
      {"plugin", MINYI_CFG_STRING, std::nullopt, true, "plugin name (see minyid --describe-plugin)"},
      {"enabled", MINYI_CFG_BOOL, "true", false, "false keeps the entry but does not start it"},
      {"poll_interval", MINYI_CFG_DURATION, std::nullopt, false, "for polling channels: time between polls"},
  };
  return specs;
}

const std::vector<KeySpec>& sink_host_key_specs() {
  static const std::vector<KeySpec> specs = {
      {"name", MINYI_CFG_STRING, std::nullopt, true, "instance name, unique among sinks; names its cursor"},
      {"plugin", MINYI_CFG_STRING, std::nullopt, true, "plugin name (see minyid --describe-plugin)"},
      {"enabled", MINYI_CFG_BOOL, "true", false, "false keeps the entry but does not start it"},
      {"batch_max", MINYI_CFG_INT, "100", false, "most events handed to the plugin in one call"},
      {"max_attempts", MINYI_CFG_INT, "20", false,
       "failed attempts before an event goes to dead letters (0 = no limit)"},
      {"max_age", MINYI_CFG_DURATION, "24h", false,
       "time an event may keep failing before dead letters (0 = no limit)"},
      {"backoff_initial", MINYI_CFG_DURATION, "500ms", false, "first retry delay"},
      {"backoff_max", MINYI_CFG_DURATION, "5m", false, "retry delay cap (jittered exponential backoff)"},
  };
  return specs;
}

std::optional<int64_t> parse_duration_ms(const std::string& s) {
  if (s == "0") return 0;
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0 || i == s.size()) return std::nullopt;
  const std::string number = s.substr(0, i);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(number.c_str(), &end);
  if (errno || *end) return std::nullopt;
  std::string unit = s.substr(i);
  double mult;
  if (unit == "ms")
    mult = 1;
  else if (unit == "s")
    mult = 1000;
  else if (unit == "m" || unit == "min")
    mult = 60000;
  else if (unit == "h")
    mult = 3600000;
  else if (unit == "d")
    mult = 86400000;
  else
    return std::nullopt;
  double ms = v * mult;
  if (!std::isfinite(ms) || ms > 9e15) return std::nullopt;
  return static_cast<int64_t>(ms);
}

std::optional<int64_t> parse_size_bytes(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i > 15) return std::nullopt;
  int64_t v = std::stoll(s.substr(0, i));
  std::string unit = s.substr(i);
  int64_t mult;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KB" || unit == "kB")
    mult = 1000;
  else if (unit == "KiB")
    mult = 1024;
  else if (unit == "MB")
    mult = 1000 * 1000;
  else if (unit == "MiB")
    mult = 1024 * 1024;
  else if (unit == "GB")
    mult = 1000LL * 1000 * 1000;
  else if (unit == "GiB")
    mult = 1024LL * 1024 * 1024;
  else
    return std::nullopt;
  return v * mult;
}

namespace {

SourceMark mark_of(const YAML::Node& n, const std::string& file) {
  auto m = n.Mark();
  return {file, m.line + 1, m.column + 1};
}

struct Ctx {
  std::string file;
  std::string base_dir;
  std::vector<std::string>& problems;
  void fail(const SourceMark& m, const std::string& msg) { problems.push_back(m.str() + ": " + msg); }
};

// Expands ${env:NAME}, ${env:NAME:-default}, ${file:PATH}; "$${" is a literal "${".
std::optional<std::string> substitute(const std::string& in, const SourceMark& mark, Ctx& ctx) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    size_t close = in.find('}', i);
    if (close == std::string::npos) {
      ctx.fail(mark, "unterminated '${' (write '$${' for a literal)");
      return std::nullopt;
    }
    std::string ref = in.substr(i + 2, close - i - 2);
    if (ref.rfind("env:", 0) == 0) {
      std::string name = ref.substr(4), def;
      bool has_def = false;
      if (auto p = name.find(":-"); p != std::string::npos) {
        def = name.substr(p + 2);
        name = name.substr(0, p);
        has_def = true;
      }
      const char* v = std::getenv(name.c_str());
      if (!v && !has_def) {
        ctx.fail(mark, "environment variable '" + name + "' is not set (referenced as ${env:" + name +
                           "}; set it or write ${env:" + name + ":-default})");
        return std::nullopt;
      }
      out += v ? v : def;
    } else if (ref.rfind("file:", 0) == 0) {
      std::filesystem::path p = ref.substr(5);
      if (p.is_relative()) p = std::filesystem::path(ctx.base_dir) / p;
      std::ifstream f(p, std::ios::binary);
      if (!f) {
        ctx.fail(mark, "cannot read file '" + p.string() + "' referenced by ${file:" + ref.substr(5) +
                           "}: " + std::strerror(errno));
        return std::nullopt;
      }
      std::stringstream ss;
      ss << f.rdbuf();
      std::string content = ss.str();
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
      out += content;
    } else {
      ctx.fail(mark, "unknown substitution '${" + ref + "}' (use ${env:NAME} or ${file:PATH})");
      return std::nullopt;
    }
    i = close + 1;
  }
  return out;
}

std::optional<std::string> scalar(const YAML::Node& n, Ctx& ctx) {
  return substitute(n.Scalar(), mark_of(n, ctx.file), ctx);
}

std::optional<ConfigValue> typed_value(const YAML::Node& n, const KeySpec& spec, const std::string& where, Ctx& ctx) {
  ConfigValue v;
  v.type = spec.type;
  v.mark = mark_of(n, ctx.file);
  auto bad = [&](const std::string& got) -> std::optional<ConfigValue> {
    ctx.fail(v.mark, "'" + where + "' must be a " + config_type_name(spec.type) + ", got " + got);
    return std::nullopt;
  };
  if (spec.type == MINYI_CFG_STRING_LIST) {
    if (!n.IsSequence()) return bad(n.IsMap() ? "a mapping" : "'" + n.Scalar() + "'");
    for (const auto& item : n) {
      if (!item.IsScalar()) return bad("a list with a non-string item");
      auto s = scalar(item, ctx);
      if (!s) return std::nullopt;
      v.items.emplace_back("", *s);
    }
    return v;
  }
  if (spec.type == MINYI_CFG_STRING_MAP) {
    if (!n.IsMap()) return bad(n.IsSequence() ? "a list" : "'" + n.Scalar() + "'");
    for (const auto& kv : n) {
      if (!kv.second.IsScalar()) return bad("a mapping with a non-scalar value");
      auto s = scalar(kv.second, ctx);
      if (!s) return std::nullopt;
      v.items.emplace_back(kv.first.Scalar(), *s);
    }
    return v;
  }
  if (n.IsNull()) return bad("nothing");
  if (!n.IsScalar()) return bad(n.IsMap() ? "a mapping" : "a list");
  auto s = scalar(n, ctx);
  if (!s) return std::nullopt;
  v.text = *s;
  const std::string& t = v.text;
  switch (spec.type) {
    case MINYI_CFG_STRING:
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), t) == spec.choices.end()) {
        std::string list;
        for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + c;
        ctx.fail(v.mark, "'" + where + "' must be one of " + list + ", got '" + t + "'");
        return std::nullopt;
      }
      break;
    case MINYI_CFG_INT: {
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(t.c_str(), &end, 10);
      if (t.empty() || *end || errno) return bad("'" + t + "'");
      v.i = x;
      break;
    }
    case MINYI_CFG_DOUBLE: {
      char* end = nullptr;
      errno = 0;
      double x = std::strtod(t.c_str(), &end);
      if (t.empty() || *end || errno || !std::isfinite(x)) return bad("'" + t + "'");
      v.d = x;
      break;
    }
    case MINYI_CFG_BOOL:
      if (t == "true" || t == "yes" || t == "on")
        v.b = true;
      else if (t == "false" || t == "no" || t == "off")
        v.b = false;
      else
        return bad("'" + t + "' (use true or false)");
      v.i = v.b;
      break;
    case MINYI_CFG_DURATION: {
      auto ms = parse_duration_ms(t);
      if (!ms) return bad("'" + t + "' (examples: 250ms, 30s, 5m, 2h, 30d)");
      v.i = *ms;
      break;
    }
    case MINYI_CFG_SIZE: {
      auto b = parse_size_bytes(t);
      if (!b) return bad("'" + t + "' (examples: 512, 64KiB, 10MB, 1GiB)");
      v.i = *b;
      break;
    }
    default:
      break;
  }
  return v;
}

// A declared default as a node: YAML text, or a plain string when it does not parse.
YAML::Node default_node(const std::string& text) {
  if (text.empty()) return YAML::Node(std::string());
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception&) {
    return YAML::Node(text);
  }
}

std::string known_keys(const std::vector<KeySpec>& specs, const std::string& prefix) {
  std::set<std::string> names;
  for (const auto& s : specs) {
    if (s.key.rfind(prefix, 0) != 0) continue;
    std::string rest = s.key.substr(prefix.size());
    names.insert(rest.substr(0, rest.find('.')));
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Validates a mapping against dotted specs (nested mappings for dotted keys), filling `out`.
void validate_mapping(const YAML::Node& map, const std::vector<KeySpec>& specs, const std::string& where,
                      const std::string& prefix, const std::set<std::string>& skip, ConfigTable& out, Ctx& ctx) {
  if (map && !map.IsNull() && map.IsMap()) {
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      std::string full = prefix + key;
      if (prefix.empty() && skip.count(key)) continue;
      const KeySpec* spec = nullptr;
      bool is_section = false;
      for (const auto& s : specs) {
        if (s.key == full)
          spec = &s;
        else if (s.key.rfind(full + ".", 0) == 0)
          is_section = true;
      }
      std::string label = where.empty() ? full : where + "." + full;
      if (spec) {
        if (auto v = typed_value(kv.second, *spec, label, ctx)) out[full] = std::move(*v);
      } else if (is_section) {
        if (!kv.second.IsMap()) {
          ctx.fail(mark_of(kv.second, ctx.file), "'" + label + "' must be a mapping");
          continue;
        }
        validate_mapping(kv.second, specs, where, full + ".", skip, out, ctx);
      } else {
        std::string ctx_name = where.empty()
                                   ? (prefix.empty() ? "the top level" : prefix.substr(0, prefix.size() - 1))
                                   : (prefix.empty() ? where : where + "." + prefix.substr(0, prefix.size() - 1));
        ctx.fail(mark_of(kv.first, ctx.file),
                 "unknown key '" + key + "' in " + ctx_name + " (known keys: " + known_keys(specs, prefix) + ")");
      }
    }
  } else if (map && !map.IsNull()) {
    ctx.fail(mark_of(map, ctx.file), "'" + (where.empty() ? std::string("section") : where) + "' must be a mapping");
    return;
  }
  if (!prefix.empty()) return;  // defaults are applied once, at the outermost level
  for (const auto& s : specs) {
    if (out.count(s.key)) continue;
    if (s.required) {
      SourceMark m = map ? mark_of(map, ctx.file) : SourceMark{ctx.file, 1, 1};
      ctx.fail(m, "missing required key '" + s.key + "' in " + (where.empty() ? "the top level" : where));
      continue;
    }
    if (!s.default_value) continue;
    if (auto v = typed_value(default_node(*s.default_value), s, s.key, ctx)) {
      v->defaulted = true;
      out[s.key] = std::move(*v);
    }
  }
}

std::vector<InstanceConfig> parse_instances(const YAML::Node& list, const char* section,
                                            const std::vector<KeySpec>& host_specs, Ctx& ctx) {
  std::vector<InstanceConfig> out;
  if (!list || list.IsNull()) return out;
  if (!list.IsSequence()) {
    ctx.fail(mark_of(list, ctx.file), std::string("'") + section + "' must be a list of instances");
    return out;
  }
  std::set<std::string> names;
  for (const auto& item : list) {
    if (!item.IsMap()) {
      ctx.fail(mark_of(item, ctx.file), std::string("each entry of '") + section + "' must be a mapping");
      continue;
    }
    InstanceConfig inst;
    inst.node = static_cast<const YAML::Node&>(item);
    inst.mark = mark_of(item, ctx.file);
    // Host keys only; plugin keys are checked once the plugin's table is known.
    const std::vector<KeySpec>& hs = host_specs;
    ConfigTable host;
    size_t before = ctx.problems.size();
    for (const auto& kv : item) {
      for (const auto& s : hs) {
        if (s.key != kv.first.Scalar()) continue;
        if (auto v = typed_value(kv.second, s, std::string(section) + "." + s.key, ctx)) host[s.key] = *v;
      }
    }
    for (const auto& s : hs) {
      if (host.count(s.key)) continue;
      if (s.required) {
        ctx.fail(inst.mark, std::string("missing required key '") + s.key + "' in this " + section + " entry");
      } else if (s.default_value) {
        if (auto v = typed_value(default_node(*s.default_value), s, s.key, ctx)) {
          v->defaulted = true;
          host[s.key] = *v;
        }
      }
    }
    if (ctx.problems.size() != before) continue;
    inst.name = host["name"].text;
    inst.plugin = host["plugin"].text;
    inst.enabled = host["enabled"].b;
    inst.host = std::move(host);
    if (!names.insert(inst.name).second) {
      ctx.fail(inst.host["name"].mark, std::string("duplicate ") + section + " name '" + inst.name + "'");
      continue;
    }
    out.push_back(std::move(inst));
  }
  return out;
}

}  // namespace

ConfigTable validate_plugin_keys(const InstanceConfig& inst, const std::vector<KeySpec>& specs,
                                 std::vector<std::string>& problems) {
  Ctx ctx{inst.mark.file, "", problems};
  // ${file:} paths resolve against the config file's folder, as for the daemon keys.
  ctx.base_dir = std::filesystem::path(inst.mark.file).parent_path().string();
  std::set<std::string> skip;
  for (const auto& [k, v] : inst.host) skip.insert(k);
  ConfigTable out;
  std::string where = "instance '" + inst.name + "' (plugin " + inst.plugin + ")";
  // Unknown keys are reported with the plugin's own key list.
  for (const auto& kv : inst.node) {
    std::string key = kv.first.Scalar();
    if (skip.count(key)) continue;
    const KeySpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.key == key) spec = &s;
    if (!spec) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.key;
      ctx.fail(mark_of(kv.first, ctx.file),
               "unknown key '" + key + "' for " + where + " (known keys: " + (known.empty() ? "none" : known) + ")");
      continue;
    }
    if (auto v = typed_value(kv.second, *spec, inst.name + "." + key, ctx)) out[key] = std::move(*v);
  }
  for (const auto& s : specs) {
    if (out.count(s.key)) continue;
    if (s.required) {
      ctx.fail(inst.mark, "missing required key '" + s.key + "' for " + where + ": " + s.description);
    } else if (s.default_value) {
      if (auto v = typed_value(default_node(*s.default_value), s, s.key, ctx)) {
        v->defaulted = true;
        out[s.key] = std::move(*v);
      }
    }
  }
  return out;
}

DaemonConfig load_config_text(const std::string& text, const std::string& source_name, const std::string& base_dir) {
  std::vector<std::string> problems;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    problems.push_back(source_name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                       ": YAML syntax error: " + e.msg);
    throw ConfigError(problems);
  }
  Ctx ctx{source_name, base_dir, problems};
  DaemonConfig cfg;
  cfg.source = source_name;
  if (root && !root.IsNull() && !root.IsMap()) {
    ctx.fail(mark_of(root, source_name), "the configuration must be a mapping with keys minyi, dedup, channels, sinks");
    throw ConfigError(problems);
  }
  static const std::set<std::string> top = {"minyi", "dedup", "channels", "sinks"};
  if (root && root.IsMap())
    for (const auto& kv : root)
      if (!top.count(kv.first.Scalar()))
        ctx.fail(mark_of(kv.first, source_name),
                 "unknown top-level key '" + kv.first.Scalar() + "' (known keys: channels, dedup, minyi, sinks)");
  validate_mapping(root ? root["minyi"] : YAML::Node(), daemon_key_specs(), "minyi", "", {}, cfg.minyi, ctx);
  validate_mapping(root ? root["dedup"] : YAML::Node(), dedup_key_specs(), "dedup", "", {}, cfg.dedup, ctx);
  if (root) {
    cfg.channels = parse_instances(root["channels"], "channels", channel_host_key_specs(), ctx);
    cfg.sinks = parse_instances(root["sinks"], "sinks", sink_host_key_specs(), ctx);
  }
  if (auto it = cfg.minyi.find("journal.synchronous"); it != cfg.minyi.end()) {
    if (it->second.text != "FULL" && it->second.text != "NORMAL")
      ctx.fail(it->second.mark, "'minyi.journal.synchronous' must be FULL or NORMAL, got '" + it->second.text + "'");
  }
  if (auto it = cfg.minyi.find("log.level"); it != cfg.minyi.end()) {
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(it->second.text))
      ctx.fail(it->second.mark,
               "'minyi.log.level' must be one of trace, debug, info, warn, error, got '" + it->second.text + "'");
  }
  // $STATE_DIRECTORY (systemd) replaces the default state folder, not an explicit one.
  if (const char* sd = std::getenv("STATE_DIRECTORY"); sd && cfg.minyi["state_dir"].defaulted)
    cfg.minyi["state_dir"].text = std::string(sd).substr(0, std::string(sd).find(':'));
  if (!problems.empty()) throw ConfigError(problems);
  return cfg;
}

DaemonConfig load_config_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError({path + ": cannot open configuration file: " + std::strerror(errno)});
  std::stringstream ss;
  ss << f.rdbuf();
  auto base = std::filesystem::absolute(path).parent_path().string();
  return load_config_text(ss.str(), path, base);
}

}  // namespace minyi
