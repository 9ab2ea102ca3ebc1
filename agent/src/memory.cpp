#include "kedge/agent/memory.h"

#include <malloc.h>
#include <sys/mman.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kedge::agent {

namespace {

std::size_t vm_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

struct Mapping {
  std::uintptr_t start = 0, end = 0;
  bool candidate = false;  // read-only and file-backed
  std::size_t rss_kb = 0, anonymous_kb = 0;
};

bool is_header(const std::string& line) {
  // "start-end perms offset dev inode [path]"; field lines are "Name:  value".
  const auto dash = line.find('-');
  return dash != std::string::npos && line.find(':') > dash && line.find(' ') > dash;
}

Mapping parse_header(const std::string& line) {
  Mapping m;
  std::istringstream in(line);
  std::string range, perms, offset, dev, inode, path;
  in >> range >> perms >> offset >> dev >> inode >> path;
  const auto dash = range.find('-');
  m.start = std::stoull(range.substr(0, dash), nullptr, 16);
  m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
  m.candidate = perms.size() >= 4 && perms[1] != 'w' && perms[3] == 'p' && inode != "0" && !path.empty() &&
                path[0] == '/';
  return m;
}

}  // namespace

Result<StartupTrim> drop_startup_pages() {
  std::ifstream in("/proc/self/smaps");
  if (!in) return internal_error("cannot read /proc/self/smaps");
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(in, line)) {
    if (is_header(line)) {
      maps.push_back(parse_header(line));
    } else if (!maps.empty()) {
      unsigned long kb = 0;
      if (std::sscanf(line.c_str(), "Rss: %lu kB", &kb) == 1) maps.back().rss_kb = kb;
      if (std::sscanf(line.c_str(), "Anonymous: %lu kB", &kb) == 1) maps.back().anonymous_kb = kb;
    }
  }
  StartupTrim out{.rss_before = vm_rss_bytes()};
  for (const auto& m : maps) {
    if (!m.candidate || m.anonymous_kb != 0 || m.rss_kb == 0) continue;
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) != 0) continue;
    ++out.mappings;
    out.file_bytes += m.rss_kb * 1024;
  }
  ::malloc_trim(0);
  out.rss_after = vm_rss_bytes();
  return out;
}

void limit_malloc_arenas(int arenas) { ::mallopt(M_ARENA_MAX, arenas); }

}  // namespace kedge::agent
