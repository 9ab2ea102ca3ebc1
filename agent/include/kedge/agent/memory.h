// The agent's resident memory after start-up.
//
// Most of a kedge agent's RSS is not its own data but clean pages of shared
// libraries (gRPC, OpenSSL, protobuf, libstdc++) and of the kedge binary,
// touched once while they initialise (static constructors, descriptor pools,
// relocation) and never again. drop_startup_pages() unmaps those pages from
// the process once start-up is over: for every read-only, file-backed
// mapping without private (copy-on-write) pages it calls
// madvise(MADV_DONTNEED), which only removes the page-table entries — the
// pages stay in the page cache, and whatever the agent still runs faults
// back in from there (a minor fault, no I/O). Writable mappings and any
// mapping holding a private page (RELRO after relocation) are left alone:
// MADV_DONTNEED would revert those to the file's contents. Then
// malloc_trim(0) returns free heap to the kernel.
//
// Thread-safety: safe to call at any time from any thread (other threads
// only take minor faults). Ownership: none.
#pragma once

#include <cstddef>

#include "kedge/base/status.h"

namespace kedge::agent {

struct StartupTrim {
  std::size_t mappings = 0;     // file mappings whose pages were dropped
  std::size_t file_bytes = 0;   // their resident bytes before the drop
  std::size_t rss_before = 0;   // VmRSS, bytes
  std::size_t rss_after = 0;
};

Result<StartupTrim> drop_startup_pages();

// Caps glibc's malloc at `arenas` arenas (M_ARENA_MAX). Each thread that
// meets contention would otherwise get an arena of its own (up to 8 per
// core), each keeping freed memory resident. Call early, before threads.
void limit_malloc_arenas(int arenas);

}  // namespace kedge::agent
