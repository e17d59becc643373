// A SQLite VFS that writes the journal's write-ahead log in one system call per commit.
#pragma once

namespace minyi::sql {

// The name of a VFS (registered on first call, not the default) that wraps the default
// one and gathers the frames of a WAL transaction in memory: SQLite writes each frame as
// two pwrite() calls (a 24-byte header, then the page), which on a virtual machine cost
// more than the bytes they copy. The gathered frames go to the file
//  - when the frame that commits a transaction has been written (a failure fails that
//    commit, before any reader can see it),
//  - before any other operation on the log (read, size, truncate, sync, close) and
//    before any lock change on the database's shared memory,
// so the file holds what it would without the VFS whenever SQLite, another connection or
// another process can look at it. Safe for any connection; only writers gain.
const char* coalescing_vfs();

}  // namespace minyi::sql
