// Plugin loading with ABI checks, and the host function table.
#include "plugin_host/plugin_host.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/localtime.hpp"
#include "text/charset.hpp"

namespace minyi {

namespace fs = std::filesystem;

namespace {
// Fields every descriptor, of any minor version, must cover.
constexpr size_t kMinDescriptorSize = offsetof(minyi_plugin_descriptor_t, minyi_on_http);

std::string abi_str(uint32_t major, uint32_t minor) { return std::to_string(major) + "." + std::to_string(minor); }
}  // namespace

std::unique_ptr<LoadedPlugin> PluginRegistry::load_file(const std::string& file, std::string& error) {
  void* h = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = ::dlerror();
    error = "cannot load plugin " + file + ": " + (e ? e : "unknown dlopen error") +
            " (is it built for this system? are its libraries installed?)";
    return nullptr;
  }
  auto fail = [&](const std::string& msg) -> std::unique_ptr<LoadedPlugin> {
    error = msg;
    ::dlclose(h);
    return nullptr;
  };
  auto entry = reinterpret_cast<minyi_plugin_entry_fn>(::dlsym(h, MINYI_PLUGIN_ENTRY_SYMBOL));
  if (!entry)
    return fail("plugin " + file +
                " does not export " MINYI_PLUGIN_ENTRY_SYMBOL
                " — it is not a minyi plugin; remove it from the plugin path or build it with MINYI_PLUGIN()");
  const minyi_plugin_descriptor_t* d = entry();
  if (!d) return fail("plugin " + file + ": " MINYI_PLUGIN_ENTRY_SYMBOL " returned no descriptor");
  const std::string host_abi = abi_str(MINYI_ABI_MAJOR, MINYI_ABI_MINOR);
  if (d->abi_major != MINYI_ABI_MAJOR)
    return fail("plugin " + file + " was built for plugin ABI " + abi_str(d->abi_major, d->abi_minor) +
                ", but this minyid speaks ABI " + host_abi + "; rebuild the plugin against the minyi SDK " +
                std::to_string(MINYI_ABI_MAJOR) + ".x");
  if (d->abi_minor > MINYI_ABI_MINOR)
    return fail("plugin " + file + " needs plugin ABI " + abi_str(d->abi_major, d->abi_minor) +
                ", newer than this minyid's ABI " + host_abi +
                "; upgrade minyid, or rebuild the plugin against the SDK shipped with this minyid");
  if (d->struct_size < kMinDescriptorSize)
    return fail("plugin " + file + " has a descriptor of " + std::to_string(d->struct_size) +
                " bytes, smaller than any ABI 1.x descriptor; rebuild the plugin");
  auto p = std::make_unique<LoadedPlugin>();
  std::memcpy(&p->desc, d, std::min<size_t>(d->struct_size, sizeof p->desc));  // rest stays zero
  p->file = file;
  const auto& desc = p->desc;
  if (!desc.name || !*desc.name) return fail("plugin " + file + " has no name in its descriptor");
  std::string who = "plugin " + file + " ('" + desc.name + "')";
  if (desc.kind != MINYI_KIND_SOURCE && desc.kind != MINYI_KIND_SINK)
    return fail(who + " declares unknown kind " + std::to_string(desc.kind) +
                "; use MINYI_KIND_SOURCE or MINYI_KIND_SINK");
  auto missing = [&](const char* field) {
    return fail(who + " does not provide the required callback " + field + "; implement it and rebuild");
  };
  if (!desc.minyi_on_create) return missing("minyi_on_create");
  if (!desc.minyi_on_destroy) return missing("minyi_on_destroy");
  if (desc.kind == MINYI_KIND_SOURCE && !desc.minyi_on_http && !desc.minyi_on_poll)
    return missing("minyi_on_http or minyi_on_poll (a source needs at least one)");
  if (desc.kind == MINYI_KIND_SINK && !desc.minyi_on_deliver) return missing("minyi_on_deliver");
  if (desc.config_count && !desc.config) return fail(who + " declares config_count but no config table");
  for (size_t i = 0; i < desc.config_count; ++i) {
    const auto& e = desc.config[i];
    if (!e.key || !*e.key) return fail(who + ": config entry " + std::to_string(i) + " has no key");
    if (e.type < MINYI_CFG_STRING || e.type > MINYI_CFG_STRING_MAP)
      return fail(who + ": config key '" + e.key + "' has unknown type " + std::to_string(e.type));
    KeySpec s{e.key, e.type, std::nullopt, e.required != 0, e.description ? e.description : "", {}};
    if (e.default_value) s.default_value = e.default_value;
    if (e.choices) {
      if (e.type != MINYI_CFG_STRING)
        return fail(who + ": config key '" + e.key + "' lists choices but is not a string");
      for (std::string_view rest = e.choices; !rest.empty();) {
        auto bar = rest.find('|');
        s.choices.emplace_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
      }
    }
    p->specs.push_back(std::move(s));
  }
  p->handle = h;
  return p;
}

