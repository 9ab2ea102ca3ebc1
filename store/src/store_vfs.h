// The SQLite VFS every store connection opens its files through: a thin
// layer over a real VFS (normally "unix-excl") that, when asked, gathers a
// transaction's writes to the WAL into one write.
//
// Why: SQLite writes each WAL frame as two writes (its 24-byte header, then
// the page), so a commit of a few puts at 1 KiB pages cost ~16 pwrite calls
// (strace, 16 clients), each a system call that a paravirtualized guest pays
// dearly for. With the layer a commit's frames reach the file in one call,
// right before SQLite's fsync of the WAL.
//
// When gathering is safe: only with `synchronous=FULL` (strict durability),
// where SQLite syncs the WAL after a commit's frames and before it publishes
// them to other connections in the WAL index. Every other read of the WAL
// (the writer's own, a checkpoint) goes through the same file handle and
// flushes first; other connections read only published frames. Under
// `synchronous=NORMAL` no sync follows a commit, so the layer passes writes
// straight through.
//
// "unix-excl" (instead of "unix"): the process holds one exclusive lock on
// the database file and keeps the WAL index in its own memory instead of a
// -shm file, so transactions take no fcntl() locks at all (~6 per commit
// before). All connections are in this process; store.lock already keeps
// any other process out, and now SQLite does too.
//
// Thread-safety: store_vfs() may be called from any thread. Each file is
// used by the one connection that opened it, as SQLite guarantees.
#pragma once

#include <string>

#include "kedge/base/status.h"

namespace kedge::store {

// Registers (once per combination) the layer over the VFS named `base` and
// returns the layer's name for sqlite3_open_v2. Errors: kInvalidArgument
// when no VFS is called `base`.
Result<std::string> store_vfs(const std::string& base, bool gather_wal_writes);

}  // namespace kedge::store
