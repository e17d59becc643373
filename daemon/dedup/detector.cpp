// Duplicate decisions: LSH candidates in the window, verified on exact similarity of the
// matching text, and accepted only when the submitters can be the same person.
#include "dedup/detector.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "core/crypto.hpp"
#include "dedup/minhash.hpp"
#include "journal/sqlite.hpp"

namespace minyi {

namespace {

// Candidates verified per decision, newest first: bounds the writer's time per suggestion.
constexpr size_t kMaxCandidates = 16;
constexpr double kGoodEnough = 0.95;

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < s.size();) {
    size_t end = s.find(' ', pos);
    if (end == std::string::npos) end = s.size();
    if (end > pos) out.emplace_back(s, pos, end - pos);
    pos = end + 1;
  }
  return out;
}

// "same": both known and sharing one; "none": one side has no identity; "different".
std::string relation(const std::vector<std::string>& a, const std::vector<std::string>& b, std::string& via) {
  if (a.empty() || b.empty()) return "none";
  for (const auto& x : a)
    if (std::find(b.begin(), b.end(), x) != b.end()) {
      via = x.substr(0, x.find(':'));
      return "same";
    }
  return "different";
}

}  // namespace

std::string text_digest(std::string_view match_text) { return sha256_hex(match_text).substr(0, 32); }

namespace {
// Intake computes the digest on the network threads; records built elsewhere get it here.
std::string digest_of(const DedupInput& in) {
  if (in.match_text.empty()) return {};
  return in.text_hash.empty() ? text_digest(in.match_text) : in.text_hash;
}
}  // namespace

uint32_t identity_tag(const std::vector<std::string>& identities) {
  uint32_t tag = 0;
  for (const auto& id : identities) {
    uint32_t h = 2166136261u;
    for (unsigned char c : id) h = (h ^ c) * 16777619u;
    tag |= 1u << (h % 32);
  }
  return tag;
}

DuplicateDetector::DuplicateDetector(DedupOptions opts) : opts_(opts) {}
DuplicateDetector::~DuplicateDetector() = default;

void DuplicateDetector::prepare(sql::Db& db) {
  if (prepared_for_ == &db) return;
  fetch_ = std::make_unique<sql::Stmt>(db.get(),
                                       "SELECT suggestion_id, root_id, match_text, identities, places, root_cluster, "
                                       "text_hash, text_of FROM dedup_signatures WHERE suggestion_rowid = ?1");
  fetch_text_ =
      std::make_unique<sql::Stmt>(db.get(), "SELECT match_text FROM dedup_signatures WHERE suggestion_rowid = ?1");
  // Signatures from before schema version 4 do not name their suggestion.
  fetch_suggestion_ = std::make_unique<sql::Stmt>(
      db.get(),
      "SELECT id, CASE WHEN status='duplicate' AND duplicate_of IS NOT NULL THEN duplicate_of ELSE id END "
      "FROM suggestions WHERE rowid = ?1");
  // The band keys live in dedup_index only (dedup_signatures.bands is left empty).
  insert_ = std::make_unique<sql::Stmt>(db.get(),
                                        "INSERT INTO dedup_signatures(suggestion_rowid, event_minutes, bands, "
                                        "match_text, identities, places, suggestion_id, root_id, root_cluster, "
                                        "text_hash, text_of) VALUES(?1,?2,X'',?3,?4,?5,?6,?7,?8,?9,?10)");
  insert_index_ = std::make_unique<sql::Stmt>(
      db.get(), "INSERT INTO dedup_index(suggestion_rowid, event_minutes, bands, identity_tag) VALUES(?1,?2,?3,?4)");
  prepared_for_ = &db;
}