PluginRegistry::PluginRegistry(const std::vector<std::string>& dirs) {
  std::set<std::string> seen_dirs, seen_files;
  for (const auto& dir : dirs) {
    std::error_code ec;
    auto canon = fs::weakly_canonical(dir, ec);
    std::string key = ec ? dir : canon.string();
    if (!seen_dirs.insert(key).second) continue;
    dirs_.push_back(dir);
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& ent : fs::directory_iterator(dir, ec))
      if (ent.path().extension() == ".so") files.push_back(ent.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto c = fs::weakly_canonical(f, ec).string();
      if (!seen_files.insert(c).second) continue;
      std::string err;
      auto p = load_file(f.string(), err);
      if (!p) {
        errors_.push_back(err);
        continue;
      }
      std::string name = p->desc.name;
      if (auto it = plugins_.find(name); it != plugins_.end()) {
        errors_.push_back("plugin " + f.string() + " is named '" + name + "', like " + it->second->file +
                          "; plugin names must be unique across the plugin path — remove or rename one");
        ::dlclose(p->handle);
        continue;
      }
      plugins_.emplace(name, std::move(p));
    }
  }
}

PluginRegistry::~PluginRegistry() {
  // Handles stay open until exit: plugin threads or atexit hooks may still reference code.
}

const LoadedPlugin* PluginRegistry::find(const std::string& name) const {
  auto it = plugins_.find(name);
  return it == plugins_.end() ? nullptr : it->second.get();
}

std::vector<const LoadedPlugin*> PluginRegistry::all() const {
  std::vector<const LoadedPlugin*> v;
  for (const auto& [n, p] : plugins_) v.push_back(p.get());
  return v;
}

std::string describe_plugin(const LoadedPlugin& p) {
  std::ostringstream o;
  const auto& d = p.desc;
  o << d.name << " " << (d.version ? d.version : "?") << " — " << (d.description ? d.description : "") << "\n";
  o << "kind: " << (d.kind == MINYI_KIND_SOURCE ? "source (channel " + p.channel() + ")" : std::string("sink")) << "\n";
  o << "file: " << p.file << "\n";
  o << "abi:  " << d.abi_major << "." << d.abi_minor << "\n";
  o << "\nconfiguration keys (besides the host keys: "
    << (d.kind == MINYI_KIND_SOURCE
            ? "name, plugin, enabled, poll_interval"
            : "name, plugin, enabled, batch_max, max_attempts, max_age, backoff_initial, backoff_max")
    << "):\n";
  if (p.specs.empty()) o << "  (none)\n";
  for (const auto& s : p.specs) {
    o << "  " << s.key << " (" << config_type_name(s.type) << (s.required ? ", required" : "");
    if (!s.choices.empty()) {
      o << ": ";
      for (size_t i = 0; i < s.choices.size(); ++i) o << (i ? " | " : "") << s.choices[i];
    }
    if (s.default_value) o << ", default " << *s.default_value;
    o << ")\n      " << s.description << "\n";
  }
  return o.str();
}

