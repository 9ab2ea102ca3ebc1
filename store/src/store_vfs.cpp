#include "store_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <new>

namespace kedge::store {
namespace {

// A commit larger than this (a big txn) reaches the file in several writes.
// SQLite's unix VFS takes at most 128 KiB - 1 per write (it masks the count
// with 0x1ffff and reports a larger write as a full disk); a 256-client
// group commit is ~32 KiB.
constexpr std::size_t kMaxGathered = 64 * 1024;

struct Layer {
  sqlite3_vfs vfs{};  // what SQLite sees; pAppData points back here
  sqlite3_vfs* base = nullptr;
  bool gather = false;
  std::string name;
};

// A WAL file whose writes are gathered. SQLite hands out szOsFile raw bytes
// per file: this struct is constructed in their front, the base VFS's file
// object lives right behind it.
struct WalFile {
  sqlite3_file file{};  // first: SQLite casts the sqlite3_file* to us
  sqlite3_file* real = nullptr;
  std::string pending;            // bytes not yet written, contiguous
  sqlite3_int64 pending_at = 0;   // file offset of pending[0]

  int flush() {
    if (pending.empty()) return SQLITE_OK;
    const int rc = real->pMethods->xWrite(real, pending.data(), static_cast<int>(pending.size()), pending_at);
    pending.clear();
    return rc;
  }
};

constexpr std::size_t kWalFileSize = (sizeof(WalFile) + 15) & ~std::size_t{15};

WalFile* wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return wal(f)->real; }

int wal_write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  WalFile& w = *wal(f);
  const auto n = static_cast<std::size_t>(amount);
  const bool follows = !w.pending.empty() && offset == w.pending_at + static_cast<sqlite3_int64>(w.pending.size());
  if (!follows || w.pending.size() + n > kMaxGathered) {
    // Anything else (SQLite rewriting a frame it wrote earlier in the same
    // transaction, a new header at offset 0) keeps its order: what was
    // gathered goes first.
    if (const int rc = w.flush(); rc != SQLITE_OK) return rc;
    if (n > kMaxGathered) return w.real->pMethods->xWrite(w.real, data, amount, offset);
    w.pending_at = offset;
  }
  w.pending.append(static_cast<const char*>(data), n);
  return SQLITE_OK;
}

// Everything but xWrite flushes first, then forwards: a read, a size, a
// truncate or a sync must see the file as SQLite believes it is.
const sqlite3_io_methods kWalMethods = {
    .iVersion = 1,  // a WAL is never memory-mapped or given shared memory
    .xClose =
        [](sqlite3_file* f) {
          WalFile* w = wal(f);
          const int flushed = w->flush();
          const int rc = w->real->pMethods->xClose(w->real);
          w->~WalFile();
          return flushed != SQLITE_OK ? flushed : rc;
        },
    .xRead =
        [](sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
          if (const int rc = wal(f)->flush(); rc != SQLITE_OK) return rc;
          return real(f)->pMethods->xRead(real(f), out, amount, offset);
        },
    .xWrite = wal_write,
    .xTruncate =
        [](sqlite3_file* f, sqlite3_int64 size) {
          if (const int rc = wal(f)->flush(); rc != SQLITE_OK) return rc;
          return real(f)->pMethods->xTruncate(real(f), size);
        },
    .xSync =
        [](sqlite3_file* f, int flags) {
          if (const int rc = wal(f)->flush(); rc != SQLITE_OK) return rc;
          return real(f)->pMethods->xSync(real(f), flags);
        },
    .xFileSize =
        [](sqlite3_file* f, sqlite3_int64* size) {
          if (const int rc = wal(f)->flush(); rc != SQLITE_OK) return rc;
          return real(f)->pMethods->xFileSize(real(f), size);
        },
    .xLock = [](sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); },
    .xUnlock = [](sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); },
    .xCheckReservedLock =
        [](sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); },
    .xFileControl =
        [](sqlite3_file* f, int op, void* arg) {
          if (const int rc = wal(f)->flush(); rc != SQLITE_OK) return rc;
          return real(f)->pMethods->xFileControl(real(f), op, arg);
        },
    .xSectorSize = [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); },
    .xDeviceCharacteristics =
        [](sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); },
    .xShmMap = nullptr,
    .xShmLock = nullptr,
    .xShmBarrier = nullptr,
    .xShmUnmap = nullptr,
    .xFetch = nullptr,
    .xUnfetch = nullptr,
};

