// SqliteStore's Maintenance operations: defragment, snapshot, hash, hash_kv.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <random>

#include "errors.h"
#include "kedge/base/log.h"
#include "store_impl.h"

namespace kedge::store {
namespace {

// CRC-32C (Castagnoli), the polynomial etcd's hashes use.
class Crc32c {
 public:
  void add(std::string_view bytes) {
    static const std::array<std::uint32_t, 256> table = [] {
      std::array<std::uint32_t, 256> t{};
      for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        t[i] = c;
      }
      return t;
    }();
    for (unsigned char b : bytes) crc_ = table[(crc_ ^ b) & 0xff] ^ (crc_ >> 8);
  }
  void add(std::int64_t value) {
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(static_cast<std::uint64_t>(value) >> (8 * i));
    add(std::string_view(buf, sizeof buf));
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void add_field(std::string_view bytes) {
    add(static_cast<std::int64_t>(bytes.size()));
    add(bytes);
  }
  std::uint32_t value() const { return ~crc_; }

 private:
  std::uint32_t crc_ = ~0u;
};

// Hashes every row `stmt` yields: (id, key, create_revision, version, lease, value).
Status hash_rows(Stmt& stmt, Crc32c& crc) {
  while (true) {
    KEDGE_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return {};
    crc.add(stmt.int64(0));
    crc.add_field(stmt.blob(1));
    crc.add(stmt.int64(2));
    crc.add(stmt.int64(3));
    crc.add(stmt.int64(4));
    crc.add_field(stmt.blob(5));
  }
}

// The snapshot file: already unlinked, so it disappears with the descriptor.
class FileSnapshot final : public SnapshotReader {
 public:
  FileSnapshot(int fd, std::int64_t size) : fd_(fd), size_(size) {}
  ~FileSnapshot() override { ::close(fd_); }
  FileSnapshot(const FileSnapshot&) = delete;
  FileSnapshot& operator=(const FileSnapshot&) = delete;

  std::int64_t size() const override { return size_; }
  Result<std::string> read(std::size_t max) override {
    std::string chunk(max, '\0');
    while (true) {
      const ssize_t n = ::read(fd_, chunk.data(), max);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("read store snapshot", errno);
      chunk.resize(static_cast<std::size_t>(n));
      return chunk;
    }
  }

 private:
  int fd_;
  std::int64_t size_;
};

}  // namespace

Result<double> SqliteStore::Impl::free_ratio() {
  return with_reader([&](Db& db) -> Result<double> {
    Transaction tx(db, false);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_ASSIGN_OR_RETURN(std::int64_t pages, db.query_int("PRAGMA page_count"));
    KEDGE_ASSIGN_OR_RETURN(std::int64_t free_pages, db.query_int("PRAGMA freelist_count"));
    return pages > 0 ? static_cast<double>(free_pages) / static_cast<double>(pages) : 0.0;
  });
}

Status SqliteStore::Impl::vacuum_free_pages(double keep_ratio) {
  // Each turn is its own writer request, queued behind whatever writes are
  // waiting: a write never waits for more than one turn.
  const int step = std::max(1, options.defragment_step_pages);
  for (int turn = 0; turn < 1 << 20; ++turn) {
    KEDGE_ASSIGN_OR_RETURN(double free, free_ratio());
    if (free <= keep_ratio) return {};
    WriteResult result = submit(MaintenanceOp{.vacuum_pages = step});
    if (!result.ok()) return result.status();
  }
  return internal_error("store: incremental vacuum did not converge");
}

Status SqliteStore::defragment() {
  KEDGE_RETURN_IF_ERROR(impl_->vacuum_free_pages(0.0));
  impl_->checkpoint_and_wait();
  WriteResult truncated = impl_->submit(MaintenanceOp{.truncate_wal = true});
  return truncated.ok() ? Status{} : truncated.status();
}

Result<std::unique_ptr<SnapshotReader>> SqliteStore::snapshot() {
  static std::atomic<std::uint64_t> counter{0};
  const auto tmp = impl_->options.data_dir /
                   ("snapshot-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".tmp");
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  {
    // Its own connection: VACUUM INTO reads one snapshot for as long as the
    // copy takes; holding a pooled reader that long would starve ranges.
    KEDGE_ASSIGN_OR_RETURN(auto db, Db::open(impl_->db_path, true, impl_->vfs));
    KEDGE_ASSIGN_OR_RETURN(Stmt * vacuum, db->prepare("VACUUM INTO ?1"));
    vacuum->bind_text(1, tmp.string());
    Status copied = vacuum->run();
    if (!copied.ok()) {
      std::filesystem::remove(tmp, ec);
      return copied;
    }
  }
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  const int open_errno = errno;
  std::filesystem::remove(tmp, ec);
  if (fd < 0) return errno_status("open " + tmp.string(), open_errno);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  ::lseek(fd, 0, SEEK_SET);
  return std::unique_ptr<SnapshotReader>(new FileSnapshot(fd, static_cast<std::int64_t>(size)));
}

Result<HashResponse> SqliteStore::hash_kv(Revision revision) {
  return impl_->with_reader([&](Db& db) -> Result<HashResponse> {
    Transaction tx(db, false);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_ASSIGN_OR_RETURN(mvcc::Meta meta, mvcc::read_meta(db));
    const Revision at = revision == 0 ? meta.revision : revision;
    if (at > meta.revision) return etcd_errors::future_rev();
    if (at < meta.compact_revision) return etcd_errors::compacted();
    // What etcd keeps at its compaction point: each key's newest version at
    // or below it unless that is a delete, then every change up to `at`.
    // Rows physical compaction has not reached yet are left out by the same
    // rule, so the hash does not depend on its progress.
    KEDGE_ASSIGN_OR_RETURN(
        Stmt * s, db.prepare("SELECT id, key, create_revision, version, lease, value FROM kv "
                             "WHERE id IN (SELECT max(id) FROM kv WHERE id < ?1 GROUP BY key) "
                             "AND create_revision != 0 "
                             "UNION ALL SELECT id, key, create_revision, version, lease, value FROM kv "
                             "WHERE id >= ?1 AND id < ?2 ORDER BY id"));
    StmtScope scope(*s);
    s->bind(1, mvcc::first_id(meta.compact_revision + 1)).bind(2, mvcc::first_id(at + 1));
    Crc32c crc;
    KEDGE_RETURN_IF_ERROR(hash_rows(*s, crc));
    return HashResponse{.revision = meta.revision, .hash = crc.value(), .compact_revision = meta.compact_revision};
  });
}

Result<HashResponse> SqliteStore::hash() {
  return impl_->with_reader([&](Db& db) -> Result<HashResponse> {
    Transaction tx(db, false);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_ASSIGN_OR_RETURN(mvcc::Meta meta, mvcc::read_meta(db));
    Crc32c crc;
    {
      KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("SELECT id, key, create_revision, version, lease, value "
                                                  "FROM kv ORDER BY id"));
      StmtScope scope(*s);
      KEDGE_RETURN_IF_ERROR(hash_rows(*s, crc));
    }
    KEDGE_ASSIGN_OR_RETURN(Stmt * l, db.prepare("SELECT id, ttl FROM leases ORDER BY id"));
    StmtScope scope(*l);
    while (true) {
      KEDGE_ASSIGN_OR_RETURN(bool row, l->step());
      if (!row) break;
      crc.add(l->int64(0));
      crc.add(l->int64(1));
    }
    crc.add(meta.compact_revision);
    return HashResponse{.revision = meta.revision, .hash = crc.value(), .compact_revision = meta.compact_revision};
  });
}

}  // namespace kedge::store
