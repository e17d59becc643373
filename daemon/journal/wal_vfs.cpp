// The coalescing VFS: forwards everything to the default VFS, and gathers contiguous
// writes to a WAL file until the transaction's commit frame is written.
#include "journal/wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace minyi::sql {

namespace {

constexpr const char* kName = "minyi-coalescing";
// Above this many gathered bytes the log is written out even inside a transaction (a
// big transaction spills frames before it commits).
constexpr size_t kMaxGathered = 8u << 20;
constexpr int kFrameHeaderBytes = 24;
// The default VFS writes at most 128 KiB - 1 bytes per call (unix: nBuf &= 0x1ffff) and
// reports a longer write as "disk full": larger runs go out in pieces of this size.
constexpr size_t kMaxWrite = 0x1F000;

sqlite3_vfs* base_vfs = nullptr;
sqlite3_vfs vfs;

struct File;

// What a WAL file holds back: bytes [start, start + bytes.size()) not yet written.
struct Gathered {
  std::vector<unsigned char> bytes;
  sqlite3_int64 start = 0;
  bool commit_page_next = false;  // the last write was a commit frame's header
  File* database = nullptr;       // whose xShmBarrier/xShmLock writes these out first
};

// Lives in the memory SQLite allocates for a file (vfs.szOsFile): this header, then the
// default VFS's own file object.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  Gathered* log;   // a WAL file: what it holds back
  File* open_log;  // a database file: its open WAL file, if any
};

constexpr size_t kHeaderBytes = (sizeof(File) + 15) / 16 * 16;

