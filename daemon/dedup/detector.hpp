// Duplicate detection inside the journal transaction: "the same person sent the same thing
// again, on any channel" (architecture.md, Dedup semantics). The journal writer asks for a
// decision before it writes a suggestion and records the signature after, in the same
// transaction, so a decision is never lost or made twice.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "dedup/clusters.hpp"
#include "dedup/lsh_index.hpp"

namespace minyi {

namespace sql {
class Db;
class Stmt;
}  // namespace sql

// What intake computes for each suggestion (off the writer thread).
struct DedupInput {
  std::string match_text;               // normalize_for_matching(content)
  std::vector<uint64_t> shingles;       // shingle_hashes_unsorted(match_text)
  LshIndex::Keys bands{};               // LSH band keys of its MinHash
  std::vector<std::string> identities;  // "phone:hmac-sha256:…", "id:…", "email:…", "openid:…"
  uint32_t identity_bits = 0;           // identity_tag(identities)
  int64_t event_time_ms = 0;            // submitted_at when present (never after receipt), else received_at
  std::vector<std::string> places;      // place keys (clusters.hpp)
  TopicText topic;                      // what the topic keywords are picked from (clusters.hpp), by the
                                        // journal writer, only if the report is assigned a cluster
  std::vector<std::string> problems;    // problem terms (clusters.hpp)
  std::string title;                    // title, or the start of the content
  std::string text_hash;                // text_digest(match_text); computed by the detector when empty
};

// What identifies a matching text: the first 128 bits of its SHA-256, in hex. Two
// signatures with the same digest have the same text (similarity 1.0 without comparing).
std::string text_digest(std::string_view match_text);

// One bit per identity (FNV-1a of its text, mod 32): two submitters whose tags share no bit
// share no identity, so the index can leave them out without a journal read.
uint32_t identity_tag(const std::vector<std::string>& identities);

struct DedupOptions {
  bool enabled = true;
  int64_t duplicate_window_ms = 30LL * 86'400'000;
  double duplicate_threshold = 0.8;  // exact 3-gram Jaccard similarity
  int64_t cluster_window_ms = 90LL * 86'400'000;
  double cluster_topic_threshold = 0.2;
  std::vector<std::string> gazetteer;  // local place names (normalized)
};

struct DedupDecision {
  bool duplicate = false;
  std::string duplicate_of;  // suggestion id of the original (the root of a chain)
  double score = 0;          // similarity to it
  std::string reason;
  // The original's cluster ("" for none) when the matched signature names it and no
  // correction has touched the original since; otherwise the caller looks it up.
  std::optional<std::string> root_cluster;
  // The match had the same matching text: the signature row that stores that text (the
  // new signature refers to it instead of storing a copy). 0 otherwise.
  int64_t text_of = 0;
};

// Algorithm tag stored with each decision; bump when results could change.
inline constexpr const char* kDedupAlgorithm = "minhash64-lsh16x4-3gram-jaccard/v1";

class DuplicateDetector {
 public:
  explicit DuplicateDetector(DedupOptions opts);
  ~DuplicateDetector();

  const DedupOptions& options() const { return opts_; }
  // Loads the signatures inside the window (relative to the newest event time stored).
  void load(sql::Db& db);
  // Within the writer's transaction, before the suggestion row is written.
  DedupDecision decide(sql::Db& db, const DedupInput& in);
  // Within the same transaction, after the suggestion row is written; `root_id` is the
  // suggestion itself, or the original it was linked to as a duplicate; `root_cluster` is
  // that root's cluster ("" for none); `text_of` is DedupDecision::text_of.
  void record(sql::Db& db, int64_t suggestion_rowid, const DedupInput& in, const std::string& suggestion_id,
              const std::string& root_id, const std::string& root_cluster, int64_t text_of);
  // An admin correction changed `suggestion_id`'s cluster: from now on a duplicate of it
  // looks the cluster up in the journal instead of trusting the signatures. load() reads
  // these back from the journal's correction log.
  void corrected(const std::string& suggestion_id) { corrected_.insert(suggestion_id); }
  // Asks the CPU for the index memory a later decide()/record() of `in` will touch:
  // first (`chains` false) the table slots, then (true) the chains they start. The
  // journal writer calls it for the next items of a batch while it works on this one.
  void warm(const DedupInput& in, bool chains) const {
    if (in.match_text.empty()) return;
    if (chains)
      index_.prefetch_chains(in.bands);
    else
      index_.prefetch(in.bands);
  }
  // A transaction failed: the in-memory index may hold entries that were rolled back.
  void invalidate() { stale_ = true; }
  bool stale() const { return stale_; }
  size_t size() const { return index_.size(); }

 private:
  void prepare(sql::Db& db);

  DedupOptions opts_;
  LshIndex index_;
  int64_t watermark_ms_ = 0;  // newest event time seen; windows are measured from it
  size_t inserts_since_expiry_ = 0;
  bool stale_ = true;
  sql::Db* prepared_for_ = nullptr;
  std::unique_ptr<sql::Stmt> fetch_, fetch_text_, fetch_suggestion_, insert_, insert_index_;
  std::unordered_set<std::string> corrected_;  // suggestions moved out of a cluster by an admin
};

}  // namespace minyi
