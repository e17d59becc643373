// Place keys, topic keywords and the cluster index.
#include "dedup/clusters.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "core/ids.hpp"
#include "core/json_writer.hpp"
#include "core/text.hpp"
#include "core/timefmt.hpp"
#include "dedup/minhash.hpp"
#include "journal/sqlite.hpp"
#include "text/normalize.hpp"

namespace minyi {

namespace {

// Place-type suffixes, longest first so 幼儿园 wins over 园.
const std::array<std::u32string_view, 31> kPlaceSuffixes = {
    U"幼儿园", U"卫生院", U"小区", U"花园", U"家园", U"公寓", U"大厦", U"广场", U"社区", U"街道", U"大道",
    U"学院",   U"大学",   U"中学", U"小学", U"学校", U"医院", U"公园", U"商场", U"市场", U"车站", U"新城",
    U"村",     U"镇",     U"乡",   U"路",   U"街",   U"巷",   U"苑",   U"园",   U"城"};

// Characters that make the two characters before a suffix a pronoun or a generic word
// ("我们小区", "该小区", "农村", "城市") rather than a name.
const std::u32string_view kNotNameChars =
    U"我们你他她这那该本此其所在各全每个的了是和与及到去从向对把被周边附近整一农进县省市区道马公出思入";

// What citizens report about, as whole words (longest first where one contains another).
const std::array<std::u32string_view, 98> kProblemTerms = {
    U"乱收费", U"房产证", U"不动产", U"广场舞", U"红绿灯", U"公积金", U"菜市场", U"网约车", U"出租车", U"变压器",
    U"高压线", U"自来水", U"噪音",   U"噪声",   U"油烟",   U"扰民",   U"污染",   U"异味",   U"臭味",   U"烧烤",
    U"夜宵",   U"施工",   U"工地",   U"渣土",   U"扬尘",   U"粉尘",   U"垃圾",   U"污水",   U"排污",   U"积水",
    U"内涝",   U"漏水",   U"停水",   U"停电",   U"断电",   U"供暖",   U"暖气",   U"燃气",   U"电梯",   U"物业",
    U"停车",   U"车位",   U"占道",   U"违停",   U"违建",   U"违章",   U"拆迁",   U"征收",   U"补偿",   U"安置",
    U"交房",   U"烂尾",   U"维修",   U"学位",   U"入学",   U"招生",   U"学区",   U"实习",   U"实训",   U"打工",
    U"收费",   U"学费",   U"欠薪",   U"工资",   U"拖欠",   U"社保",   U"医保",   U"养老",   U"低保",   U"公交",
    U"地铁",   U"路灯",   U"修路",   U"拥堵",   U"交通",   U"宠物",   U"养狗",   U"消防",   U"隐患",   U"食品",
    U"诈骗",   U"欺诈",   U"退款",   U"传销",   U"黑车",   U"户口",   U"落户",   U"贷款",   U"补贴",   U"购房",
    U"商铺",   U"门面",   U"餐馆",   U"绿化",   U"砍伐",   U"水质",   U"信号",   U"辐射"};

// Function characters: a two-character window holding one is rarely a word.
const std::u32string_view kFunctionChars =
    U"的了在是到和很都也就不着过把被给让向从对跟与及或而但又还再已才吗呢吧啊呀么这那些什其每各该此本您你我他她它们个有"
    U"为以于之将";
constexpr size_t kMaxKeywords = 30;

// Two-character words that say nothing about the topic.
const std::set<std::u32string> kStopWords = {
    U"我们", U"你们", U"他们", U"这个", U"那个", U"一个", U"没有", U"就是", U"因为", U"所以", U"但是", U"可以", U"已经",
    U"现在", U"问题", U"希望", U"领导", U"政府", U"部门", U"相关", U"有关", U"请求", U"反映", U"投诉", U"建议", U"处理",
    U"解决", U"什么", U"怎么", U"如何", U"是否", U"我是", U"业主", U"居民", U"市民", U"您好", U"你好", U"谢谢", U"时间",
    U"情况", U"关于", U"进行", U"要求", U"目前", U"一直", U"非常", U"的问", U"的是", U"了一", U"是一", U"不是", U"这样",
    U"还是", U"而且", U"如果", U"这些", U"那些", U"自己", U"的人", U"我的", U"们的", U"们小", U"有的", U"很多", U"之后",
    U"以后", U"以来", U"今年", U"去年", U"每天", U"尊敬", U"敬的", U"书记", U"局长", U"市长", U"年月", U"月日", U"西地",
    U"地省", U"一下", U"多次", U"能够", U"应该", U"需要", U"得到", U"到底", U"为什", U"么时", U"时候", U"请问", U"我家",
    // place-type words: the place itself is matched separately
    U"小区", U"学校", U"学院", U"社区", U"医院", U"街道", U"大学", U"中学", U"小学", U"花园", U"家园", U"广场"};

uint64_t pack(char32_t a, char32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

// The tables above, indexed for one pass over a text: four flag bits per character of the
// Basic Multilingual Plane (32 KB, one load per character: the larger per-character tables
// this replaced missed the cache under load), and the suffixes and problem terms by first
// character, looked up only for characters flagged kStarts.
struct Lexicon {
  enum : uint8_t { kNotName = 1, kFunction = 2, kStopFirst = 4, kStarts = 8 };
  std::vector<uint8_t> nibbles = std::vector<uint8_t>(0x10000 / 2, 0);
  struct Starting {
    std::vector<uint16_t> suffixes, problems;
  };
  std::vector<Starting> lists;
  // The characters flagged kStarts, by open addressing: (character, index into lists).
  static constexpr size_t kSlots = 1024;
  std::array<std::pair<char32_t, uint16_t>, kSlots> slots{};
  std::unordered_set<uint64_t> stop_words;
  static size_t slot_of(char32_t c) { return (c * 0x9E3779B1u) >> 22; }  // 10 bits
  Starting& starting(char32_t c) {
    for (size_t h = slot_of(c);; h = (h + 1) % kSlots) {
      if (slots[h].first == c) return lists[slots[h].second];
      if (!slots[h].first) {
        slots[h] = {c, static_cast<uint16_t>(lists.size())};
        set(c, kStarts);
        return lists.emplace_back();
      }
    }
  }
  const Starting& starting_with(char32_t c) const {  // c is flagged kStarts
    size_t h = slot_of(c);
    while (slots[h].first != c) h = (h + 1) % kSlots;
    return lists[slots[h].second];
  }
  void set(char32_t c, uint8_t flag) {
    if (c < 0x10000) nibbles[c >> 1] |= static_cast<uint8_t>(flag << ((c & 1) * 4));
  }
  Lexicon() {
    lists.reserve(kPlaceSuffixes.size() + kProblemTerms.size());
    for (uint16_t i = 0; i < kPlaceSuffixes.size(); ++i) starting(kPlaceSuffixes[i][0]).suffixes.push_back(i);
    for (uint16_t i = 0; i < kProblemTerms.size(); ++i) starting(kProblemTerms[i][0]).problems.push_back(i);
    for (char32_t c : kNotNameChars) set(c, kNotName);
    for (char32_t c : kFunctionChars) set(c, kFunction);
    for (const auto& w : kStopWords) {
      stop_words.insert(pack(w[0], w[1]));
      set(w[0], kStopFirst);
    }
  }
  uint8_t operator[](char32_t c) const { return c < 0x10000 ? (nibbles[c >> 1] >> ((c & 1) * 4)) & 0xF : 0; }
};
const Lexicon& lexicon() {
  static const Lexicon lex;
  return lex;
}

bool is_han(char32_t c) { return (c >= 0x3400 && c <= 0x9FFF) || (c >= 0x20000 && c <= 0x2FFFF); }

}  // namespace

std::vector<std::string> load_gazetteer(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read gazetteer file '" + path + "'");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::string name = normalize_for_matching(line);
    if (utf8_to_u32(name).size() >= 2) names.push_back(name);
  }
  return names;
}

IssueFeatures issue_features(std::string_view title, std::string_view content,
                             const std::vector<std::string>& gazetteer, std::string* content_match_text,
                             TopicText* topic) {
  MatchTextOptions opts;
  opts.keep_separators = true;
  // Title and content are normalized apart (content once: its matching form is the same
  // pass without the separators).
  std::u32string text;
  append_normalized_for_matching(title, opts, text);
  const size_t title_len = text.size();
  text += U' ';
  const size_t content_at = text.size();
  append_normalized_for_matching(content, opts, text);
  if (content_match_text) {
    content_match_text->clear();
    content_match_text->reserve((text.size() - content_at) * 3);
    for (size_t i = content_at; i < text.size(); ++i)
      if (text[i] != U' ') append_utf8(*content_match_text, text[i]);
  }
  IssueFeatures f;
  std::vector<uint8_t> in_place(text.size(), 0);
  auto add_place = [&](std::u32string_view key) {
    std::string k = u32_to_utf8(key);
    if (std::find(f.places.begin(), f.places.end(), k) == f.places.end()) f.places.push_back(std::move(k));
  };
  for (const auto& name : gazetteer) {
    std::u32string n = utf8_to_u32(name);
    for (size_t pos = text.find(n); pos != std::u32string::npos; pos = text.find(n, pos + 1)) {
      add_place(n);
      std::fill(in_place.begin() + static_cast<long>(pos), in_place.begin() + static_cast<long>(pos + n.size()), 1);
    }
  }
  // One pass finds every place suffix and problem term by its first character.
  const Lexicon& lex = lexicon();
  std::vector<std::pair<uint16_t, size_t>> suffix_hits;  // (suffix index, position)
  std::array<int, kProblemTerms.size()> problem_counts{};
  for (size_t i = 0; i < text.size(); ++i) {
    if (!(lex[text[i]] & Lexicon::kStarts)) continue;
    const Lexicon::Starting& here = lex.starting_with(text[i]);
    for (uint16_t idx : here.suffixes)
      if (text.compare(i, kPlaceSuffixes[idx].size(), kPlaceSuffixes[idx]) == 0) suffix_hits.emplace_back(idx, i);
    for (uint16_t idx : here.problems)
      if (text.compare(i, kProblemTerms[idx].size(), kProblemTerms[idx]) == 0) ++problem_counts[idx];
  }
  // Longest suffix first (the table's order), so "之城小区" is listed before "力之城".
  std::sort(suffix_hits.begin(), suffix_hits.end());
  for (auto [idx, pos] : suffix_hits) {
    auto suffix = kPlaceSuffixes[idx];
    if (pos < 2 || !is_han(text[pos - 1]) || !is_han(text[pos - 2])) continue;
    if ((lex[text[pos - 1]] | lex[text[pos - 2]]) & Lexicon::kNotName) continue;
    add_place(std::u32string_view(text).substr(pos - 2, 2 + suffix.size()));
    std::fill(in_place.begin() + static_cast<long>(pos - 2), in_place.begin() + static_cast<long>(pos + suffix.size()),
              1);
  }
  std::vector<std::pair<int, size_t>> problems;
  for (size_t idx = 0; idx < kProblemTerms.size(); ++idx)
    if (problem_counts[idx]) problems.emplace_back(problem_counts[idx], idx);
  std::stable_sort(problems.begin(), problems.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [n, idx] : problems) f.problems.push_back(u32_to_utf8(kProblemTerms[idx]));
  TopicText local;
  TopicText& t = topic ? *topic : local;
  t.text = std::move(text);
  t.title_len = title_len;
  t.in_place = std::move(in_place);
  if (!topic) f.keywords = topic_keywords(t);
  return f;
}

std::vector<std::string> topic_keywords(const TopicText& topic) {
  const std::u32string& text = topic.text;
  const size_t title_len = topic.title_len;
  const std::vector<uint8_t>& in_place = topic.in_place;
  const Lexicon& lex = lexicon();
  std::vector<std::string> keywords;
  // Topic: two-character words outside places, without function characters; the title
  // counts twice. Ranked by count, then by first appearance. Counted in a small
  // open-addressing table (no allocation per word, no sort of every occurrence).
  struct Ranked {
    uint64_t word;
    int count;
    uint32_t first;
  };
  // Scratch kept per thread: fresh buffers of a few KB per report cost more in the
  // allocator (which consolidates its free lists for every request that size) than the
  // counting itself.
  thread_local std::vector<Ranked> ranked;
  thread_local std::vector<uint32_t> slots;
  ranked.clear();
  ranked.reserve(text.size());
  size_t cap = 64;
  while (cap < text.size() * 2) cap *= 2;
  slots.assign(cap, 0);  // 1 + index into ranked; 0: empty
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (!is_han(text[i]) || !is_han(text[i + 1]) || in_place[i] || in_place[i + 1]) continue;
    const uint8_t a = lex[text[i]], b = lex[text[i + 1]];
    if ((a | b) & Lexicon::kFunction) continue;
    uint64_t w = pack(text[i], text[i + 1]);
    if ((a & Lexicon::kStopFirst) && lex.stop_words.count(w)) continue;
    const int weight = i < title_len ? 2 : 1;
    for (size_t h = (w * 0x9E3779B97F4A7C15ULL) >> 40;; ++h) {
      uint32_t& slot = slots[h & (cap - 1)];
      if (!slot) {
        ranked.push_back(Ranked{w, weight, static_cast<uint32_t>(i)});
        slot = static_cast<uint32_t>(ranked.size());
        break;
      }
      if (ranked[slot - 1].word == w) {
        ranked[slot - 1].count += weight;
        break;
      }
    }
  }
  auto before = [](const Ranked& a, const Ranked& b) {
    return a.count != b.count ? a.count > b.count : a.first < b.first;
  };
  const size_t keep = std::min(ranked.size(), kMaxKeywords);
  if (ranked.size() > keep)
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<long>(keep), ranked.end(), before);
  std::sort(ranked.begin(), ranked.begin() + static_cast<long>(keep), before);
  keywords.reserve(keep);
  for (size_t i = 0; i < keep; ++i) {
    char32_t w[2] = {static_cast<char32_t>(ranked[i].word >> 32), static_cast<char32_t>(ranked[i].word & 0xFFFFFFFF)};
    keywords.push_back(u32_to_utf8(std::u32string_view(w, 2)));
  }
  if (ranked.capacity() > 65536) {  // a very long report: don't keep its buffers
    ranked = {};
    slots = {};
  }
  return keywords;
}

