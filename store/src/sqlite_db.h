// Thin RAII wrappers over the SQLite C API: one connection, prepared
// statements, and errors as kedge::Status. Private to kedge_store.
//
// Thread-safety: a Db and its statements belong to one thread at a time (the
// writer thread, or the reader that checked the connection out of the pool).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kedge/base/status.h"

namespace kedge::store {

class Db;

// A prepared statement, reset and unbound after each use by Binder's owner.
class Stmt {
 public:
  Stmt(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, std::string_view blob);  // bound as BLOB (keys compare bytewise)
  Stmt& bind_text(int index, std::string_view text);
  Stmt& bind_null(int index);
  // SQLITE_ROW → true, SQLITE_DONE → false, else error.
  Result<bool> step();
  // Runs to completion (for INSERT/UPDATE/DELETE).
  Status run();
  void reset();

  std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string blob(int column) const;
  // Valid until the next step/reset of this statement.
  std::string_view blob_view(int column) const;

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

// Resets a statement when leaving scope, so an early return never leaves it
// holding a read snapshot open.
class StmtScope {
 public:
  explicit StmtScope(Stmt& stmt) : stmt_(stmt) {}
  ~StmtScope() { stmt_.reset(); }
  Stmt& operator*() { return stmt_; }
  Stmt* operator->() { return &stmt_; }

 private:
  Stmt& stmt_;
};

class Db {
 public:
  // Opens `path` through the SQLite VFS named `vfs`; read_only connections
  // never create or write the file.
  static Result<std::unique_ptr<Db>> open(const std::filesystem::path& path, bool read_only, const std::string& vfs);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  Status exec(std::string_view sql);
  // Runs one statement without results, prepared once per connection (for
  // statements run per request or per transaction: no parse each time).
  Status run(const std::string& sql);
  // A cached prepared statement for `sql` (prepared once per connection).
  Result<Stmt*> prepare(const std::string& sql);
  // First column of the first row of `sql` as an integer.
  Result<std::int64_t> query_int(const std::string& sql);

  // Status for the connection's last error, prefixed with `what`.
  Status error(std::string_view what, int rc) const;
  sqlite3* handle() { return db_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  Db(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::filesystem::path path_;
  std::unordered_map<std::string, std::unique_ptr<Stmt>> cache_;
};

// BEGIN … COMMIT with ROLLBACK unless committed.
class Transaction {
 public:
  Transaction(Db& db, bool write);
  ~Transaction();
  Status status() const { return begin_; }
  Status commit();

 private:
  Db& db_;
  Status begin_;
  bool open_ = false;
};

}  // namespace kedge::store
