// minyid's command line and process lifecycle (signals, exit codes).
#include "cli.hpp"

#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "config/config.hpp"
#include "core/embedded.hpp"
#include "core/log.hpp"
#include "daemon.hpp"

#ifndef MINYI_VERSION
#define MINYI_VERSION "0.0.0"
#endif

namespace minyi {

namespace {

const char* kUsage =
    "usage: minyid [--config FILE] [--check-config] [--describe-plugin NAME] [--version]\n"
    "\n"
    "  --config FILE           configuration file (default: the embedded config/minyi.yaml)\n"
    "  --check-config          load plugins and validate the configuration, then exit 0 (ok) or 1\n"
    "  --describe-plugin NAME  print a plugin's configuration table and exit\n"
    "  --version               print the version and plugin ABI, then exit\n";

DaemonConfig load(const std::string& path) {
  if (path.empty()) return load_config_text(std::string(embedded::default_config), "<embedded config/minyi.yaml>", ".");
  return load_config_file(path);
}

void print_problems(const std::vector<std::string>& problems) {
  for (const auto& p : problems) std::fprintf(stderr, "minyid: %s\n", p.c_str());
}

}  // namespace

int run_minyid(int argc, char** argv) {
  std::string config_path, describe;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "minyid: %s needs a value\n%s", flag, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config" || a == "-c")
      config_path = value("--config");
    else if (a.rfind("--config=", 0) == 0)
      config_path = a.substr(9);
    else if (a == "--check-config")
      check = true;
    else if (a == "--describe-plugin")
      describe = value("--describe-plugin");
    else if (a == "--version") {
      std::printf("minyid %s (plugin ABI %d.%d, schema minyi.suggestion/1)\n", MINYI_VERSION, MINYI_ABI_MAJOR,
                  MINYI_ABI_MINOR);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "minyid: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }

  DaemonConfig cfg;
  try {
    cfg = load(config_path);
  } catch (const ConfigError& e) {
    print_problems(e.problems());
    std::fprintf(stderr, "minyid: configuration is invalid; nothing was started\n");
    return 1;
  }
  setup_logging(cfg.str("log.level"), std::getenv("JOURNAL_STREAM") != nullptr);

  if (!describe.empty()) {
    PluginRegistry reg(plugin_search_path(cfg));
    if (const auto* p = reg.find(describe)) {
      std::fputs(describe_plugin(*p).c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "minyid: no plugin named '%s' in the plugin path\n", describe.c_str());
    print_problems(reg.errors());
    return 1;
  }
  if (check) {
    PluginRegistry reg(plugin_search_path(cfg));
    auto problems = check_config(cfg, reg);
    if (!problems.empty()) {
      print_problems(problems);
      std::fprintf(stderr, "minyid: %s: %zu problem(s)\n", cfg.source.c_str(), problems.size());
      return 1;
    }
    std::printf("%s: configuration OK (%zu channel(s), %zu sink(s))\n", cfg.source.c_str(), cfg.channels.size(),
                cfg.sinks.size());
    return 0;
  }

  // Request buffers come and go at a high rate: keep freed heap instead of returning it
  // to the kernel (and re-mapping it) after every burst.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Daemon> daemon;
  try {
    daemon = std::make_unique<Daemon>(std::move(cfg));
    daemon->start();
  } catch (const ConfigError& e) {
    print_problems(e.problems());
    std::fprintf(stderr, "minyid: configuration is invalid; nothing was started\n");
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("minyid cannot start: {}", e.what());
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::warn("SIGHUP received: configuration reload is not supported yet; restart minyid to apply changes");
      continue;
    }
    spdlog::info("{} received: draining and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  daemon->stop();
  return 0;
}

}  // namespace minyi