namespace {
constexpr size_t kKeepKeywords = 80;  // a cluster's vocabulary: enough to match, bounded to keep it cheap
constexpr size_t kCompareWords = 40;
constexpr size_t kCompareProblems = 5;

using Counts = std::vector<std::pair<std::string, int>>;

bool word_before(const std::pair<std::string, int>& e, const std::string& w) { return e.first < w; }

void add(Counts& counts, const std::string& word, int n) {
  auto it = std::lower_bound(counts.begin(), counts.end(), word, word_before);
  if (it != counts.end() && it->first == word)
    it->second += n;
  else
    counts.emplace(it, word, n);
}

// Adds a report's ranked words, the first weighing most (words.size() - i): known words
// are counted in place, new ones sorted and merged in once (not inserted one by one).
void add_ranked(Counts& counts, const std::vector<std::string>& words) {
  const auto old = static_cast<long>(counts.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const int n = static_cast<int>(words.size() - i);
    auto end = counts.begin() + old;
    auto it = std::lower_bound(counts.begin(), end, words[i], word_before);
    if (it != end && it->first == words[i])
      it->second += n;
    else
      counts.emplace_back(words[i], n);
  }
  if (static_cast<long>(counts.size()) == old) return;
  std::sort(counts.begin() + old, counts.end());
  // A word listed twice by the caller is counted once with both weights.
  auto out = counts.begin() + old;
  for (auto it = out + 1; it < counts.end(); ++it) {
    if (it->first == out->first)
      out->second += it->second;
    else if (++out != it)
      *out = std::move(*it);
  }
  counts.erase(out + 1, counts.end());
  std::inplace_merge(counts.begin(), counts.begin() + old, counts.end());
}

// Keeps the `keep` highest counts (ties as nth_element leaves them, from string order).
// The selection runs over (count, position) pairs: the same comparisons, so the same
// choice, as over the words themselves, without moving strings.
void prune(Counts& counts, size_t keep) {
  if (counts.size() <= keep) return;
  std::vector<std::pair<int, uint32_t>> v;
  v.reserve(counts.size());
  for (uint32_t i = 0; i < counts.size(); ++i) v.emplace_back(counts[i].second, i);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(keep), v.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  v.resize(keep);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second < b.second; });  // string order
  Counts kept;
  kept.reserve(keep);
  for (const auto& [n, i] : v) kept.emplace_back(std::move(counts[i].first), n);
  counts.swap(kept);
}

