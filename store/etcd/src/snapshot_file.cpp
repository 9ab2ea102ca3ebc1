// restore_snapshot: a `etcdctl snapshot save` file back into a data dir.
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "kedge/store/etcd_server.h"

namespace kedge::store {
namespace {

constexpr std::size_t kShaSize = 32;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("write " + path, errno);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Status restore_snapshot(const std::filesystem::path& file, const std::filesystem::path& data_dir) {
  const auto db = data_dir / "store.db";
  std::error_code ec;
  if (std::filesystem::exists(db, ec)) {
    return already_exists("restore: " + db.string() + " exists; restore into an empty data dir");
  }
  Fd in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) return errno_status("open " + file.string(), errno);
  const off_t size = ::lseek(in.fd, 0, SEEK_END);
  // etcd's rule: a snapshot carries its sha256 iff size % 512 == 32.
  if (size < 0 || static_cast<std::size_t>(size) % 512 != kShaSize) {
    return data_loss("restore: " + file.string() + " has no sha256 trailer (not a snapshot, or cut short)");
  }
  ::lseek(in.fd, 0, SEEK_SET);
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return unavailable("create " + data_dir.string() + ": " + ec.message());
  const auto tmp = data_dir / "store.db.restore";
  Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (out.fd < 0) return errno_status("create " + tmp.string(), errno);

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  std::string buf(1 << 16, '\0');
  std::size_t left = static_cast<std::size_t>(size) - kShaSize;
  while (left > 0) {
    const ssize_t n = ::read(in.fd, buf.data(), std::min(left, buf.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_status("read " + file.string(), n < 0 ? errno : EIO);
    EVP_DigestUpdate(sha.get(), buf.data(), static_cast<std::size_t>(n));
    KEDGE_RETURN_IF_ERROR(write_all(out.fd, buf.data(), static_cast<std::size_t>(n), tmp.string()));
    left -= static_cast<std::size_t>(n);
  }
  unsigned char want[kShaSize];
  if (::read(in.fd, want, kShaSize) != static_cast<ssize_t>(kShaSize)) return errno_status("read " + file.string(), EIO);
  unsigned char got[EVP_MAX_MD_SIZE];
  unsigned int got_size = 0;
  EVP_DigestFinal_ex(sha.get(), got, &got_size);
  if (got_size != kShaSize || std::memcmp(got, want, kShaSize) != 0) {
    std::filesystem::remove(tmp, ec);
    return data_loss("restore: " + file.string() + ": sha256 mismatch (the snapshot is damaged)");
  }
  if (::fsync(out.fd) != 0) return errno_status("fsync " + tmp.string(), errno);
  std::filesystem::rename(tmp, db, ec);
  if (ec) return unavailable("rename " + tmp.string() + ": " + ec.message());
  return {};
}

}  // namespace kedge::store
