#include "kedge/agent/tar.h"

#include <array>
#include <cstring>
#include <fstream>

namespace kedge::agent {
namespace {

constexpr std::size_t kBlock = 512;

// Writes `value` as zero-padded octal into field[0..width-2] plus a NUL.
void put_octal(char* field, std::size_t width, std::uint64_t value) {
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = '\0';
}

// Splits `path` into ustar's (prefix, name) pair, or returns false.
bool split_name(std::string_view path, std::string_view* prefix, std::string_view* name) {
  if (path.size() <= 100) {
    *prefix = {};
    *name = path;
    return true;
  }
  if (path.size() > 255) return false;
  // The prefix holds everything up to a '/', at most 155 bytes; the name the rest.
  for (std::size_t slash = path.rfind('/'); slash != std::string_view::npos && slash > 0;
       slash = path.rfind('/', slash - 1)) {
    if (slash <= 155 && path.size() - slash - 1 <= 100) {
      *prefix = path.substr(0, slash);
      *name = path.substr(slash + 1);
      return !name->empty();
    }
    if (slash == 0) break;
  }
  return false;
}

std::uint64_t parse_octal(const char* field, std::size_t width) {
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < width && (field[i] == ' ' || field[i] == '\0')) ++i;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) v = (v << 3) | static_cast<unsigned>(field[i] - '0');
  return v;
}

// A GNU base-256 size (first byte 0x80) or ustar octal.
std::uint64_t parse_size(const char* field) {
  if (static_cast<unsigned char>(field[0]) & 0x80) {
    std::uint64_t v = 0;
    for (int i = 1; i < 12; ++i) v = (v << 8) | static_cast<unsigned char>(field[i]);
    return v;
  }
  return parse_octal(field, 12);
}

std::string field_string(const char* field, std::size_t width) {
  return std::string(field, strnlen(field, width));
}

// Returns the "path" record of a PAX extended header body, if any.
std::string pax_path(std::string_view body) {
  std::string found;
  while (!body.empty()) {
    auto space = body.find(' ');
    if (space == std::string_view::npos) break;
    std::size_t len = 0;
    for (char c : body.substr(0, space)) {
      if (c < '0' || c > '9') return found;
      len = len * 10 + static_cast<std::size_t>(c - '0');
    }
    if (len == 0 || len > body.size()) break;
    std::string_view record = body.substr(space + 1, len - space - 1);
    if (!record.empty() && record.back() == '\n') record.remove_suffix(1);
    if (record.starts_with("path=")) found = std::string(record.substr(5));
    body.remove_prefix(len);
  }
  return found;
}

}  // namespace

Status TarWriter::write_header(std::string_view path, char type, std::uint32_t mode, std::uint64_t size,
                               std::string_view link) {
  if (path.empty() || path.front() == '/') {
    return invalid_argument("tar entry \"" + std::string(path) + "\": want a relative path");
  }
  std::string_view prefix, name;
  if (!split_name(path, &prefix, &name)) {
    return invalid_argument("tar entry \"" + std::string(path) + "\": name too long for ustar");
  }
  if (link.size() > 100) {
    return invalid_argument("tar entry \"" + std::string(path) + "\": link target over 100 bytes");
  }
  if (size >= (std::uint64_t{1} << 33)) {
    return invalid_argument("tar entry \"" + std::string(path) + "\": over 8 GiB");
  }
  std::array<char, kBlock> h{};
  std::memcpy(h.data(), name.data(), name.size());
  put_octal(h.data() + 100, 8, mode & 07777);
  put_octal(h.data() + 108, 8, 0);  // uid
  put_octal(h.data() + 116, 8, 0);  // gid
  put_octal(h.data() + 124, 12, size);
  put_octal(h.data() + 136, 12, 0);  // mtime: fixed, so digests are reproducible
  h[156] = type;
  std::memcpy(h.data() + 157, link.data(), link.size());
  std::memcpy(h.data() + 257, "ustar", 6);  // magic with its NUL
  std::memcpy(h.data() + 263, "00", 2);
  std::memcpy(h.data() + 265, "root", 4);
  std::memcpy(h.data() + 297, "root", 4);
  std::memcpy(h.data() + 345, prefix.data(), prefix.size());
  // The checksum is computed with its own field read as eight spaces.
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put_octal(h.data() + 148, 7, sum);  // six digits and a NUL, then the space stays
  out_->append(h.data(), h.size());
  return ok_status();
}