// Positions of the `n` highest counts, highest first, equal counts in string order.
std::vector<uint32_t> top_positions(const Counts& counts, size_t n) {
  std::vector<uint32_t> order(counts.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto k = static_cast<long>(std::min(n, order.size()));
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](uint32_t a, uint32_t b) {
    return counts[a].second != counts[b].second ? counts[a].second > counts[b].second : a < b;
  });
  order.resize(static_cast<size_t>(k));
  return order;
}

// A word as a number, for comparisons: the UTF-8 bytes themselves when they fit (keywords
// are two characters, six bytes), a hash with the top bit set otherwise.
uint64_t word_id(const std::string& w) {
  uint64_t id = 0;
  if (w.size() <= 7) {
    std::memcpy(&id, w.data(), w.size());
    return id;
  }
  id = 0xCBF29CE484222325ULL;
  for (unsigned char c : w) id = (id ^ c) * 0x100000001B3ULL;
  return id | (1ULL << 63);
}

std::vector<uint64_t> top_ids(const Counts& counts, size_t n) {
  std::vector<uint64_t> ids;
  for (uint32_t i : top_positions(counts, n)) ids.push_back(word_id(counts[i].first));
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<uint64_t> sorted_ids(const std::vector<std::string>& words) {
  std::vector<uint64_t> ids;
  ids.reserve(words.size());
  for (const auto& w : words) ids.push_back(word_id(w));
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

void ClusterIndex::Cluster::refresh() {
  prune(keywords, kKeepKeywords);
  top_words = top_ids(keywords, kCompareWords);
  top_problems = top_ids(problems, kCompareProblems);
}

ClusterIndex::ClusterIndex(ClusterOptions opts) : opts_(opts) {}
ClusterIndex::~ClusterIndex() = default;

void ClusterIndex::prepare(sql::Db& db) {
  if (prepared_for_ == &db) return;
  upsert_ = std::make_unique<sql::Stmt>(
      db.get(),
      "INSERT INTO clusters(id, place, title, size, first_seen_ms, last_seen_ms, keywords) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7) "
      "ON CONFLICT(id) DO UPDATE SET size=excluded.size, first_seen_ms=excluded.first_seen_ms, "
      "last_seen_ms=excluded.last_seen_ms, keywords=excluded.keywords");
  prepared_for_ = &db;
}

void ClusterIndex::load(sql::Db& db) {
  prepare(db);
  clusters_.clear();
  by_place_.clear();
  by_id_.clear();
  sql::Stmt newest(db.get(), "SELECT COALESCE(MAX(last_seen_ms), 0) FROM clusters");
  newest.step();
  newest_ms_ = compacted_at_ms_ = newest.col_int(0);
  int64_t from = newest_ms_ - opts_.window_ms;
  sql::Stmt open(db.get(),
                 "SELECT id, place, title, size, first_seen_ms, last_seen_ms, keywords FROM clusters "
                 "WHERE last_seen_ms >= ?1 ORDER BY rowid");  // creation order, as the index keeps them
  open.bind(1, from);
  while (open.step()) {
    Cluster c{open.col_text(0),
              open.col_text(1),
              open.col_text(2),
              open.col_int(3),
              open.col_int(4),
              open.col_int(5),
              {},
              {}};
    std::string kws = open.col_text(6);
    for (size_t pos = 0; pos < kws.size();) {
      size_t end = kws.find(' ', pos);
      std::string item = kws.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      if (item.size() > 1 && item[0] == '@') {
        c.places.push_back(item.substr(1));
      } else if (auto colon = item.rfind(':'); colon != std::string::npos) {
        if (item[0] == '!')
          add(c.problems, item.substr(1, colon - 1), std::atoi(item.c_str() + colon + 1));
        else
          add(c.keywords, item.substr(0, colon), std::atoi(item.c_str() + colon + 1));
      }
      if (end == std::string::npos) break;
      pos = end + 1;
    }
    c.refresh();
    if (c.places.empty()) c.places.push_back(c.place);  // written before the places were kept
    for (const auto& place : c.places) by_place_[place].push_back(clusters_.size());
    by_id_[c.id] = clusters_.size();
    clusters_.push_back(std::move(c));
  }
  stale_ = false;
}

std::optional<int64_t> ClusterIndex::size_of(const std::string& cluster_id) const {
  auto it = by_id_.find(cluster_id);
  if (it == by_id_.end()) return std::nullopt;
  return clusters_[it->second].size;
}

std::vector<std::string> ClusterIndex::top(const Counts& counts, size_t n) {
  // Highest count first; equal counts in string order.
  std::vector<std::string> out;
  for (uint32_t i : top_positions(counts, n)) out.push_back(counts[i].first);
  return out;
}

std::string ClusterIndex::to_json(const Cluster& c, const std::string& latest) const {
  std::string out;
  JsonWriter w(out, 256);
  w.begin_object();
  w.field("id", c.id);
  w.key("size");
  w.integer(c.size);
  w.field("place", c.place);
  w.field("title", c.title);
  w.field("first_seen", format_rfc3339_local(c.first_ms));
  w.field("last_seen", format_rfc3339_local(c.last_ms));
  w.key("keywords");
  w.begin_array();
  for (const auto& k : top(c.keywords, 8)) w.string(k);
  w.end_array();
  w.key("problems");
  w.begin_array();
  for (const auto& k : top(c.problems, 5)) w.string(k);
  w.end_array();
  w.field("latest_suggestion", latest);
  w.end_object();
  return out;
}

void ClusterIndex::compact() {
  // Drops closed clusters from memory (their rows stay in the journal): the index holds
  // what a start-up now would load.
  const int64_t from = newest_ms_ - opts_.window_ms;
  std::vector<Cluster> open;
  for (auto& c : clusters_)
    if (c.last_ms >= from) open.push_back(std::move(c));
  clusters_ = std::move(open);
  by_place_.clear();
  by_id_.clear();
  for (size_t i = 0; i < clusters_.size(); ++i) {
    for (const auto& place : clusters_[i].places) by_place_[place].push_back(i);
    by_id_[clusters_[i].id] = i;
  }
  compacted_at_ms_ = newest_ms_;
}

ClusterDecision ClusterIndex::assign(sql::Db& db, const IssueFeatures& f, int64_t t, const std::string& title,
                                     const std::string& suggestion_id) {
  prepare(db);
  ClusterDecision d;
  if (f.places.empty()) return d;
  // Best open cluster at any of the places, by keyword overlap.
  const std::vector<uint64_t> words = sorted_ids(f.keywords);
  std::vector<uint64_t> main_problems;  // the report's three main problems
  for (size_t i = 0; i < f.problems.size() && i < 3; ++i) main_problems.push_back(word_id(f.problems[i]));
  std::sort(main_problems.begin(), main_problems.end());
  size_t best = SIZE_MAX;
  double best_score = 0;
  std::vector<size_t> seen;  // a cluster listed under several of the places is scored once
  for (const auto& place : f.places) {
    auto it = by_place_.find(place);
    if (it == by_place_.end()) continue;
    for (size_t idx : it->second) {
      if (std::find(seen.begin(), seen.end(), idx) != seen.end()) continue;
      seen.push_back(idx);
      const Cluster& c = clusters_[idx];
      if (t > c.last_ms + opts_.window_ms || t < c.first_ms - opts_.window_ms) continue;  // closed
      if (c.last_ms < newest_ms_ - opts_.window_ms) continue;  // closed for everyone (not loaded at start-up)
      size_t common = common_count(words, c.top_words);
      size_t denom = std::min(words.size(), c.top_words.size());
      double score = denom ? static_cast<double>(common) / static_cast<double>(denom) : 0;
      // A shared main problem at the same place is the same issue, however it is worded.
      if (common_count(main_problems, c.top_problems) > 0) score = std::max(score, opts_.topic_threshold + 0.5);
      if (score >= opts_.topic_threshold && score > best_score) {
        best = idx;
        best_score = score;
      }
    }
  }
  if (best == SIZE_MAX) {
    Cluster c;
    c.id = new_uuid_v7();
    c.place = f.places.front();
    c.places = f.places;
    c.title = title;
    c.first_ms = c.last_ms = t;
    for (const auto& place : f.places) by_place_[place].push_back(clusters_.size());
    by_id_[c.id] = clusters_.size();
    clusters_.push_back(std::move(c));
    best = clusters_.size() - 1;
  } else {
    d.joined = true;
  }
  Cluster& c = clusters_[best];
  c.size += 1;
  c.first_ms = std::min(c.first_ms, t);
  c.last_ms = std::max(c.last_ms, t);
  add_ranked(c.keywords, f.keywords);
  add_ranked(c.problems, f.problems);
  c.refresh();
  newest_ms_ = std::max(newest_ms_, c.last_ms);
  std::string kws;
  kws.reserve(12 * (c.keywords.size() + c.problems.size()));
  auto put = [&kws](const char* mark, const std::string& k, int n) {
    if (!kws.empty()) kws += ' ';
    kws += mark;
    kws += k;
    kws += ':';
    kws += std::to_string(n);
  };
  for (const auto& [k, n] : c.keywords) put("", k, n);
  for (const auto& [k, n] : c.problems) put("!", k, n);
  for (const auto& place : c.places) {  // "@place": where the cluster is found again after a restart
    kws += kws.empty() ? "@" : " @";
    kws += place;
  }
  upsert_->bind(1, c.id)
      .bind(2, c.place)
      .bind(3, c.title)
      .bind(4, c.size)
      .bind(5, c.first_ms)
      .bind(6, c.last_ms)
      .bind(7, kws)
      .run();
  d.cluster_id = c.id;
  d.size = c.size;
  if (d.joined) d.json = to_json(c, suggestion_id);  // for the cluster.updated event
  if (newest_ms_ - compacted_at_ms_ > opts_.window_ms / 4) compact();
  return d;
}

}  // namespace minyi
