// Same-issue clusters ("related"): reports from different people about the same problem
// at the same place. A report joins an open cluster when a place key matches and the
// topic keywords overlap; a cluster stays open while reports keep arriving within the
// cluster window of its latest one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace minyi {

namespace sql {
class Db;
class Stmt;
}  // namespace sql

// What a report is about, from its title and content.
struct IssueFeatures {
  // Place keys, most specific first: the place-type suffix (小区, 学院, 路, 村 …) with the two
  // characters before it ("之城小区", "经济学院"), or a gazetteer name found in the text.
  std::vector<std::string> places;
  // Topic keywords (up to 30): two-character words outside place names, without
  // function characters or stop words, most frequent first.
  std::vector<std::string> keywords;
  // Problem terms from a built-in lexicon of what citizens report (油烟, 噪音, 停车, 实习 …),
  // most frequent first: a shared one at the same place is enough to be the same issue.
  std::vector<std::string> problems;
};

// What a report's topic keywords are picked from: its title and content normalized for
// matching (separators kept), and which of those characters belong to place names.
struct TopicText {
  std::u32string text;  // title, ' ', content
  size_t title_len = 0;
  std::vector<uint8_t> in_place;  // 1 where a place name was matched
};

// With content_match_text, also returns normalize_for_matching(content) (computed in the
// same pass). With topic, the keywords are left empty and what they are picked from is
// returned instead (topic_keywords): a report that turns out to be a duplicate joins its
// original's cluster and never needs them, so intake leaves picking them to the journal
// writer, which does it only for reports it assigns to a cluster.
IssueFeatures issue_features(std::string_view title, std::string_view content,
                             const std::vector<std::string>& gazetteer = {}, std::string* content_match_text = nullptr,
                             TopicText* topic = nullptr);

// The topic keywords of IssueFeatures, from what issue_features returned in topic.
std::vector<std::string> topic_keywords(const TopicText& topic);

// Reads a gazetteer file: one local place name per line, '#' comments. Throws on error.
std::vector<std::string> load_gazetteer(const std::string& path);

struct ClusterOptions {
  int64_t window_ms = 90LL * 86'400'000;
  double topic_threshold = 0.2;  // keyword overlap: |A∩B| / min(|A|,|B|)
};

struct ClusterDecision {
  std::string cluster_id;  // empty: no place, no cluster
  int64_t size = 0;
  bool joined = false;  // joined an existing cluster (vs. opened a new one)
  std::string json;     // the cluster as a JSON object (for cluster.updated events)
};

// Owned by the journal writer thread; decisions are written in the caller's transaction.
class ClusterIndex {
 public:
  explicit ClusterIndex(ClusterOptions opts);
  ~ClusterIndex();
  void load(sql::Db& db);
  ClusterDecision assign(sql::Db& db, const IssueFeatures& f, int64_t event_time_ms, const std::string& title,
                         const std::string& suggestion_id);
  void invalidate() { stale_ = true; }
  bool stale() const { return stale_; }
  size_t open_clusters() const { return clusters_.size(); }
  // The size of a cluster held in memory (open, or closed since the last compaction), as
  // the journal has it; nullopt for others (read the journal).
  std::optional<int64_t> size_of(const std::string& cluster_id) const;

 private:
  // Word counts in string order (what a std::map would hold, without a node per word).
  using Counts = std::vector<std::pair<std::string, int>>;
  struct Cluster {
    std::string id, place, title;
    int64_t size = 0, first_ms = 0, last_ms = 0;
    Counts keywords;  // pruned to the strongest kKeepKeywords
    Counts problems;
    // Cached, as sorted word ids: what reports are compared with.
    std::vector<uint64_t> top_words = {}, top_problems = {};
    std::vector<std::string> places = {};  // every place key of its first report (place is the first)
    void refresh();
  };
  static std::vector<std::string> top(const Counts& counts, size_t n);
  std::string to_json(const Cluster& c, const std::string& latest) const;
  void prepare(sql::Db& db);

  ClusterOptions opts_;
  std::vector<Cluster> clusters_;
  std::unordered_map<std::string, std::vector<size_t>> by_place_;
  std::unordered_map<std::string, size_t> by_id_;  // index into clusters_
  // Newest event time of any cluster: clusters whose latest report is more than a window
  // older are closed, as a restart (which loads only the others) would have them.
  int64_t newest_ms_ = 0, compacted_at_ms_ = 0;
  void compact();
  bool stale_ = true;
  sql::Db* prepared_for_ = nullptr;
  std::unique_ptr<sql::Stmt> upsert_;
};

}  // namespace minyi
