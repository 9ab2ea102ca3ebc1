// The netlink socket seam: everything the batch and reader send to or receive
// from the kernel goes through a Transport, so unit tests can check the exact
// messages (and script the kernel's replies) without a kernel.
//
// Thread-safety: a Transport is used by one thread at a time (the proxy's
// sync thread); it is not internally synchronized.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "kedge/base/status.h"
#include "kedge/netlink/model.h"

namespace kedge::netlink {

class Transport {
 public:
  virtual ~Transport() = default;
  // Netlink port id of this socket (0 in fakes): replies carry it.
  virtual std::uint32_t port_id() const = 0;
  // Grows kernel socket buffers so a batch of `send_bytes` fits in one
  // datagram and `replies` acks fit in the receive queue. Best effort.
  virtual Status reserve(std::size_t send_bytes, std::size_t replies) = 0;
  // Sends one datagram holding one or more netlink messages.
  virtual Status send(std::span<const std::uint8_t> datagram) = 0;
  // Next datagram from the kernel, or nullopt when none arrives within
  // `timeout` (0: only what is already queued).
  virtual Result<std::optional<Bytes>> receive(std::chrono::milliseconds timeout) = 0;
};

// A NETLINK_NETFILTER socket in the calling thread's network namespace, with
// extended acks enabled. Needs CAP_NET_ADMIN for anything but reads.
Result<std::unique_ptr<Transport>> open_netfilter_socket();

}  // namespace kedge::netlink
