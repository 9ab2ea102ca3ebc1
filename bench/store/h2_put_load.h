// h2_put_load: store_bench's put phase on a bare HTTP/2 gRPC client
// (libnghttp2, one thread, one epoll loop, requests serialized once).
//
// Why not grpc++: the load generator shares the machine's cores with the
// server under test, and grpc++'s callback API costs the client 30-45 µs of
// CPU per put, more than the server spends on it. This client only frames
// prebuilt bytes and reads answers' headers, so the comparison measures the
// servers rather than the client.
//
// Thread-safety: run_h2_puts() owns every socket and session it creates and
// blocks the calling thread until the phase is over; concurrent calls on
// different threads are independent.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace kedge::bench {

struct H2PutOptions {
  std::string host;       // name or address to dial (an IPv6 address without brackets)
  std::string port;
  std::string authority;  // the :authority header, "host:port"
  int connections = 4;
  int clients = 1;         // closed-loop clients; client i uses connection i % connections
  std::string key_prefix;  // client i rewrites key_prefix + std::to_string(i)
  std::string value;
  std::chrono::seconds duration{10};  // issue puts for this long after dialing
  std::chrono::seconds grace{5};      // then wait at most this long for puts in flight
};

struct PutPhaseResult {
  std::vector<double> latencies_ms;  // one per successful put, in completion order
  long errors = 0;                   // failed puts, and clients that could not start or finish
  std::string first_error;           // what the first failed put saw; empty when errors == 0
  std::vector<std::string> connection_errors;  // one line per connection that failed
  double seconds = 0;                          // first put issued → last put answered
};

// Runs one put phase: dials `connections` plaintext HTTP/2 connections (h2c
// with prior knowledge), keeps one put per client in flight until `duration`
// has passed, then waits for the answers in flight, `grace` at most.
// Never throws and never waits past duration + grace + the dial timeouts:
// connection failures count as errors and are described in the result.
PutPhaseResult run_h2_puts(const H2PutOptions& options);

}  // namespace kedge::bench
