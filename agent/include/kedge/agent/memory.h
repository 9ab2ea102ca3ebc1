// The agent's resident memory.
//
// Most of a kedge agent's RSS is not its own data but clean pages of shared
// libraries (gRPC, OpenSSL, protobuf, libstdc++) and of the kedge binary
// (bench/README.md, agent, has the breakdown). Those are page cache the kernel
// reclaims under pressure; what the agent owns is its anonymous memory, which
// limit_malloc_arenas() keeps from multiplying across threads.
//
// Dropping the start-up pages with madvise(MADV_DONTNEED) was tried and
// removed: it lowered VmRSS by ~9 MB without freeing anything the device
// could use (the pages stay cached and fault back), and the faults made
// kedge's own pod-start time 20x slower (1.8 -> 35-53 ms).
//
// Thread-safety: call once, early in main, before any thread starts.
#pragma once

namespace kedge::agent {

// Caps glibc's malloc at `arenas` arenas (M_ARENA_MAX). Each thread that
// meets contention would otherwise get an arena of its own (up to 8 per
// core), each keeping freed memory resident.
void limit_malloc_arenas(int arenas);

}  // namespace kedge::agent
