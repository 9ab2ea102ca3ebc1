#include "sqlite_db.h"

#include <string>

namespace kedge::store {

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view blob) {
  // A zero-length BLOB must still be a BLOB, not NULL: pass a non-null pointer.
  static const char kEmpty = 0;
  sqlite3_bind_blob64(stmt_, index, blob.empty() ? &kEmpty : blob.data(), blob.size(),
                      SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_text(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status error = db_->error("step", rc);
  sqlite3_reset(stmt_);
  return error;
}

Status Stmt::run() {
  auto stepped = step();
  reset();
  return stepped.status();
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Stmt::blob(int column) const { return std::string(blob_view(column)); }

std::string_view Stmt::blob_view(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return std::string_view(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

Result<std::unique_ptr<Db>> Db::open(const std::filesystem::path& path, bool read_only, const std::string& vfs) {
  sqlite3* handle = nullptr;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string message = handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close_v2(handle);
    return unavailable("open " + path.string() + ": " + message);
  }
  sqlite3_extended_result_codes(handle, 1);
  // Readers and the writer are separate connections; a checkpoint or a
  // schema change can briefly lock. Wait rather than fail.
  sqlite3_busy_timeout(handle, 5000);
  return std::unique_ptr<Db>(new Db(handle, path));
}

Db::~Db() {
  cache_.clear();  // finalize statements before closing
  sqlite3_close_v2(db_);
}

Status Db::error(std::string_view what, int rc) const {
  std::string message = std::string(what) + " " + path_.string() + ": " + sqlite3_errmsg(db_);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return data_loss(std::move(message));
    case SQLITE_FULL:
      return resource_exhausted(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return unavailable(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

Status Db::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    return error("exec", rc);
  }
  return {};
}

Result<Stmt*> Db::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return error("prepare", rc);
  auto owned = std::make_unique<Stmt>(*this, stmt);
  Stmt* raw = owned.get();
  cache_.emplace(sql, std::move(owned));
  return raw;
}

Status Db::run(const std::string& sql) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * stmt, prepare(sql));
  return stmt->run();
}

Result<std::int64_t> Db::query_int(const std::string& sql) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * stmt, prepare(sql));
  StmtScope scope(*stmt);
  KEDGE_ASSIGN_OR_RETURN(bool row, stmt->step());
  if (!row) return internal_error("no row for: " + sql);
  return stmt->int64(0);
}

Transaction::Transaction(Db& db, bool write) : db_(db) {
  begin_ = db_.run(write ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = begin_.ok();
}

Transaction::~Transaction() {
  if (open_) (void)db_.run("ROLLBACK");
}

Status Transaction::commit() {
  if (!open_) return begin_.ok() ? internal_error("transaction already finished") : begin_;
  open_ = false;
  Status status = db_.run("COMMIT");
  if (!status.ok()) (void)db_.run("ROLLBACK");
  return status;
}

}  // namespace kedge::store