Layer& layer(sqlite3_vfs* vfs) { return *static_cast<Layer*>(vfs->pAppData); }
sqlite3_vfs* base(sqlite3_vfs* vfs) { return layer(vfs).base; }

int layer_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  Layer& l = layer(vfs);
  // Every file but a gathered WAL is the base VFS's own object, untouched:
  // SQLite then calls the base's methods directly.
  if (!l.gather || (flags & SQLITE_OPEN_WAL) == 0) return l.base->xOpen(l.base, name, f, flags, out_flags);
  auto* w = new (f) WalFile();
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kWalFileSize);
  const int rc = l.base->xOpen(l.base, name, w->real, flags, out_flags);
  if (rc != SQLITE_OK || w->real->pMethods == nullptr) {
    // A failed open leaves pMethods null, so SQLite never calls xClose.
    w->~WalFile();
    f->pMethods = nullptr;
    return rc;
  }
  w->file.pMethods = &kWalMethods;
  return SQLITE_OK;
}

std::mutex layers_mu;
std::list<Layer> layers;  // guarded by layers_mu; never shrinks: SQLite keeps pointers

}  // namespace

Result<std::string> store_vfs(const std::string& base_name, bool gather_wal_writes) {
  const std::string name = "kedge-" + base_name + (gather_wal_writes ? "-gather" : "");
  std::lock_guard lock(layers_mu);
  for (const Layer& l : layers) {
    if (l.name == name) return name;
  }
  sqlite3_vfs* below = sqlite3_vfs_find(base_name.c_str());
  if (below == nullptr) return invalid_argument("store: no SQLite VFS named \"" + base_name + "\"");
  Layer& l = layers.emplace_back();
  l.base = below;
  l.gather = gather_wal_writes;
  l.name = name;
  sqlite3_vfs& v = l.vfs;
  v.iVersion = 2;
  v.szOsFile = below->szOsFile + static_cast<int>(kWalFileSize);
  v.mxPathname = below->mxPathname;
  v.zName = l.name.c_str();
  v.pAppData = &l;
  v.xOpen = layer_open;
  v.xDelete = [](sqlite3_vfs* vfs, const char* path, int sync_dir) {
    return base(vfs)->xDelete(base(vfs), path, sync_dir);
  };
  v.xAccess = [](sqlite3_vfs* vfs, const char* path, int flags, int* out) {
    return base(vfs)->xAccess(base(vfs), path, flags, out);
  };
  v.xFullPathname = [](sqlite3_vfs* vfs, const char* path, int n, char* out) {
    return base(vfs)->xFullPathname(base(vfs), path, n, out);
  };
  v.xDlOpen = [](sqlite3_vfs* vfs, const char* path) { return base(vfs)->xDlOpen(base(vfs), path); };
  v.xDlError = [](sqlite3_vfs* vfs, int n, char* out) { base(vfs)->xDlError(base(vfs), n, out); };
  v.xDlSym = [](sqlite3_vfs* vfs, void* handle, const char* symbol) {
    return base(vfs)->xDlSym(base(vfs), handle, symbol);
  };
  v.xDlClose = [](sqlite3_vfs* vfs, void* handle) { base(vfs)->xDlClose(base(vfs), handle); };
  v.xRandomness = [](sqlite3_vfs* vfs, int n, char* out) { return base(vfs)->xRandomness(base(vfs), n, out); };
  v.xSleep = [](sqlite3_vfs* vfs, int us) { return base(vfs)->xSleep(base(vfs), us); };
  v.xCurrentTime = [](sqlite3_vfs* vfs, double* out) { return base(vfs)->xCurrentTime(base(vfs), out); };
  v.xGetLastError = [](sqlite3_vfs* vfs, int n, char* out) { return base(vfs)->xGetLastError(base(vfs), n, out); };
  v.xCurrentTimeInt64 = [](sqlite3_vfs* vfs, sqlite3_int64* out) {
    return base(vfs)->xCurrentTimeInt64 ? base(vfs)->xCurrentTimeInt64(base(vfs), out) : SQLITE_ERROR;
  };
  if (const int rc = sqlite3_vfs_register(&v, 0); rc != SQLITE_OK) {
    layers.pop_back();
    return internal_error(std::string("store: registering SQLite VFS ") + name + ": " + sqlite3_errstr(rc));
  }
  return name;
}

}  // namespace kedge::store
