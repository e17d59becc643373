// Place keys, topic keywords and problem terms; the cluster index in a real SQLite journal.
#include "dedup/clusters.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/ids.hpp"
#include "journal/journal.hpp"
#include "journal/sqlite.hpp"

namespace minyi {

namespace {
bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
}  // namespace

TEST(IssueFeatures, PlaceKeys) {
  auto f = issue_features("A5区劳动东路魅力之城小区油烟扰民", "小区临街门面长期油烟直排。");
  EXPECT_TRUE(has(f.places, "之城小区"));
  EXPECT_TRUE(has(f.places, "力之城"));
  EXPECT_TRUE(has(f.places, "动东路"));
  EXPECT_FALSE(has(f.places, "我们小区"));
  auto g = issue_features("", "我们小区和该小区、农村道路都有问题");
  EXPECT_TRUE(g.places.empty()) << g.places.front();
  auto h = issue_features("A市經濟學院強制學生實習", "");  // traditional characters fold
  EXPECT_TRUE(has(h.places, "经济学院"));
}

TEST(IssueFeatures, GazetteerNames) {
  auto f = issue_features("", "滨江壹号的住户反映噪音", {"滨江壹号"});
  EXPECT_TRUE(has(f.places, "滨江壹号"));
}

TEST(IssueFeatures, KeywordsAndProblems) {
  auto f = issue_features("工地夜间施工噪音", "幸福小区旁的工地每天夜间施工，噪音很大，噪音扰民。");
  EXPECT_TRUE(has(f.keywords, "施工"));
  EXPECT_TRUE(has(f.keywords, "噪音"));
  EXPECT_FALSE(has(f.keywords, "小区"));
  for (const auto& k : f.keywords) EXPECT_EQ(k.find("的"), std::string::npos) << k;
  ASSERT_FALSE(f.problems.empty());
  EXPECT_EQ(f.problems.front(), "噪音");
  EXPECT_TRUE(has(f.problems, "施工"));
  EXPECT_TRUE(has(f.problems, "扰民"));
}

// Intake leaves the keywords to the journal writer: picked later from what issue_features
// handed over, they are the same words in the same order.
TEST(IssueFeatures, KeywordsPickedLaterAreTheSame) {
  const std::vector<std::pair<std::string, std::string>> reports = {
      {"工地夜间施工噪音", "幸福小区旁的工地每天夜间施工，噪音很大，噪音扰民。"},
      {"", "我们小区和该小区、农村道路都有问题"},
      {"A市經濟學院強制學生實習", "學院要求學生去工廠實習，實習工資被拖欠。"},
      {"", "嗯 那个 就是说 光明路 的 路灯 坏了 好几天 了"},
      {"", ""}};
  for (const auto& [title, content] : reports) {
    const IssueFeatures all_at_once = issue_features(title, content, {"光明路"});
    std::string match, match_too;
    TopicText topic;
    const IssueFeatures without = issue_features(title, content, {"光明路"}, &match, &topic);
    issue_features(title, content, {"光明路"}, &match_too);
    EXPECT_TRUE(without.keywords.empty()) << content;
    EXPECT_EQ(without.places, all_at_once.places) << content;
    EXPECT_EQ(without.problems, all_at_once.problems) << content;
    EXPECT_EQ(match, match_too) << content;
    EXPECT_EQ(topic_keywords(topic), all_at_once.keywords) << content;
  }
  EXPECT_FALSE(issue_features("工地夜间施工噪音", "夜间施工").keywords.empty());
}

class ClusterIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("minyi-clusters-" + new_uuid_v7());
    std::filesystem::create_directories(dir_);
    // The journal creates the schema (migrations); the index then works on its own connection.
    Journal({(dir_ / "journal.db").string()}).stop();
    db_ = std::make_unique<sql::Db>((dir_ / "journal.db").string(), SQLITE_OPEN_READWRITE);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<sql::Db> db_;
};

