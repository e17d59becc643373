// Configuration parsing: substitution, validation messages with file:line:column.
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace minyi {

namespace {
std::string problems_of(const std::string& yaml) {
  try {
    load_config_text(yaml, "test.yaml", ".");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultsApply) {
  auto cfg = load_config_text("minyi: {state_dir: /tmp/x}\n", "t.yaml", ".");
  EXPECT_EQ(cfg.str("state_dir"), "/tmp/x");
  EXPECT_EQ(cfg.str("public.listen"), "127.0.0.1:8080");
  EXPECT_EQ(cfg.num("public.body_limit"), 4 * 1024 * 1024);
  EXPECT_EQ(cfg.num("public.read_timeout"), 10000);
  EXPECT_EQ(cfg.dedup.at("duplicate_window").i, 30LL * 86400 * 1000);
  EXPECT_TRUE(cfg.channels.empty());
}

TEST(Config, UnknownKeyHasLineAndColumn) {
  std::string p = problems_of("minyi:\n  public:\n    listn: 1.2.3.4:5\n");
  EXPECT_NE(p.find("test.yaml:3:5: unknown key 'listn' in minyi.public"), std::string::npos) << p;
  EXPECT_NE(p.find("listen"), std::string::npos) << "the message lists the known keys: " << p;
}

TEST(Config, WrongTypeNamesTheKey) {
  std::string p = problems_of("minyi:\n  public: {body_limit: lots}\n");
  EXPECT_NE(p.find("test.yaml:2:24: 'minyi.public.body_limit' must be a size"), std::string::npos) << p;
  p = problems_of("sinks:\n  - {name: a, plugin: file, enabled: maybe}\n");
  EXPECT_NE(p.find("test.yaml:2:38"), std::string::npos) << p;
}

TEST(Config, EveryProblemIsReported) {
  std::string p = problems_of("bogus: 1\nminyi: {log: {level: loud}}\nchannels:\n  - {plugin: web}\n");
  EXPECT_NE(p.find("test.yaml:1:1: unknown top-level key 'bogus'"), std::string::npos) << p;
  EXPECT_NE(p.find("'minyi.log.level' must be one of"), std::string::npos) << p;
  EXPECT_NE(p.find("test.yaml:4:5: missing required key 'name'"), std::string::npos) << p;
}

TEST(Config, DuplicateInstanceNames) {
  std::string p = problems_of("channels:\n  - {name: a, plugin: web}\n  - {name: a, plugin: web}\n");
  EXPECT_NE(p.find("test.yaml:3:12: duplicate channels name 'a'"), std::string::npos) << p;
}

TEST(Config, EnvAndFileSubstitution) {
  auto dir = std::filesystem::temp_directory_path() / ("minyi-cfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "secret.txt") << "s3cr3t\n";
  ::setenv("MINYI_TEST_LISTEN", "127.0.0.1:9999", 1);
  ::unsetenv("MINYI_TEST_UNSET");
  auto cfg = load_config_text(
      "minyi:\n  public: {listen: \"${env:MINYI_TEST_LISTEN}\"}\n  state_dir: \"${file:secret.txt}/x\"\n"
      "  admin: {listen: \"${env:MINYI_TEST_UNSET:-unix:/run/a.sock}\"}\n  pii: {key_file: \"$${literal}\"}\n",
      "t.yaml", dir.string());
  EXPECT_EQ(cfg.str("public.listen"), "127.0.0.1:9999");
  EXPECT_EQ(cfg.str("state_dir"), "s3cr3t/x");
  EXPECT_EQ(cfg.str("admin.listen"), "unix:/run/a.sock");
  EXPECT_EQ(cfg.str("pii.key_file"), "${literal}");

  std::string p = problems_of("minyi:\n  state_dir: \"${file:/nonexistent/minyi-secret}\"\n");
  EXPECT_NE(p.find("test.yaml:2:14: cannot read file '/nonexistent/minyi-secret'"), std::string::npos) << p;
  p = problems_of("minyi:\n  state_dir: \"${env:MINYI_TEST_UNSET}\"\n");
  EXPECT_NE(p.find("environment variable 'MINYI_TEST_UNSET' is not set"), std::string::npos) << p;
  p = problems_of("minyi:\n  state_dir: \"${vault:x}\"\n");
  EXPECT_NE(p.find("unknown substitution"), std::string::npos) << p;
  std::filesystem::remove_all(dir);
}

TEST(Config, PluginKeysAgainstTable) {
  auto cfg = load_config_text(
      "sinks:\n  - name: out\n    plugin: file\n    path: /x\n    fsyncc: always\n    max_size: 1KiB\n", "t.yaml", ".");
  std::vector<KeySpec> specs = {{"path", MINYI_CFG_STRING, std::nullopt, true, "file", {}},
                                {"max_size", MINYI_CFG_SIZE, "10MB", false, "", {}},
                                {"max_files", MINYI_CFG_INT, "3", false, "", {}},
                                {"fsync", MINYI_CFG_STRING, "batch", false, "", {"always", "batch", "never"}}};
  std::vector<std::string> problems;
  auto table = validate_plugin_keys(cfg.sinks.at(0), specs, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("t.yaml:5:5: unknown key 'fsyncc' for instance 'out' (plugin file)"), std::string::npos)
      << problems[0];
  EXPECT_EQ(table.at("max_size").i, 1024);
  EXPECT_EQ(table.at("fsync").text, "batch");
  EXPECT_EQ(table.at("max_files").i, 3);
  EXPECT_TRUE(table.at("max_files").defaulted);
}

TEST(Config, ChoicesAreEnforced) {
  auto cfg = load_config_text("sinks:\n  - {name: out, plugin: file, fsync: sometimes}\n", "t.yaml", ".");
  std::vector<KeySpec> specs = {{"fsync", MINYI_CFG_STRING, "batch", false, "", {"always", "batch", "never"}}};
  std::vector<std::string> problems;
  validate_plugin_keys(cfg.sinks.at(0), specs, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "t.yaml:2:38: 'out.fsync' must be one of always, batch, never, got 'sometimes'");
}

TEST(Config, DurationsAndSizes) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_duration_ms("30d"), 30LL * 86400 * 1000);
  EXPECT_FALSE(parse_duration_ms("30"));
  EXPECT_FALSE(parse_duration_ms("s"));
  EXPECT_EQ(parse_size_bytes("64KiB"), 65536);
  EXPECT_EQ(parse_size_bytes("10MB"), 10'000'000);
  EXPECT_FALSE(parse_size_bytes("10 MB"));
  EXPECT_FALSE(parse_size_bytes("-1"));
}

}  // namespace minyi
