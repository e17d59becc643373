// The host's spool folder: only settled files are offered, finished files move with their
// report, names never clash, content hashes identify re-dropped files.
#include "spool/spool.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/crypto.hpp"

namespace fs = std::filesystem;
using minyi::SpoolDir;

namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("minyi-spool-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& data, std::ios::openmode mode = std::ios::trunc) {
    std::ofstream(dir_ / name, std::ios::binary | mode) << data;
  }
  fs::path dir_;
};

std::vector<std::string> names(const std::vector<fs::path>& files) {
  std::vector<std::string> out;
  for (auto& f : files) out.push_back(f.filename().string());
  return out;
}

}  // namespace

TEST_F(SpoolTest, OffersOnlyFilesThatStoppedChanging) {
  SpoolDir spool({dir_, {".csv", ".xlsx"}, 1000});
  EXPECT_TRUE(fs::is_directory(dir_ / "processed"));
  EXPECT_TRUE(fs::is_directory(dir_ / "failed"));
  write("visits.csv", "a,b\n");
  write("notes.txt", "ignored: not a wanted suffix");
  write(".hidden.csv", "x");
  write("~$visits.xlsx", "excel lock file");
  write("upload.csv.part", "partial");
  EXPECT_TRUE(spool.ready(0).empty()) << "first sight starts the settle time";
  EXPECT_TRUE(spool.ready(999).empty());
  EXPECT_EQ(names(spool.ready(1000)), std::vector<std::string>{"visits.csv"});
  // Still being written: growing restarts the clock.
  write("visits.csv", "1,2\n", std::ios::app);
  EXPECT_TRUE(spool.ready(1500).empty());
  EXPECT_TRUE(spool.ready(2400).empty());
  EXPECT_EQ(names(spool.ready(2500)), std::vector<std::string>{"visits.csv"});
  fs::create_directory(dir_ / "sub.csv");
  EXPECT_EQ(spool.ready(9000).size(), 1u) << "directories are never offered";
}

TEST_F(SpoolTest, FinishMovesWithReportAndNeverOverwrites) {
  SpoolDir spool({dir_, {}, 0});
  write("a.csv", "one");
  ASSERT_EQ(spool.ready(0).size(), 1u);
  auto moved = spool.finish(dir_ / "a.csv", true, "");
  EXPECT_EQ(moved, dir_ / "processed" / "a.csv");
  EXPECT_FALSE(fs::exists(dir_ / "a.csv"));
  // The same name again (a re-drop) does not overwrite the first.
  write("a.csv", "two");
  auto again = spool.finish(dir_ / "a.csv", true, "");
  EXPECT_EQ(again, dir_ / "processed" / "a.csv.1");
  write("bad.csv", "x");
  auto failed = spool.finish(dir_ / "bad.csv", false, R"({"rows":[{"row":2,"reason":"bad date"}]})");
  EXPECT_EQ(failed, dir_ / "failed" / "bad.csv");
  std::ifstream report(dir_ / "failed" / "bad.csv.report.json");
  std::string text((std::istreambuf_iterator<char>(report)), {});
  EXPECT_NE(text.find("bad date"), std::string::npos);
  EXPECT_TRUE(spool.ready(0).empty()) << "reports and moved files are not offered again";
}

TEST_F(SpoolTest, ContentHashIdentifiesAFileWhateverItsName) {
  fs::create_directories(dir_);
  std::string big(300000, 'x');
  big[123456] = 'y';
  write("one.csv", big);
  write("two.csv", big);
  EXPECT_EQ(minyi::file_sha256(dir_ / "one.csv"), minyi::sha256_hex(big));
  EXPECT_EQ(minyi::file_sha256(dir_ / "one.csv"), minyi::file_sha256(dir_ / "two.csv"));
  EXPECT_THROW(minyi::file_sha256(dir_ / "missing.csv"), std::runtime_error);
}