TEST_F(ClusterIndexTest, JoinsBySharedPlaceAndTopicInASlidingWindow) {
  constexpr int64_t day = 86'400'000;
  ClusterIndex idx({30 * day, 0.2});
  idx.load(*db_);
  auto noise = issue_features("", "幸福小区工地夜间施工噪音扰民");
  auto a = idx.assign(*db_, noise, 100 * day, "t1", "s1");
  EXPECT_FALSE(a.joined);
  EXPECT_EQ(a.size, 1);
  auto b = idx.assign(*db_, issue_features("", "幸福小区旁边施工，噪音很大"), 120 * day, "t2", "s2");
  EXPECT_TRUE(b.joined);
  EXPECT_EQ(b.cluster_id, a.cluster_id);
  EXPECT_EQ(b.size, 2);
  EXPECT_NE(b.json.find("\"size\":2"), std::string::npos);
  // 45 days after the first but 25 after the latest: the window slides.
  auto c = idx.assign(*db_, noise, 145 * day, "t3", "s3");
  EXPECT_EQ(c.cluster_id, a.cluster_id);
  // Same place, another problem; another place, same problem: new clusters.
  EXPECT_NE(idx.assign(*db_, issue_features("", "幸福小区电梯经常故障停运"), 146 * day, "t4", "s4").cluster_id,
            a.cluster_id);
  EXPECT_NE(idx.assign(*db_, issue_features("", "光明小区工地夜间施工噪音扰民"), 146 * day, "t5", "s5").cluster_id,
            a.cluster_id);
  // Long after: closed.
  EXPECT_NE(idx.assign(*db_, noise, 400 * day, "t6", "s6").cluster_id, a.cluster_id);
  // No place: no cluster.
  EXPECT_TRUE(idx.assign(*db_, issue_features("", "施工噪音扰民"), 400 * day, "t7", "s7").cluster_id.empty());

  // Reloaded from the table, the open cluster is found again.
  ClusterIndex again({30 * day, 0.2});
  again.load(*db_);
  EXPECT_EQ(again.assign(*db_, noise, 401 * day, "t8", "s8").size, 2);
}

// A duplicate takes its cluster's size from memory: the same as the journal's, for every
// cluster held there, after assignments, a reload and a compaction.
TEST_F(ClusterIndexTest, SizesInMemoryAreTheJournals) {
  constexpr int64_t day = 86'400'000;
  ClusterIndex idx({30 * day, 0.2});
  idx.load(*db_);
  const std::vector<std::string> reports = {"幸福小区工地夜间施工噪音扰民", "幸福小区旁边施工，噪音很大",
                                            "幸福小区电梯经常故障停运", "光明小区工地夜间施工噪音扰民",
                                            "幸福小区电梯又停了"};
  std::vector<std::string> ids;
  auto check = [&](const ClusterIndex& index, const char* when) {
    sql::Stmt q(db_->get(), "SELECT id, size FROM clusters");
    int held = 0;
    while (q.step()) {
      auto size = index.size_of(q.col_text(0));
      if (!size) continue;
      ++held;
      EXPECT_EQ(*size, q.col_int(1)) << when;
    }
    return held;
  };
  for (int64_t t = 0; t < 40; ++t) {
    auto d = idx.assign(*db_, issue_features("", reports[t % reports.size()]), (100 + t * 3) * day, "t", "s");
    ids.push_back(d.cluster_id);
    ASSERT_EQ(idx.size_of(d.cluster_id), d.size);
  }
  EXPECT_GE(check(idx, "after assigning"), 2);
  ClusterIndex reloaded({30 * day, 0.2});
  reloaded.load(*db_);
  EXPECT_GE(check(reloaded, "after a reload"), 2);
  // Far later: the old clusters are compacted away and must be read from the journal.
  for (int64_t t = 0; t < 3; ++t) idx.assign(*db_, issue_features("", "长安路路灯不亮"), (500 + t) * day, "t", "s");
  EXPECT_FALSE(idx.size_of(ids.front()).has_value());
  EXPECT_FALSE(idx.size_of("no-such-cluster").has_value());
  EXPECT_EQ(check(idx, "after a compaction"), 1);
}

TEST_F(ClusterIndexTest, ARestartChangesNoDecision) {
  constexpr int64_t day = 86'400'000;
  // A report naming two places opens a cluster found under either, before and after a
  // reload from the journal.
  auto both = issue_features("", "幸福小区和光明小区之间的工地夜间施工噪音扰民");
  ASSERT_GE(both.places.size(), 2u);
  auto second_place = issue_features("", both.places[1] + "工地夜间施工噪音扰民");
  ClusterIndex idx({30 * day, 0.2});
  idx.load(*db_);
  auto a = idx.assign(*db_, both, 100 * day, "t1", "s1");
  ClusterIndex reloaded({30 * day, 0.2});
  reloaded.load(*db_);
  EXPECT_EQ(idx.assign(*db_, second_place, 101 * day, "t2", "s2").cluster_id, a.cluster_id);
  EXPECT_EQ(reloaded.assign(*db_, second_place, 101 * day, "t2", "s2").cluster_id, a.cluster_id);

  // Once the newest report is a window past a cluster's latest, the cluster is closed
  // for every report, also a late one dated inside its own window: a start-up would not
  // load it either. Closed clusters leave memory.
  auto elsewhere = issue_features("", "人民路公交站台破损雨天没有遮挡");
  idx.assign(*db_, elsewhere, 200 * day, "t3", "s3");
  EXPECT_EQ(idx.open_clusters(), 1u);
  auto late = idx.assign(*db_, both, 102 * day, "t4", "s4");
  EXPECT_NE(late.cluster_id, a.cluster_id);
  ClusterIndex after({30 * day, 0.2});
  after.load(*db_);
  EXPECT_NE(after.assign(*db_, both, 102 * day, "t5", "s5").cluster_id, a.cluster_id);
}

}  // namespace minyi
