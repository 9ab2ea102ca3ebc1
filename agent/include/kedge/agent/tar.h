// A small ustar (POSIX.1-1988) archive writer and reader.
//
// Enough tar for OCI image layers and image-layout tarballs: regular files,
// directories and symlinks, with deterministic headers (fixed mtime, uid/gid
// 0) so the same input always gives the same bytes, hence the same sha256
// digest. Names longer than 100 bytes are split into ustar's prefix field;
// a name that cannot be split (a final component over 100 bytes, or more
// than 255 bytes in all) is an error rather than a silently truncated entry.
//
// The reader understands what real image tarballs contain (ustar and GNU
// headers, PAX `path` records, GNU long names) and extracts only the members
// it is asked for, so a large layer blob is skipped, not read.
//
// Thread-safety: TarWriter is not thread-safe; one thread builds one archive.
// read_tar_members() is reentrant.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "kedge/base/status.h"

namespace kedge::agent {

struct TarEntry {
  enum class Kind { kFile, kDirectory, kSymlink };
  Kind kind = Kind::kFile;
  std::string path;      // relative, no leading '/', e.g. "bin/sh"
  std::uint32_t mode = 0644;
  std::string content;   // kFile only
  std::string target;    // kSymlink only
};

class TarWriter {
 public:
  // Appends to `*out`, which must outlive the writer.
  explicit TarWriter(std::string* out) : out_(out) {}

  Status add(const TarEntry& entry);
  Status add_file(std::string_view path, std::string_view content, std::uint32_t mode = 0644);
  Status add_directory(std::string_view path, std::uint32_t mode = 0755);
  Status add_symlink(std::string_view path, std::string_view target);
  // Writes the two zero blocks that end an archive. REQUIRES: called once, last.
  void finish();

 private:
  Status write_header(std::string_view path, char type, std::uint32_t mode, std::uint64_t size,
                      std::string_view link);

  std::string* out_;
};

// Reads the archive at `path` and returns the contents of the regular-file
// members for which `want(name)` is true, keyed by name (leading "./"
// stripped). Members larger than `max_member_bytes` are an error (a bound on
// memory for untrusted input). Errors name the archive and the bad header.
Result<std::map<std::string, std::string>> read_tar_members(
    const std::filesystem::path& path, const std::function<bool(const std::string&)>& want,
    std::uint64_t max_member_bytes = 4 << 20);

}  // namespace kedge::agent