namespace {

const minyi::ConfigValue* cfg(minyi_host_t* h, const char* key) {
  auto it = h->config.find(key);
  return it == h->config.end() ? nullptr : &it->second;
}

void api_log(minyi_host_t* h, minyi_log_level_t level, minyi_str_t msg) {
  auto lvl = static_cast<spdlog::level::level_enum>(level <= MINYI_LOG_ERROR ? level : MINYI_LOG_ERROR);
  spdlog::log(lvl, "[{}] {}", h->name, std::string_view(msg.data ? msg.data : "", msg.size));
}
int32_t api_submit(minyi_host_t* h, const minyi_submission_t* s, minyi_submit_result_t* r) {
  minyi_submission_t full{};
  std::memcpy(&full, s, std::min<size_t>(s->struct_size ? s->struct_size : sizeof full, sizeof full));
  *r = minyi_submit_result_t{};
  h->services->submit(*h, full, *r);
  return r->status == MINYI_SUBMIT_ACCEPTED || r->status == MINYI_SUBMIT_REPLAY ? 0 : -1;
}
int32_t api_quarantine(minyi_host_t* h, minyi_str_t raw, minyi_str_t ct, minyi_str_t reason) {
  auto v = [](minyi_str_t s) { return std::string_view(s.data ? s.data : "", s.size); };
  h->services->quarantine(*h, v(raw), v(ct), v(reason));
  return 0;
}
int32_t api_checkpoint_get(minyi_host_t* h, minyi_str_t key, char* buf, size_t cap, size_t* size) {
  auto v = h->services->checkpoint_get(*h, std::string(key.data ? key.data : "", key.size));
  if (!v) return 1;
  *size = v->size();
  if (buf && cap) std::memcpy(buf, v->data(), std::min(cap, v->size()));
  return 0;
}
int32_t api_checkpoint_set(minyi_host_t* h, minyi_str_t key, minyi_str_t value) {
  return h->services->checkpoint_set(*h, std::string(key.data ? key.data : "", key.size),
                                     std::string(value.data ? value.data : "", value.size))
             ? 0
             : -1;
}
void api_counter_add(minyi_host_t* h, minyi_str_t name, uint64_t delta) {
  std::lock_guard lock(h->counters_mu);
  h->counters[std::string(name.data ? name.data : "", name.size)] += delta;
}
int64_t api_clock(minyi_host_t* h) { return h->services->now_ms(); }
int32_t api_config_string(minyi_host_t* h, const char* key, minyi_str_t* out) {
  auto* v = cfg(h, key);
  if (!v || v->type == MINYI_CFG_STRING_LIST || v->type == MINYI_CFG_STRING_MAP) return 1;
  *out = {v->text.data(), v->text.size()};
  return 0;
}
int32_t api_config_int(minyi_host_t* h, const char* key, int64_t* out) {
  auto* v = cfg(h, key);
  if (!v || (v->type != MINYI_CFG_INT && v->type != MINYI_CFG_DURATION && v->type != MINYI_CFG_SIZE &&
             v->type != MINYI_CFG_BOOL))
    return 1;
  *out = v->i;
  return 0;
}
int32_t api_config_bool(minyi_host_t* h, const char* key, int32_t* out) {
  auto* v = cfg(h, key);
  if (!v || v->type != MINYI_CFG_BOOL) return 1;
  *out = v->b ? 1 : 0;
  return 0;
}
int32_t api_config_double(minyi_host_t* h, const char* key, double* out) {
  auto* v = cfg(h, key);
  if (!v) return 1;
  if (v->type == MINYI_CFG_DOUBLE)
    *out = v->d;
  else if (v->type == MINYI_CFG_INT)
    *out = static_cast<double>(v->i);
  else
    return 1;
  return 0;
}
size_t api_config_items(minyi_host_t* h, const char* key) {
  auto* v = cfg(h, key);
  return v ? v->items.size() : 0;
}
int32_t api_config_item(minyi_host_t* h, const char* key, size_t i, minyi_str_t* k, minyi_str_t* val) {
  auto* v = cfg(h, key);
  if (!v || i >= v->items.size()) return 1;
  const auto& [ik, iv] = v->items[i];
  *k = {ik.data(), ik.size()};
  *val = {iv.data(), iv.size()};
  return 0;
}
int32_t api_route_add(minyi_host_t* h, const char* method, const char* path) {
  return h->services->route_add(*h, method ? method : "", path ? path : "") ? 0 : -1;
}
void api_http_respond(minyi_http_response_t* r, int32_t status, minyi_str_t ct, minyi_str_t body) {
  r->reply.status = status;
  r->reply.content_type.assign(ct.data ? ct.data : "", ct.size);
  r->reply.body.assign(body.data ? body.data : "", body.size);
}
void api_http_header(minyi_http_response_t* r, minyi_str_t name, minyi_str_t value) {
  r->reply.headers.emplace_back(std::string(name.data ? name.data : "", name.size),
                                std::string(value.data ? value.data : "", value.size));
}
minyi_str_t api_instance_name(minyi_host_t* h) { return {h->name.data(), h->name.size()}; }
int32_t api_stopping(minyi_host_t* h) { return h->stopping.load() ? 1 : 0; }
void api_submit_async(minyi_host_t* h, const minyi_submission_t* s, minyi_submit_done_fn done, void* ctx) {
  minyi_submission_t full{};
  std::memcpy(&full, s, std::min<size_t>(s->struct_size ? s->struct_size : sizeof full, sizeof full));
  h->services->submit_async(*h, full, done, ctx);
}
int32_t api_decode_text(minyi_host_t*, minyi_str_t bytes, minyi_str_t declared, char* out, size_t cap, size_t* size,
                        char* charset, uint32_t* replacements) {
  auto d = decode_text(std::string_view(bytes.data ? bytes.data : "", bytes.size),
                       std::string_view(declared.data ? declared.data : "", declared.size));
  *size = d.utf8.size();
  if (out && cap) std::memcpy(out, d.utf8.data(), std::min(cap, d.utf8.size()));
  if (charset) std::snprintf(charset, 32, "%s", d.charset.c_str());
  if (replacements) *replacements = static_cast<uint32_t>(d.replacements);
  return 0;
}
void api_http_defer(minyi_http_response_t* r) {
  if (!r->deferred.exchange(true)) r->self = r->shared_from_this();
}
void api_http_finish(minyi_http_response_t* r) {
  auto keep = r->shared_from_this();  // r may be released by finish()
  r->finish();
}

int64_t api_checkpoint_list(minyi_host_t* h, minyi_str_t prefix, void (*visit)(void*, minyi_str_t, minyi_str_t),
                            void* ctx) {
  try {
    auto rows = h->services->checkpoint_list(*h, std::string(prefix.data ? prefix.data : "", prefix.size));
    for (const auto& [k, v] : rows) visit(ctx, {k.data(), k.size()}, {v.data(), v.size()});
    return static_cast<int64_t>(rows.size());
  } catch (const std::exception& e) {
    spdlog::warn("[{}] cannot list checkpoints: {}", h->name, e.what());
    return -1;
  }
}
minyi_str_t api_state_dir(minyi_host_t* h) {
  std::call_once(h->state_dir_once, [h] { h->state_dir = h->services->instance_dir(*h); });
  return {h->state_dir.data(), h->state_dir.size()};
}

int32_t api_local_time(minyi_host_t*, minyi_str_t text, minyi_str_t zone, char* out, size_t cap) {
  auto r = minyi::local_time_to_rfc3339(std::string_view(text.data ? text.data : "", text.size),
                                        std::string_view(zone.data ? zone.data : "", zone.size));
  const std::string& s = r.index() == 0 ? std::get<0>(r) : std::get<1>(r).reason;
  if (cap) std::snprintf(out, cap, "%s", s.c_str());
  return r.index() == 0 ? 0 : 1;
}
int32_t api_spool_next(minyi_host_t* h, minyi_str_t dir, minyi_str_t suffixes, int64_t settle_ms,
                       minyi_spool_file_t* out) {
  std::string d(dir.data ? dir.data : "", dir.size);
  try {
    std::lock_guard lock(h->spool_mu);
    auto& spool = h->spools[d];
    if (!spool || spool->options().settle_ms != settle_ms) {
      minyi::SpoolOptions o;
      o.dir = std::filesystem::absolute(d);
      std::string_view rest(suffixes.data ? suffixes.data : "", suffixes.size);
      while (!rest.empty()) {
        auto bar = rest.find('|');
        if (bar != 0) o.suffixes.emplace_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
      }
      o.settle_ms = settle_ms;
      spool = std::make_unique<minyi::SpoolDir>(o);
    }
    for (const auto& file : spool->ready(h->services->now_ms())) {
      std::error_code ec;
      uint64_t size = std::filesystem::file_size(file, ec);
      if (ec) continue;  // gone meanwhile
      minyi_spool_file_t f{};
      std::snprintf(f.path, sizeof f.path, "%s", file.c_str());
      std::snprintf(f.name, sizeof f.name, "%s", file.filename().c_str());
      std::snprintf(f.sha256, sizeof f.sha256, "%s", minyi::file_sha256(file).c_str());
      f.size = size;
      f.struct_size = out->struct_size;
      std::memcpy(out, &f, std::min<size_t>(out->struct_size ? out->struct_size : sizeof f, sizeof f));
      return 0;
    }
    return 1;
  } catch (const std::exception& e) {
    spdlog::warn("[{}] spool folder {}: {}", h->name, d, e.what());
    return -1;
  }
}
int32_t api_spool_finish(minyi_host_t* h, minyi_str_t path, int32_t ok, minyi_str_t report, char* err, size_t cap) {
  std::filesystem::path p(std::string(path.data ? path.data : "", path.size));
  try {
    std::lock_guard lock(h->spool_mu);
    for (auto& [dir, spool] : h->spools)
      if (spool->options().dir == p.parent_path()) {
        auto moved = spool->finish(p, ok != 0, std::string_view(report.data ? report.data : "", report.size));
        spdlog::info("[{}] {} -> {}", h->name, p.filename().string(), moved.string());
        return 0;
      }
    throw std::runtime_error("not a file offered by spool_next");
  } catch (const std::exception& e) {
    if (cap) std::snprintf(err, cap, "%s", e.what());
    return -1;
  }
}

const minyi_host_api_t kApi = {
    MINYI_ABI_MAJOR,     MINYI_ABI_MINOR,    sizeof(minyi_host_api_t), api_log,           api_submit,
    api_quarantine,      api_checkpoint_get, api_checkpoint_set,       api_counter_add,   api_clock,
    api_config_string,   api_config_int,     api_config_bool,          api_config_double, api_config_items,
    api_config_item,     api_route_add,      api_http_respond,         api_http_header,   api_instance_name,
    api_stopping,        api_submit_async,   api_http_defer,           api_http_finish,   api_decode_text,
    api_checkpoint_list, api_state_dir,      api_local_time,           api_spool_next,    api_spool_finish,
};

}  // namespace

const minyi_host_api_t* host_api() { return &kApi; }

}  // namespace minyi

void minyi_http_response_t::finish() {
  if (finished.exchange(true)) return;
  if (reply.status == 0) {
    reply.status = 500;
    reply.content_type = "application/json";
    reply.body = R"({"error":{"code":"internal","message":"the channel plugin gave no answer"}})";
  }
  send(std::move(reply));
  self.reset();
}

void minyi_host_t::create() {
  char err[1024] = {0};
  instance = plugin->desc.minyi_on_create(this, minyi::host_api(), err, sizeof err);
  if (!instance)
    throw std::runtime_error("instance '" + name + "' (plugin " + plugin->desc.name +
                             ") failed to start: " + (err[0] ? err : "no reason given"));
}

void minyi_host_t::destroy() {
  if (instance) plugin->desc.minyi_on_destroy(instance);
  instance = nullptr;
}

bool minyi_host_t::start() { return !plugin->desc.minyi_on_start || plugin->desc.minyi_on_start(instance) == 0; }

void minyi_host_t::stop() {
  if (instance && plugin->desc.minyi_on_stop) plugin->desc.minyi_on_stop(instance);
}
