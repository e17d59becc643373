// Minimal RAII over the SQLite C API: a connection and cached prepared statements.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace minyi::sql {

struct Error : std::runtime_error {
  int code;
  Error(const std::string& what, int c) : std::runtime_error(what), code(c) {}
};

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::string_view v);
  Stmt& bind_blob(int i, std::string_view v);
  // Without a copy: the bytes must stay valid and unchanged until the next reset (run()).
  Stmt& bind_static(int i, std::string_view v);
  Stmt& bind_blob_static(int i, std::string_view v);
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, double v);
  Stmt& bind_null(int i);
  Stmt& bind_opt(int i, const std::optional<std::string>& v) { return v ? bind(i, *v) : bind_null(i); }
  // true = a row is available; false = done. Throws on error.
  bool step();
  void run() {
    step();
    reset();
  }
  void reset();
  int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }
  bool col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::string col_text(int i) const;
  // The column's bytes, valid until the next step/reset (no copy).
  std::string_view col_view(int i) const {
    const void* p = sqlite3_column_blob(s_, i);
    return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, i)))
             : std::string_view();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

class Db {
 public:
  // vfs: a registered VFS's name, or nullptr for SQLite's default.
  Db(const std::string& path, int flags, const char* vfs = nullptr);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void exec(const char* sql);
  sqlite3* get() const { return db_; }
  int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
};

// Gives SQLite's page caches (all connections of the process) memory for `bytes` of
// pages, allocated and written once here, so that filling the caches later does not fault
// in fresh memory page by page on the commit path. Only effective before SQLite is first
// used in the process (the first call decides; later calls return what it did); returns
// whether the memory is in place. Pages the pool cannot hold are allocated as before.
bool preallocate_page_cache(size_t bytes);

}  // namespace minyi::sql
