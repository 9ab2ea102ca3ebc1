#include "kedge/base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace kedge {

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno_status("open " + tmp.string(), errno);
  ::fchmod(fd, mode);  // an existing .tmp keeps its old mode through O_CREAT
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return errno_status("write " + tmp.string(), err);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_status("sync " + tmp.string(), err);
  }
  if (::close(fd) != 0) return errno_status("close " + tmp.string(), errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_status("rename " + path.string(), errno);
  return ok_status();
}

}  // namespace kedge
