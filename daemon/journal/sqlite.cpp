// SQLite wrapper implementation: every failure throws with the statement and SQLite's message.
#include "journal/sqlite.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>

namespace minyi::sql {

Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) {
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) throw Error(std::string("prepare failed: ") + sqlite3_errmsg(db) + " in: " + sql, rc);
}
Stmt::~Stmt() { sqlite3_finalize(s_); }

Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view v) {
  sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_static(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::bind_blob_static(int i, std::string_view v) {
  sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}
bool Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(s_);
  throw Error("SQLite step failed: " + msg + " in: " + sqlite3_sql(s_), rc);
}
void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}
std::string Stmt::col_text(int i) const {
  const void* p = sqlite3_column_blob(s_, i);
  int n = sqlite3_column_bytes(s_, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

Db::Db(const std::string& path, int flags, const char* vfs) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, vfs);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open journal '" + path + "': " + msg, rc);
  }
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
}
Db::~Db() { sqlite3_close_v2(db_); }

void Db::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error("SQLite: " + msg, rc);
  }
}

bool preallocate_page_cache(size_t bytes) {
  static std::once_flag once;
  static bool in_place = false;
  std::call_once(once, [bytes] {
    int header = 0;
    if (sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &header) != SQLITE_OK) return;  // SQLite already in use
    constexpr size_t kPage = 4096;  // the journal's page size; larger pages are allocated as before
    const size_t slot = (kPage + static_cast<size_t>(header) + 15) / 16 * 16;
    const size_t slots = std::max<size_t>(bytes / kPage, 16);
    // Never freed: SQLite may use it until the process ends (connections closed from
    // static destructors included).
    static unsigned char* pool = nullptr;
    pool = new (std::nothrow) unsigned char[slot * slots];
    if (!pool) return;
    std::memset(pool, 0, slot * slots);  // every page touched now, not on the commit path
    if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, pool, static_cast<int>(slot), static_cast<int>(slots)) != SQLITE_OK) {
      delete[] pool;
      pool = nullptr;
      return;
    }
    in_place = true;
  });
  return in_place;
}

}  // namespace minyi::sql
