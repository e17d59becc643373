// The minyi daemon as a library: tests and main() create it from a validated config,
// start it, and stop it. It implements the host services plugins call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "plugin_host/plugin_host.hpp"

namespace minyi {

class Journal;
class Intake;
class HttpServer;
class SinkRunner;
class Poller;
class AdminServer;
struct HttpResponseData;
struct IntakeSource;

// Plugin search folders: the configured ones, then the build tree's and the install folder.
std::vector<std::string> plugin_search_path(const DaemonConfig& cfg);

// Everything --check-config verifies without starting anything: plugins load, every
// instance names a known plugin of the right kind, and its keys match the plugin's table.
// Returns the problems (empty = fine). Fills `plugin_tables` for later use.
std::vector<std::string> check_config(const DaemonConfig& cfg, const PluginRegistry& registry,
                                      std::map<std::string, ConfigTable>* plugin_tables = nullptr);

class Daemon : public HostServices {
 public:
  // Throws ConfigError when the configuration does not check out.
  explicit Daemon(DaemonConfig cfg, std::function<int64_t()> clock = {});
  ~Daemon() override;

  // Opens the journal, creates plugin instances, starts listening and delivering.
  void start();
  // Graceful: stop accepting, finish in-flight requests, stop sinks after their current
  // delivery, commit what is queued, close the journal.
  void stop();
  uint16_t public_port() const;

  // HostServices
  void submit(minyi_host_t& inst, const minyi_submission_t& s, minyi_submit_result_t& r) override;
  void submit_async(minyi_host_t& inst, const minyi_submission_t& s, minyi_submit_done_fn done, void* ctx) override;
  void quarantine(minyi_host_t& inst, std::string_view raw, std::string_view content_type,
                  std::string_view reason) override;
  std::optional<std::string> checkpoint_get(minyi_host_t& inst, const std::string& key) override;
  bool checkpoint_set(minyi_host_t& inst, const std::string& key, const std::string& value) override;
  std::vector<std::pair<std::string, std::string>> checkpoint_list(minyi_host_t& inst,
                                                                   const std::string& prefix) override;
  std::string instance_dir(minyi_host_t& inst) override;
  bool route_add(minyi_host_t& inst, const std::string& method, const std::string& path) override;
  int64_t now_ms() override;

 private:
  DaemonConfig cfg_;
  std::function<int64_t()> clock_;
  std::unique_ptr<PluginRegistry> registry_;
  std::map<std::string, ConfigTable> plugin_tables_;  // "channels/<name>" or "sinks/<name>"
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Intake> intake_;
  std::unique_ptr<HttpServer> http_;
  std::vector<std::unique_ptr<minyi_host_t>> channels_;
  std::vector<std::unique_ptr<minyi_host_t>> sinks_;
  std::map<const minyi_host_t*, IntakeSource> sources_;
  std::vector<std::unique_ptr<SinkRunner>> runners_;
  std::vector<std::unique_ptr<Poller>> pollers_;
  std::unique_ptr<AdminServer> admin_;
  HttpResponseData admin_request(const std::string& method, const std::string& target, const std::string& body);
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace minyi