void DuplicateDetector::load(sql::Db& db) {
  prepare(db);
  index_ = LshIndex();
  corrected_.clear();
  sql::Stmt corrections(db.get(), "SELECT suggestion_id FROM dedup_actions WHERE action = 'remove_from_cluster'");
  while (corrections.step()) corrected_.insert(corrections.col_text(0));
  sql::Stmt newest(db.get(), "SELECT COALESCE(MAX(event_minutes), 0) FROM dedup_index");
  newest.step();
  watermark_ms_ = newest.col_int(0) * 60000;
  int64_t from = (watermark_ms_ - opts_.duplicate_window_ms) / 60000;
  sql::Stmt count(db.get(),
                  "SELECT COUNT(*), (SELECT COUNT(*) FROM dedup_index) FROM dedup_index WHERE event_minutes >= ?1");
  count.bind(1, from);
  count.step();
  const int64_t in_window = count.col_int(0), total = count.col_int(1);
  index_.reserve(static_cast<size_t>(in_window) + 1024);
  // Most rows in the window: one pass over the table beats a lookup per row through the
  // time index.
  const bool scan = in_window * 2 > total;
  sql::Stmt all(db.get(), scan ? "SELECT suggestion_rowid, event_minutes, bands, identity_tag FROM dedup_index"
                               : "SELECT suggestion_rowid, event_minutes, bands, identity_tag FROM dedup_index "
                                 "WHERE event_minutes >= ?1");
  if (!scan) all.bind(1, from);
  // Rows wait in a small ring while the slots they will go to are prefetched.
  struct Row {
    uint64_t id;
    int64_t minutes;
    LshIndex::Keys keys;
    uint32_t tag;
  };
  constexpr size_t kAhead = 16;
  std::array<Row, kAhead> ring{};
  size_t read = 0;
  auto insert = [&](const Row& r) { index_.insert(r.id, r.minutes * 60000, r.keys, r.tag); };
  while (all.step()) {
    std::string_view blob = all.col_view(2);
    const int64_t minutes = all.col_int(1);
    if (blob.size() != sizeof(LshIndex::Keys) || minutes < from) continue;
    Row& slot = ring[read % kAhead];
    if (read >= kAhead) insert(slot);
    slot.id = static_cast<uint64_t>(all.col_int(0));
    slot.minutes = minutes;
    std::memcpy(slot.keys.data(), blob.data(), sizeof slot.keys);
    slot.tag = static_cast<uint32_t>(all.col_int(3));
    index_.prefetch(slot.keys);
    ++read;
  }
  for (size_t i = read > kAhead ? read - kAhead : 0; i < read; ++i) insert(ring[i % kAhead]);
  stale_ = false;
  inserts_since_expiry_ = 0;
}

