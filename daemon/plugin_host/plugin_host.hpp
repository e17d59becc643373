// The plugin host: finds and loads plugin shared objects, checks their ABI, and gives each
// configured instance its host function table (minyi_host_api_t).
#pragma once

#include <minyi/plugin.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "spool/spool.hpp"

namespace minyi {

// A plugin shared object that passed the ABI checks. OWNERSHIP: the registry; the
// descriptor is a zero-extended copy of the plugin's.
struct LoadedPlugin {
  std::string file;
  void* handle = nullptr;
  minyi_plugin_descriptor_t desc{};
  std::vector<KeySpec> specs;
  std::string channel() const { return desc.channel ? desc.channel : desc.name; }
};

// Loads every *.so in the search folders (in order; a file reachable twice loads once).
// Refused files are listed in errors(), each naming the file and what to do.
class PluginRegistry {
 public:
  explicit PluginRegistry(const std::vector<std::string>& dirs);
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  const std::vector<std::string>& errors() const { return errors_; }
  const LoadedPlugin* find(const std::string& name) const;
  std::vector<const LoadedPlugin*> all() const;
  const std::vector<std::string>& searched() const { return dirs_; }

  // Checks one file; on success returns the plugin, else writes the reason to `error`.
  static std::unique_ptr<LoadedPlugin> load_file(const std::string& file, std::string& error);

 private:
  std::vector<std::string> dirs_;
  std::vector<std::string> errors_;
  std::map<std::string, std::unique_ptr<LoadedPlugin>> plugins_;
};

// Prints a plugin's configuration table (for --describe-plugin and the docs).
std::string describe_plugin(const LoadedPlugin& p);

// What the daemon provides to plugin instances. Implemented by the Daemon.
class HostServices {
 public:
  virtual ~HostServices() = default;
  virtual void submit(minyi_host_t& inst, const minyi_submission_t& s, minyi_submit_result_t& r) = 0;
  virtual void submit_async(minyi_host_t& inst, const minyi_submission_t& s, minyi_submit_done_fn done, void* ctx) = 0;
  virtual void quarantine(minyi_host_t& inst, std::string_view raw, std::string_view content_type,
                          std::string_view reason) = 0;
  virtual std::optional<std::string> checkpoint_get(minyi_host_t& inst, const std::string& key) = 0;
  virtual bool checkpoint_set(minyi_host_t& inst, const std::string& key, const std::string& value) = 0;
  virtual std::vector<std::pair<std::string, std::string>> checkpoint_list(minyi_host_t& inst,
                                                                           const std::string& prefix) = 0;
  // STATE_DIR/plugins/<instance>, created; throws when it cannot be.
  virtual std::string instance_dir(minyi_host_t& inst) = 0;
  virtual bool route_add(minyi_host_t& inst, const std::string& method, const std::string& path) = 0;
  virtual int64_t now_ms() = 0;
};

// Host-side response object handed to on_http.
struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace minyi

// The host side of one plugin instance; plugins see it as the opaque minyi_host_t.
struct minyi_host_t {
  std::string name;
  const minyi::LoadedPlugin* plugin = nullptr;
  minyi::ConfigTable config;
  minyi::HostServices* services = nullptr;
  void* instance = nullptr;
  std::atomic<bool> stopping{false};  // set by the host before stop(); read by plugins
  // Guarded by counters_mu: plugin-defined counters (exported as metrics later).
  std::mutex counters_mu;
  std::map<std::string, uint64_t> counters;
  std::once_flag state_dir_once;
  std::string state_dir;  // set once by state_dir()
  // Spool folders this instance reads, by directory. Guarded by spool_mu.
  std::mutex spool_mu;
  std::map<std::string, std::unique_ptr<minyi::SpoolDir>> spools;

  // Calls the plugin's create; throws with the plugin's message on failure.
  void create();
  void destroy();
  bool start();
  void stop();
};

// A response under construction. The host keeps a shared_ptr for the on_http call; a
// deferred response also owns itself (`self`) until http_finish releases it.
struct minyi_http_response_t : std::enable_shared_from_this<minyi_http_response_t> {
  minyi::HttpReply reply;
  std::function<void(minyi::HttpReply)> send;  // delivers the reply; called once
  std::shared_ptr<minyi_http_response_t> self;
  std::atomic<bool> deferred{false};
  std::atomic<bool> finished{false};
  // Sends the reply once; later calls are ignored.
  void finish();
};

namespace minyi {
const minyi_host_api_t* host_api();
}
