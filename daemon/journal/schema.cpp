// The journal's schema, as the ordered migrations that build and upgrade it.
#include "journal/schema.hpp"

#include <iterator>

namespace minyi {

namespace {

// Ordered migrations: index i upgrades a journal from version i to i+1. Never edit a
// released entry; append a new one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE suggestions (
  rowid         INTEGER PRIMARY KEY,
  id            TEXT NOT NULL UNIQUE,
  channel       TEXT NOT NULL,
  instance      TEXT NOT NULL,
  external_id   TEXT,
  received_at   TEXT NOT NULL,
  submitted_at  TEXT,
  raw_id        INTEGER NOT NULL,
  raw_sha256    TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'new',
  duplicate_of  TEXT,
  cluster_id    TEXT,
  doc           TEXT NOT NULL
);
CREATE TABLE raw_payloads (
  id            INTEGER PRIMARY KEY,
  sha256        TEXT NOT NULL,
  content_type  TEXT NOT NULL,
  bytes         BLOB NOT NULL,
  received_at   TEXT NOT NULL
);
CREATE TABLE attachments (
  id            INTEGER PRIMARY KEY,
  sha256        TEXT NOT NULL,
  content_type  TEXT NOT NULL,
  bytes         BLOB NOT NULL
);
CREATE INDEX attachments_sha256 ON attachments(sha256);
CREATE TABLE source_keys (
  instance      TEXT NOT NULL,
  external_id   TEXT NOT NULL,
  suggestion_id TEXT NOT NULL,
  PRIMARY KEY (instance, external_id)
) WITHOUT ROWID;
CREATE TABLE events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT NOT NULL UNIQUE,
  type          TEXT NOT NULL,
  subject       TEXT NOT NULL,
  time          TEXT NOT NULL,
  data          TEXT            -- NULL: the data is the subject suggestion's (immutable) doc
);
CREATE TABLE sink_cursors (
  sink             TEXT PRIMARY KEY,
  seq              INTEGER NOT NULL DEFAULT 0,
  attempts         INTEGER NOT NULL DEFAULT 0,
  first_failure_ms INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms  INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE dead_letters (
  id               INTEGER PRIMARY KEY,
  sink             TEXT NOT NULL,
  event_seq        INTEGER NOT NULL,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  reason           TEXT NOT NULL,
  attempts         INTEGER NOT NULL,
  first_failure_ms INTEGER NOT NULL,
  dead_at_ms       INTEGER NOT NULL,
  UNIQUE (sink, event_seq)
);
CREATE TABLE checkpoints (
  instance      TEXT NOT NULL,
  key           TEXT NOT NULL,
  value         BLOB NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (instance, key)
) WITHOUT ROWID;
CREATE TABLE quarantine (
  id            INTEGER PRIMARY KEY,
  received_at_ms INTEGER NOT NULL,
  instance      TEXT NOT NULL,
  reason        TEXT NOT NULL,
  content_type  TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  bytes         BLOB NOT NULL
);
)sql",
    // 2: duplicate detection — decision details and stored signatures.
    R"sql(
ALTER TABLE suggestions ADD COLUMN dedup_score REAL;
ALTER TABLE suggestions ADD COLUMN dedup_reason TEXT;
CREATE INDEX suggestions_duplicate_of ON suggestions(duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE TABLE dedup_signatures (
  suggestion_rowid INTEGER PRIMARY KEY,
  event_minutes    INTEGER NOT NULL,
  bands            BLOB NOT NULL,
  match_text       TEXT NOT NULL,
  identities       TEXT NOT NULL,
  places           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dedup_signatures_time ON dedup_signatures(event_minutes);
CREATE TABLE clusters (
  id            TEXT PRIMARY KEY,
  place         TEXT NOT NULL,
  title         TEXT NOT NULL,
  size          INTEGER NOT NULL,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  keywords      TEXT NOT NULL
);
CREATE INDEX clusters_last_seen ON clusters(last_seen_ms);
CREATE INDEX suggestions_cluster ON suggestions(cluster_id) WHERE cluster_id IS NOT NULL;
CREATE TABLE dedup_actions (
  id            INTEGER PRIMARY KEY,
  suggestion_id TEXT NOT NULL,
  action        TEXT NOT NULL,
  previous      TEXT NOT NULL,
  actor         TEXT NOT NULL,
  reason        TEXT NOT NULL,
  at_ms         INTEGER NOT NULL
);
)sql",
    // 3: no query reads these two indexes, and their keys (the original's id, the
    // cluster's id) land on random pages: every duplicate and every cluster member
    // rewrote a page of each in the commit that stored it.
    R"sql(
DROP INDEX IF EXISTS suggestions_duplicate_of;
DROP INDEX IF EXISTS suggestions_cluster;
)sql",
    // 4: a signature names its suggestion and the root it links to, so verifying a
    // candidate reads one small row instead of also the suggestion's document row.
    // Rows written before stay NULL and are read the old way.
    R"sql(
ALTER TABLE dedup_signatures ADD COLUMN suggestion_id TEXT;
ALTER TABLE dedup_signatures ADD COLUMN root_id TEXT;
)sql",
    // 5: what start-up loads into the index (event time, band keys, identity tag) in a
    // narrow table of its own: reading it back no longer walks every signature's text
    // (~1.4 KB a row; 1.4 GB for a million). Moved rows keep identity tag 0, "unknown".
    R"sql(
CREATE TABLE dedup_index (
  suggestion_rowid INTEGER PRIMARY KEY,
  event_minutes    INTEGER NOT NULL,
  bands            BLOB NOT NULL,
  identity_tag     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO dedup_index(suggestion_rowid, event_minutes, bands)
  SELECT suggestion_rowid, event_minutes, bands FROM dedup_signatures WHERE match_text <> '';
CREATE INDEX dedup_index_time ON dedup_index(event_minutes);
DROP INDEX IF EXISTS dedup_signatures_time;
)sql",
    // 6: a signature names the cluster a duplicate linked through it joins (its root's
    // cluster; '' for none), so a new duplicate does not look its original's row up by id;
    // it carries its matching text's digest, and a duplicate with the same text as the
    // signature it matched stores no copy of it but the rowid of the signature that does
    // (text_of). Rows written before stay NULL and are read the old way.
    R"sql(
ALTER TABLE dedup_signatures ADD COLUMN root_cluster TEXT;
ALTER TABLE dedup_signatures ADD COLUMN text_hash TEXT;
ALTER TABLE dedup_signatures ADD COLUMN text_of INTEGER;
)sql",
};

}  // namespace

std::span<const char* const> journal_migrations() { return {kMigrations, std::size(kMigrations)}; }

}  // namespace minyi
