// Daemon wiring: config → plugins → journal → intake → HTTP routes and sink runners.
#include "daemon.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "admin/admin_server.hpp"
#include "core/timefmt.hpp"
#include "dispatch/dispatcher.hpp"
#include "http/server.hpp"
#include "intake/intake.hpp"
#include "journal/journal.hpp"
#include "plugin_host/poller.hpp"

#ifndef MINYI_BUILD_PLUGIN_DIR
#define MINYI_BUILD_PLUGIN_DIR ""
#endif
#ifndef MINYI_INSTALL_PLUGIN_DIR
#define MINYI_INSTALL_PLUGIN_DIR "/usr/lib/minyi/plugins"
#endif

namespace minyi {

namespace fs = std::filesystem;

std::vector<std::string> plugin_search_path(const DaemonConfig& cfg) {
  std::vector<std::string> dirs;
  for (const auto& [k, v] : cfg.minyi.at("plugin_path").items) dirs.push_back(v);
  if (const char* env = std::getenv("MINYI_PLUGIN_PATH"))
    for (std::string_view rest = env; !rest.empty();) {
      auto colon = rest.find(':');
      dirs.emplace_back(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
  if (*MINYI_BUILD_PLUGIN_DIR) dirs.emplace_back(MINYI_BUILD_PLUGIN_DIR);
  dirs.emplace_back(MINYI_INSTALL_PLUGIN_DIR);
  return dirs;
}

std::vector<std::string> check_config(const DaemonConfig& cfg, const PluginRegistry& registry,
                                      std::map<std::string, ConfigTable>* plugin_tables) {
  std::vector<std::string> problems = registry.errors();
  auto check = [&](const std::vector<InstanceConfig>& list, const char* section, int kind) {
    for (const auto& inst : list) {
      const LoadedPlugin* p = registry.find(inst.plugin);
      std::string where = inst.host.at("plugin").mark.str();
      if (!p) {
        std::string known;
        for (const auto* q : registry.all())
          if (q->desc.kind == kind) known += (known.empty() ? "" : ", ") + std::string(q->desc.name);
        std::string dirs;
        for (const auto& d : registry.searched()) dirs += (dirs.empty() ? "" : ", ") + d;
        problems.push_back(where + ": no plugin named '" + inst.plugin + "' in the plugin path (" + dirs +
                           "); available: " + (known.empty() ? "none" : known));
        continue;
      }
      if (p->desc.kind != kind) {
        problems.push_back(where + ": plugin '" + inst.plugin + "' is a " +
                           (p->desc.kind == MINYI_KIND_SINK ? "sink" : "source") + " and cannot be used under " +
                           section);
        continue;
      }
      auto table = validate_plugin_keys(inst, p->specs, problems);
      if (plugin_tables) (*plugin_tables)[std::string(section) + "/" + inst.name] = std::move(table);
    }
  };
  check(cfg.channels, "channels", MINYI_KIND_SOURCE);
  check(cfg.sinks, "sinks", MINYI_KIND_SINK);
  return problems;
}

Daemon::Daemon(DaemonConfig cfg, std::function<int64_t()> clock) : cfg_(std::move(cfg)), clock_(std::move(clock)) {
  if (!clock_) clock_ = wall_clock_ms;
  registry_ = std::make_unique<PluginRegistry>(plugin_search_path(cfg_));
  auto problems = check_config(cfg_, *registry_, &plugin_tables_);
  if (!problems.empty()) throw ConfigError(problems);
}

Daemon::~Daemon() { stop(); }

void Daemon::start() {
  const std::string state_dir = cfg_.str("state_dir");
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) throw std::runtime_error("cannot create state_dir '" + state_dir + "': " + ec.message());
  std::string key_file = cfg_.str("pii.key_file");
  if (key_file.empty()) key_file = (fs::path(state_dir) / "pii.key").string();

  JournalOptions jo;
  jo.path = (fs::path(state_dir) / "journal.db").string();
  jo.synchronous_full = cfg_.str("journal.synchronous") == "FULL";
  jo.batch_max = static_cast<size_t>(std::max<int64_t>(1, cfg_.num("journal.batch_max")));
  jo.queue_max = static_cast<size_t>(std::max<int64_t>(1, cfg_.num("journal.queue_max")));
  jo.dedup.enabled = cfg_.dedup.at("enabled").b;
  jo.dedup.duplicate_window_ms = cfg_.dedup.at("duplicate_window").i;
  jo.dedup.duplicate_threshold = cfg_.dedup.at("duplicate_threshold").d;
  jo.dedup.cluster_window_ms = cfg_.dedup.at("cluster_window").i;
  jo.dedup.cluster_topic_threshold = cfg_.dedup.at("cluster_topic_threshold").d;
  if (const auto& g = cfg_.dedup.at("gazetteer").text; !g.empty()) jo.dedup.gazetteer = load_gazetteer(g);
  journal_ = std::make_unique<Journal>(jo);
  intake_ = std::make_unique<Intake>(load_or_create_pii_key(key_file), clock_, jo.dedup.enabled, jo.dedup.gazetteer);

  HttpServerOptions ho;
  ho.listen = cfg_.str("public.listen");
  ho.max_connections = static_cast<size_t>(cfg_.num("public.max_connections"));
  ho.max_connections_per_client = static_cast<size_t>(cfg_.num("public.max_connections_per_client"));
  ho.header_limit = static_cast<size_t>(cfg_.num("public.header_limit"));
  ho.body_limit = static_cast<size_t>(cfg_.num("public.body_limit"));
  ho.read_timeout = std::chrono::milliseconds(cfg_.num("public.read_timeout"));
  ho.idle_timeout = std::chrono::milliseconds(cfg_.num("public.idle_timeout"));
  ho.workers = static_cast<size_t>(std::max<int64_t>(1, cfg_.num("public.workers")));
  http_ = std::make_unique<HttpServer>(ho);

  auto make = [&](const InstanceConfig& ic, const char* section) {
    auto h = std::make_unique<minyi_host_t>();
    h->name = ic.name;
    h->plugin = registry_->find(ic.plugin);
    h->config = plugin_tables_.at(std::string(section) + "/" + ic.name);
    h->services = this;
    return h;
  };
  for (const auto& ic : cfg_.channels) {
    if (!ic.enabled) continue;
    auto h = make(ic, "channels");
    sources_[h.get()] = IntakeSource{h->name, h->plugin->desc.name,
                                     h->plugin->desc.version ? h->plugin->desc.version : "", h->plugin->channel()};
    h->create();
    if (h->plugin->desc.minyi_on_poll) {
      int64_t interval = h->plugin->desc.poll_interval_ms;
      if (auto it = ic.host.find("poll_interval"); it != ic.host.end()) interval = it->second.i;
      if (interval <= 0) interval = 60000;
      pollers_.push_back(std::make_unique<Poller>(*h, interval));
    }
    channels_.push_back(std::move(h));
  }
  for (const auto& ic : cfg_.sinks) {
    if (!ic.enabled) continue;
    auto h = make(ic, "sinks");
    h->create();
    RetryPolicy rp;
    rp.batch_max = static_cast<size_t>(std::max<int64_t>(1, ic.host.at("batch_max").i));
    rp.max_attempts = ic.host.at("max_attempts").i;
    rp.max_age_ms = ic.host.at("max_age").i;
    rp.backoff_initial_ms = std::max<int64_t>(1, ic.host.at("backoff_initial").i);
    rp.backoff_max_ms = std::max(rp.backoff_initial_ms, ic.host.at("backoff_max").i);
    runners_.push_back(std::make_unique<SinkRunner>(*journal_, *h, rp, clock_));
    sinks_.push_back(std::move(h));
  }
  for (auto& c : channels_)
    if (!c->start()) throw std::runtime_error("channel '" + c->name + "' failed to start");
  for (auto& s : sinks_)
    if (!s->start()) throw std::runtime_error("sink '" + s->name + "' failed to start");
  for (auto& r : runners_) r->start();
  http_->start();
  for (auto& p : pollers_) p->start();
  std::string admin_endpoint = "disabled";
  std::string listen = cfg_.str("admin.listen");
  if (listen.empty()) listen = "unix:" + (fs::path(state_dir) / "admin.sock").string();
  if (listen != "off") {
    admin_ = std::make_unique<AdminServer>(listen, [this](const std::string& m, const std::string& t,
                                                          const std::string& b) { return admin_request(m, t, b); });
    admin_->start();
    admin_endpoint = admin_->endpoint();
  }
  spdlog::info("admin listener on {}", admin_endpoint);
  started_ = true;
  spdlog::info("minyid ready: journal {} (schema {}), {} channel(s), {} sink(s), public listener on {}:{}", jo.path,
               journal_->schema_version(), channels_.size(), sinks_.size(), ho.listen.substr(0, ho.listen.rfind(':')),
               http_->port());
}

void Daemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (admin_) admin_->stop();
  for (auto& p : pollers_) p->stop();
  if (http_) http_->shutdown(std::chrono::seconds(10));
  for (auto& c : channels_) c->stop();
  for (auto& r : runners_) r->stop();
  for (auto& s : sinks_) s->stop();
  if (journal_) journal_->stop();
  for (auto& c : channels_) c->destroy();
  for (auto& s : sinks_) s->destroy();
  if (started_) spdlog::info("minyid stopped cleanly");
}

uint16_t Daemon::public_port() const { return http_ ? http_->port() : 0; }

void Daemon::submit(minyi_host_t& inst, const minyi_submission_t& s, minyi_submit_result_t& r) {
  std::promise<void> done;
  auto fut = done.get_future();
  struct Ctx {
    minyi_submit_result_t* out;
    std::promise<void>* done;
  } ctx{&r, &done};
  submit_async(
      inst, s,
      [](void* c, const minyi_submit_result_t* res) {
        auto* x = static_cast<Ctx*>(c);
        *x->out = *res;
        x->done->set_value();
      },
      &ctx);
  fut.get();
}

void Daemon::submit_async(minyi_host_t& inst, const minyi_submission_t& s, minyi_submit_done_fn done, void* ctx) {
  auto v = [](minyi_str_t x) { return std::string_view(x.data ? x.data : "", x.size); };
  minyi_submit_result_t r{};
  auto it = sources_.find(&inst);
  if (it == sources_.end()) {
    r.status = MINYI_SUBMIT_REJECTED;
    std::snprintf(r.code, sizeof r.code, "not_a_source");
    std::snprintf(r.reason, sizeof r.reason, "only channel instances can submit");
    return done(ctx, &r);
  }
  auto prepared =
      intake_->prepare(it->second, v(s.draft_json), v(s.raw), v(s.raw_content_type), v(s.charset), s.replacements);
  if (auto* rej = std::get_if<IntakeRejection>(&prepared)) {
    r.status = MINYI_SUBMIT_REJECTED;
    std::snprintf(r.code, sizeof r.code, "%s", rej->code.c_str());
    std::snprintf(r.field, sizeof r.field, "%s", rej->field.c_str());
    std::snprintf(r.reason, sizeof r.reason, "%s", rej->message.c_str());
    quarantine(inst, v(s.raw), v(s.raw_content_type), rej->code + ": " + rej->message);
    return done(ctx, &r);
  }
  auto& rec = std::get<JournalRecord>(prepared);
  if (s.checkpoint_key.size)
    rec.checkpoint.emplace(std::string(v(s.checkpoint_key)), std::string(v(s.checkpoint_value)));
  minyi_host_t* source = &inst;
  journal_->submit_async(std::move(rec), [source, done, ctx](JournalResult res) {
    minyi_submit_result_t out{};
    switch (res.outcome) {
      case JournalOutcome::Accepted:
        out.status = MINYI_SUBMIT_ACCEPTED;
        break;
      case JournalOutcome::Replay:
        out.status = MINYI_SUBMIT_REPLAY;
        break;
      case JournalOutcome::Busy:
      case JournalOutcome::Failed:
        out.status = MINYI_SUBMIT_BUSY;
        std::snprintf(out.code, sizeof out.code, "%s", res.outcome == JournalOutcome::Busy ? "busy" : "journal_error");
        std::snprintf(out.reason, sizeof out.reason, "%s", res.error.c_str());
        return done(ctx, &out);
    }
    std::snprintf(out.id, sizeof out.id, "%s", res.id.c_str());
    spdlog::debug("[{}] {} suggestion {}", source->name, out.status == MINYI_SUBMIT_ACCEPTED ? "accepted" : "replayed",
                  res.id);
    done(ctx, &out);
  });
}

void Daemon::quarantine(minyi_host_t& inst, std::string_view raw, std::string_view content_type,
                        std::string_view reason) {
  try {
    journal_->quarantine(inst.name, std::string(reason), std::string(content_type), std::string(raw), clock_());
    spdlog::info("[{}] quarantined {} byte(s): {}", inst.name, raw.size(), reason);
  } catch (const std::exception& e) {
    spdlog::warn("[{}] could not quarantine {} byte(s): {}", inst.name, raw.size(), e.what());
  }
}

std::optional<std::string> Daemon::checkpoint_get(minyi_host_t& inst, const std::string& key) {
  JournalReader reader(journal_->path());
  return reader.checkpoint(inst.name, key);
}

bool Daemon::checkpoint_set(minyi_host_t& inst, const std::string& key, const std::string& value) {
  try {
    journal_->checkpoint_set(inst.name, key, value);
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("[{}] checkpoint '{}' not stored: {}", inst.name, key, e.what());
    return false;
  }
}

std::vector<std::pair<std::string, std::string>> Daemon::checkpoint_list(minyi_host_t& inst,
                                                                         const std::string& prefix) {
  JournalReader reader(journal_->path());
  return reader.checkpoints(inst.name, prefix);
}

std::string Daemon::instance_dir(minyi_host_t& inst) {
  fs::path dir = fs::absolute(fs::path(cfg_.str("state_dir")) / "plugins" / inst.name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) spdlog::error("[{}] cannot create {}: {}", inst.name, dir.string(), ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return dir.string();
}

bool Daemon::route_add(minyi_host_t& inst, const std::string& method, const std::string& path) {
  if (!inst.plugin->desc.minyi_on_http) {
    spdlog::error("[{}] plugin {} asked for route {} {} but has no minyi_on_http", inst.name, inst.plugin->desc.name,
                  method, path);
    return false;
  }
  minyi_host_t* target = &inst;
  bool blocking = (inst.plugin->desc.flags & MINYI_FLAG_HTTP_NONBLOCKING) == 0;
  bool ok = http_->add_route(
      method, path,
      [target](const HttpRequestView& rq, HttpRespond respond) {
        std::vector<minyi_http_header_t> headers;
        headers.reserve(rq.headers.size());
        auto s = [](std::string_view x) { return minyi_str_t{x.data(), x.size()}; };
        for (const auto& [k, v] : rq.headers) headers.push_back({s(k), s(v)});
        minyi_http_request_t req{sizeof(minyi_http_request_t),
                                 s(rq.method),
                                 s(rq.target),
                                 s(rq.path),
                                 s(rq.query),
                                 headers.data(),
                                 headers.size(),
                                 s(rq.body),
                                 s(rq.remote_addr)};
        auto resp = std::make_shared<minyi_http_response_t>();
        resp->send = [respond = std::move(respond)](HttpReply reply) {
          HttpResponseData out;
          out.status = reply.status;
          out.content_type = reply.content_type.empty() ? "application/json" : std::move(reply.content_type);
          out.body = std::move(reply.body);
          out.headers = std::move(reply.headers);
          respond(std::move(out));
        };
        target->plugin->desc.minyi_on_http(target->instance, &req, resp.get());
        if (!resp->deferred) resp->finish();
      },
      blocking);
  if (ok) spdlog::info("[{}] serving {} {}", inst.name, method, path);
  return ok;
}

int64_t Daemon::now_ms() { return clock_(); }

HttpResponseData Daemon::admin_request(const std::string& method, const std::string& target, const std::string& body) {
  HttpResponseData out;
  out.status = 200;
  std::string path = target.substr(0, target.find('?'));
  if (method == "GET" && path == "/livez") {
    out.body = R"({"status":"ok"})";
    return out;
  }
  if (method == "GET" && path == "/readyz") {
    out.status = started_ && !stopped_ ? 200 : 503;
    out.body = started_ && !stopped_ ? R"({"status":"ready"})" : R"({"status":"not ready"})";
    return out;
  }
  if (method == "GET" && path == "/metrics") {
    out.content_type = "text/plain; version=0.0.4";
    std::string m;
    m +=
        "# HELP minyi_events_last_seq Highest sequence number in the events log.\n# TYPE minyi_events_last_seq gauge\n";
    m += "minyi_events_last_seq " + std::to_string(journal_->last_seq()) + "\n";
    m += "# HELP minyi_dedup_index_entries Suggestions in the duplicate index.\n# TYPE minyi_dedup_index_entries "
         "gauge\n";
    m += "minyi_dedup_index_entries " + std::to_string(journal_->dedup_index_size()) + "\n";
    const int64_t last_seq = journal_->last_seq();
    std::string cursors, lags, reads;
    for (const auto& r : runners_) {
      const auto st = r->stats();
      const std::string label = "{sink=\"" + r->name() + "\"";
      cursors += "minyi_sink_cursor" + label + "} " + std::to_string(st.cursor) + "\n";
      lags +=
          "minyi_sink_lag_events" + label + "} " + std::to_string(std::max<int64_t>(0, last_seq - st.cursor)) + "\n";
      reads += "minyi_sink_events_read_total" + label + ",from=\"memory\"} " + std::to_string(st.read_from_memory) +
               "\n" + "minyi_sink_events_read_total" + label + ",from=\"journal\"} " +
               std::to_string(st.read_from_journal) + "\n";
    }
    m += "# HELP minyi_sink_cursor Last event each sink has handled (delivered or dead-lettered).\n"
         "# TYPE minyi_sink_cursor gauge\n" +
         cursors;
    m += "# HELP minyi_sink_lag_events Events committed but not yet handled, per sink.\n"
         "# TYPE minyi_sink_lag_events gauge\n" +
         lags;
    m += "# HELP minyi_sink_events_read_total Events each sink read, from the journal writer's in-memory copies of "
         "the latest ones or from the journal.\n# TYPE minyi_sink_events_read_total counter\n" +
         reads;
    m += "# HELP minyi_plugin_counter Counters reported by plugin instances.\n# TYPE minyi_plugin_counter counter\n";
    for (const auto* list : {&channels_, &sinks_})
      for (const auto& inst : *list) {
        std::lock_guard lock(inst->counters_mu);
        for (const auto& [name, value] : inst->counters)
          m += "minyi_plugin_counter{instance=\"" + inst->name + "\",name=\"" + name + "\"} " + std::to_string(value) +
               "\n";
      }
    out.body = std::move(m);
    return out;
  }
  // POST /v1/admin/suggestions/{id}/unlink | /uncluster   body {"by": "...", "reason": "..."}
  const std::string prefix = "/v1/admin/suggestions/";
  if (path.rfind(prefix, 0) == 0) {
    std::string rest = path.substr(prefix.size());
    auto slash = rest.find('/');
    std::string id = rest.substr(0, slash), action = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (action != "unlink" && action != "uncluster") {
      out.status = 404;
      out.body = json_error("not_found", "use POST " + prefix + "{id}/unlink or " + prefix + "{id}/uncluster");
      return out;
    }
    if (method != "POST") {
      out.status = 405;
      out.headers.emplace_back("Allow", "POST");
      out.body = json_error("method_not_allowed", "use POST");
      return out;
    }
    nlohmann::json req;
    try {
      req = nlohmann::json::parse(body.empty() ? "{}" : body);
    } catch (const std::exception&) {
      out.status = 400;
      out.body = json_error("malformed_json", "the body must be a JSON object {\"by\": …, \"reason\": …}");
      return out;
    }
    for (const char* field : {"by", "reason"})
      if (!req.is_object() || !req.contains(field) || !req[field].is_string() ||
          req[field].get<std::string>().empty()) {
        out.status = 400;
        out.body =
            json_error("missing_field",
                       std::string("'") + field + "' is required: corrections are journaled with who and why", field);
        return out;
      }
    std::string by = req["by"], why = req["reason"];
    std::string error =
        action == "unlink" ? journal_->unlink_duplicate(id, by, why) : journal_->remove_from_cluster(id, by, why);
    if (!error.empty()) {
      out.status = error.rfind("no suggestion", 0) == 0 ? 404 : 409;
      out.body = json_error(out.status == 404 ? "not_found" : "conflict", error);
      return out;
    }
    spdlog::info("admin: {} {} by {}", action, id, by);
    out.body =
        nlohmann::json{{"id", id}, {"action", action == "unlink" ? "unlink_duplicate" : "remove_from_cluster"}}.dump();
    return out;
  }
  out.status = 404;
  out.body = json_error("not_found", "unknown admin path " + path);
  return out;
}

}  // namespace minyi