File* self(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods* real_methods(File* f) { return f->real->pMethods; }

int write_out(File* f) {
  Gathered* g = f->log;
  if (!g || g->bytes.empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  for (size_t done = 0; done < g->bytes.size() && rc == SQLITE_OK; done += kMaxWrite) {
    const size_t n = std::min(kMaxWrite, g->bytes.size() - done);
    rc = real_methods(f)->xWrite(f->real, g->bytes.data() + done, static_cast<int>(n),
                                 g->start + static_cast<sqlite3_int64>(done));
  }
  g->bytes.clear();
  return rc;
}

// Before SQLite publishes frames or hands the write lock on, the log must hold them. The
// commit rule in x_write already wrote them; this is the guard for any path it missed.
void write_out_log_of(File* database) {
  if (!database->open_log) return;
  if (write_out(database->open_log) != SQLITE_OK) {
    sqlite3_log(SQLITE_IOERR, "minyi: cannot write gathered WAL frames before publishing them; stopping");
    std::abort();  // carrying on would let readers see frames the file does not hold
  }
}

int x_close(sqlite3_file* file) {
  File* f = self(file);
  int rc = write_out(f);
  if (f->log) {
    if (f->log->database) f->log->database->open_log = nullptr;
    delete f->log;
    f->log = nullptr;
  }
  if (f->open_log) {
    f->open_log->log->database = nullptr;
    f->open_log = nullptr;
  }
  int rc_close = real_methods(f)->xClose(f->real);
  return rc != SQLITE_OK ? rc : rc_close;
}

int x_read(sqlite3_file* file, void* buf, int amount, sqlite3_int64 offset) {
  File* f = self(file);
  if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xRead(f->real, buf, amount, offset);
}

int x_write(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 offset) {
  File* f = self(file);
  Gathered* g = f->log;
  if (!g) return real_methods(f)->xWrite(f->real, buf, amount, offset);
  if (!g->bytes.empty() && offset != g->start + static_cast<sqlite3_int64>(g->bytes.size()))
    if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  if (g->bytes.empty()) g->start = offset;
  const auto* p = static_cast<const unsigned char*>(buf);
  g->bytes.insert(g->bytes.end(), p, p + amount);
  const bool commit_page = g->commit_page_next;
  // A frame header names, in bytes 4-7, the database size after the commit it ends; 0
  // in every other frame.
  g->commit_page_next = amount == kFrameHeaderBytes && (p[4] | p[5] | p[6] | p[7]) != 0;
  if (commit_page || g->bytes.size() >= kMaxGathered) return write_out(f);
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = self(file);
  if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  File* f = self(file);
  if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  File* f = self(file);
  if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int level) { return real_methods(self(file))->xLock(self(file)->real, level); }
int x_unlock(sqlite3_file* file, int level) { return real_methods(self(file))->xUnlock(self(file)->real, level); }
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_methods(self(file))->xCheckReservedLock(self(file)->real, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  File* f = self(file);
  if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileControl(f->real, op, arg);
}

int x_sector_size(sqlite3_file* file) { return real_methods(self(file))->xSectorSize(self(file)->real); }
int x_device_characteristics(sqlite3_file* file) {
  return real_methods(self(file))->xDeviceCharacteristics(self(file)->real);
}

int x_shm_map(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  return real_methods(self(file))->xShmMap(self(file)->real, page, page_size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = self(file);
  write_out_log_of(f);
  return real_methods(f)->xShmLock(f->real, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  File* f = self(file);
  write_out_log_of(f);
  real_methods(f)->xShmBarrier(f->real);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real_methods(self(file))->xShmUnmap(self(file)->real, delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(self(file))->xFetch(self(file)->real, offset, amount, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  return real_methods(self(file))->xUnfetch(self(file)->real, offset, p);
}

// One method table per version, so SQLite sees exactly what the wrapped file offers
// (version 2 brings shared memory and so WAL, version 3 memory-mapped reads).
const sqlite3_io_methods* methods_for(int version) {
  static const auto tables = [] {
    std::array<sqlite3_io_methods, 4> t{};
    for (int v = 1; v <= 3; ++v) {
      sqlite3_io_methods& m = t[static_cast<size_t>(v)];
      m.iVersion = v;
      m.xClose = x_close;
      m.xRead = x_read;
      m.xWrite = x_write;
      m.xTruncate = x_truncate;
      m.xSync = x_sync;
      m.xFileSize = x_file_size;
      m.xLock = x_lock;
      m.xUnlock = x_unlock;
      m.xCheckReservedLock = x_check_reserved_lock;
      m.xFileControl = x_file_control;
      m.xSectorSize = x_sector_size;
      m.xDeviceCharacteristics = x_device_characteristics;
      if (v >= 2) {
        m.xShmMap = x_shm_map;
        m.xShmLock = x_shm_lock;
        m.xShmBarrier = x_shm_barrier;
        m.xShmUnmap = x_shm_unmap;
      }
      if (v >= 3) {
        m.xFetch = x_fetch;
        m.xUnfetch = x_unfetch;
      }
    }
    return t;
  }();
  return &tables[static_cast<size_t>(std::min(std::max(version, 1), 3))];
}

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = self(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kHeaderBytes);
  f->log = nullptr;
  f->open_log = nullptr;
  int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
  // SQLite closes a file whose pMethods is set even when the open failed.
  if (f->real->pMethods) f->base.pMethods = methods_for(f->real->pMethods->iVersion);
  if (rc != SQLITE_OK || !(flags & SQLITE_OPEN_WAL) || !name) return rc;
  f->log = new Gathered;
  // The database this log belongs to: its shared-memory barrier publishes our frames.
  if (auto* db = reinterpret_cast<File*>(sqlite3_database_file_object(name));
      db && db->base.pMethods && db->base.pMethods->xClose == x_close) {
    f->log->database = db;
    db->open_log = f;
  }
  return rc;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return base_vfs->xDelete(base_vfs, name, sync_dir); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return base_vfs->xAccess(base_vfs, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return base_vfs->xFullPathname(base_vfs, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return base_vfs->xDlOpen(base_vfs, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { base_vfs->xDlError(base_vfs, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* sym))(void) { return base_vfs->xDlSym(base_vfs, handle, sym); }
void x_dl_close(sqlite3_vfs*, void* handle) { base_vfs->xDlClose(base_vfs, handle); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return base_vfs->xRandomness(base_vfs, n, out); }
int x_sleep(sqlite3_vfs*, int micros) { return base_vfs->xSleep(base_vfs, micros); }
int x_current_time(sqlite3_vfs*, double* out) { return base_vfs->xCurrentTime(base_vfs, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  if (base_vfs->iVersion >= 2 && base_vfs->xCurrentTimeInt64) return base_vfs->xCurrentTimeInt64(base_vfs, out);
  double days = 0;
  int rc = base_vfs->xCurrentTime(base_vfs, &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

}  // namespace

const char* coalescing_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    base_vfs = sqlite3_vfs_find(nullptr);
    if (!base_vfs) throw std::runtime_error("SQLite has no default VFS");
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(kHeaderBytes) + base_vfs->szOsFile;
    vfs.mxPathname = base_vfs->mxPathname;
    vfs.zName = kName;
    vfs.xOpen = x_open;
    vfs.xDelete = x_delete;
    vfs.xAccess = x_access;
    vfs.xFullPathname = x_full_pathname;
    vfs.xDlOpen = x_dl_open;
    vfs.xDlError = x_dl_error;
    vfs.xDlSym = x_dl_sym;
    vfs.xDlClose = x_dl_close;
    vfs.xRandomness = x_randomness;
    vfs.xSleep = x_sleep;
    vfs.xCurrentTime = x_current_time;
    vfs.xGetLastError = x_get_last_error;
    vfs.xCurrentTimeInt64 = x_current_time_int64;
    if (int rc = sqlite3_vfs_register(&vfs, 0); rc != SQLITE_OK)
      throw std::runtime_error(std::string("cannot register the journal's VFS: ") + sqlite3_errstr(rc));
  });
  return kName;
}

}  // namespace minyi::sql