Status TarWriter::add(const TarEntry& e) {
  switch (e.kind) {
    case TarEntry::Kind::kFile:
      return add_file(e.path, e.content, e.mode);
    case TarEntry::Kind::kDirectory:
      return add_directory(e.path, e.mode);
    case TarEntry::Kind::kSymlink:
      return add_symlink(e.path, e.target);
  }
  return invalid_argument("tar entry \"" + e.path + "\": unknown kind");
}

Status TarWriter::add_file(std::string_view path, std::string_view content, std::uint32_t mode) {
  KEDGE_RETURN_IF_ERROR(write_header(path, '0', mode, content.size(), {}));
  out_->append(content);
  out_->append((kBlock - content.size() % kBlock) % kBlock, '\0');
  return ok_status();
}

Status TarWriter::add_directory(std::string_view path, std::uint32_t mode) {
  std::string p(path);
  if (!p.empty() && p.back() != '/') p += '/';
  return write_header(p, '5', mode, 0, {});
}

Status TarWriter::add_symlink(std::string_view path, std::string_view target) {
  if (target.empty()) return invalid_argument("tar symlink \"" + std::string(path) + "\": empty target");
  return write_header(path, '2', 0777, 0, target);
}

void TarWriter::finish() { out_->append(2 * kBlock, '\0'); }

Result<std::map<std::string, std::string>> read_tar_members(
    const std::filesystem::path& path, const std::function<bool(const std::string&)>& want,
    std::uint64_t max_member_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("open " + path.string() + ": cannot read");
  std::map<std::string, std::string> out;
  std::string next_name;  // from a PAX or GNU long-name header
  std::array<char, kBlock> h{};
  const auto where = [&](const std::string& what) {
    return data_loss(path.string() + ": " + what + " (not a tar archive, or truncated)");
  };
  while (true) {
    if (!in.read(h.data(), h.size())) return where("unexpected end of archive");
    bool zero = true;
    for (char c : h) zero = zero && c == '\0';
    if (zero) break;  // end-of-archive marker
    unsigned sum = 0;
    for (std::size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    if (sum != parse_octal(h.data() + 148, 8)) return where("bad header checksum");
    const std::uint64_t size = parse_size(h.data() + 124);
    const char type = h[156];
    std::string name = field_string(h.data(), 100);
    if (std::memcmp(h.data() + 257, "ustar", 5) == 0 && h[345] != '\0') {
      name = field_string(h.data() + 345, 155) + "/" + name;
    }
    const std::uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    const bool meta = type == 'x' || type == 'L';
    if (!next_name.empty() && !meta) {
      name = next_name;
      next_name.clear();
    }
    while (name.starts_with("./")) name.erase(0, 2);
    const bool regular = type == '0' || type == '\0' || type == '7';
    if (meta || (regular && want(name))) {
      if (size > max_member_bytes) return where("member " + name + " is larger than the reader's limit");
      std::string body(size, '\0');
      if (!in.read(body.data(), static_cast<std::streamsize>(size))) return where("member " + name + " truncated");
      in.seekg(static_cast<std::streamoff>(padded - size), std::ios::cur);
      if (type == 'x') {
        next_name = pax_path(body);
      } else if (type == 'L') {
        next_name = std::string(body.c_str());
      } else {
        out[name] = std::move(body);
      }
    } else {
      in.seekg(static_cast<std::streamoff>(padded), std::ios::cur);
    }
    if (!in) return where("seek past member " + name + " failed");
  }
  return out;
}

}  // namespace kedge::agent