DedupDecision DuplicateDetector::decide(sql::Db& db, const DedupInput& in) {
  prepare(db);
  DedupDecision best;
  if (in.match_text.empty()) return best;
  // Submitters who certainly share no identity are left out by the index.
  auto cands =
      index_.candidates(in.bands, in.event_time_ms, opts_.duplicate_window_ms, kMaxCandidates, 256, in.identity_bits);
  if (cands.empty()) return best;
  const std::string digest = digest_of(in);
  std::vector<uint64_t> mine;  // the shingle set, sorted when first needed
  for (uint64_t rowid : cands) {
    fetch_->bind(1, static_cast<int64_t>(rowid));
    if (!fetch_->step()) {
      fetch_->reset();
      continue;
    }
    const bool named = !fetch_->col_null(0);
    std::string id = fetch_->col_text(0), root = fetch_->col_text(1);
    std::string identities = fetch_->col_text(3), places = fetch_->col_text(4);
    std::optional<std::string> root_cluster;
    if (!fetch_->col_null(5)) root_cluster = fetch_->col_text(5);
    // Since schema 6 a signature carries its text's digest, and one with the same text
    // as the signature it matched stores no copy of it (text_of names the row that does).
    const std::string theirs_digest = fetch_->col_null(6) ? std::string() : fetch_->col_text(6);
    const int64_t text_of = fetch_->col_null(7) ? 0 : fetch_->col_int(7);
    std::string text;
    if (theirs_digest.empty() || theirs_digest != digest) text = fetch_->col_text(2);
    fetch_->reset();
    if (!named) {
      fetch_suggestion_->bind(1, static_cast<int64_t>(rowid));
      bool found = fetch_suggestion_->step();
      if (found) id = fetch_suggestion_->col_text(0), root = fetch_suggestion_->col_text(1);
      fetch_suggestion_->reset();
      if (!found) continue;
    }
    // The same words about another place are another matter, not a duplicate.
    if (!in.places.empty() && !places.empty()) {
      auto theirs = split(places);
      bool shared = std::any_of(in.places.begin(), in.places.end(), [&](const std::string& p) {
        return std::find(theirs.begin(), theirs.end(), p) != theirs.end();
      });
      if (!shared) continue;
    }
    // Identity first: it is cheap, and the same words from another person are never a
    // duplicate (they may be the same issue: that is clustering's business).
    std::string via;
    std::string rel = relation(in.identities, split(identities), via);
    if (rel == "different") continue;
    const bool same_text = theirs_digest.empty() ? text == in.match_text : theirs_digest == digest;
    double sim = 1.0;  // the same matching text: the same shingle set
    if (!same_text) {
      if (text_of) {  // stored with the signature it was the same as
        fetch_text_->bind(1, text_of);
        text = fetch_text_->step() ? fetch_text_->col_text(0) : std::string();
        fetch_text_->reset();
      }
      if (mine.empty()) {
        mine = in.shingles;
        sort_unique(mine);
      }
      sim = jaccard(mine, shingle_hashes(text));
    }
    if (sim < opts_.duplicate_threshold || sim <= best.score) continue;
    best.duplicate = true;
    best.duplicate_of = root.empty() ? id : root;
    best.score = sim;
    best.text_of = same_text ? (text_of ? text_of : static_cast<int64_t>(rowid)) : 0;
    best.root_cluster = corrected_.count(best.duplicate_of) ? std::nullopt : root_cluster;
    char buf[256];
    std::snprintf(buf, sizeof buf, "text 3-gram Jaccard %.3f with %s; submitter: %s", sim, id.c_str(),
                  rel == "same" ? ("same " + via).c_str() : "no identity to compare");
    best.reason = buf;
    // Newest first: a near-identical match is as good as it gets (it links to the same
    // root as any older copy), so stop verifying.
    if (sim >= kGoodEnough) break;
  }
  return best;
}

void DuplicateDetector::record(sql::Db& db, int64_t suggestion_rowid, const DedupInput& in,
                               const std::string& suggestion_id, const std::string& root_id,
                               const std::string& root_cluster, int64_t text_of) {
  prepare(db);
  const std::string digest = digest_of(in);
  insert_->bind(1, suggestion_rowid)
      .bind(2, in.event_time_ms / 60000)
      .bind(4, join(in.identities))
      .bind(5, join(in.places))
      .bind(6, suggestion_id)
      .bind(7, root_id)
      .bind(8, root_cluster)
      .bind(9, digest);
  if (text_of)  // the same text as that signature: stored there only
    insert_->bind(3, std::string_view("", 0)).bind(10, text_of);
  else
    insert_->bind_static(3, in.match_text).bind_null(10);
  insert_->run();
  if (in.match_text.empty()) return;  // nothing to compare: never a candidate
  const uint32_t tag = in.identity_bits;
  insert_index_->bind(1, suggestion_rowid)
      .bind(2, in.event_time_ms / 60000)
      .bind_blob(3, std::string_view(reinterpret_cast<const char*>(in.bands.data()), sizeof in.bands))
      .bind(4, static_cast<int64_t>(tag))
      .run();
  index_.insert(static_cast<uint64_t>(suggestion_rowid), in.event_time_ms, in.bands, tag);
  watermark_ms_ = std::max(watermark_ms_, in.event_time_ms);
  if (++inserts_since_expiry_ >= 50'000) {
    index_.expire_before(watermark_ms_ - opts_.duplicate_window_ms - 60000);
    inserts_since_expiry_ = 0;
  }
}

}  // namespace minyi
