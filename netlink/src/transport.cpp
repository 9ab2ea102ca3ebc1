#include "kedge/netlink/transport.h"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace kedge::netlink {
namespace {

// Large enough for any single datagram the kernel sends us (dumps are paged
// by the kernel at about 16 KiB; acks are small).
constexpr std::size_t kReceiveBuffer = 256 * 1024;

class MnlTransport final : public Transport {
 public:
  explicit MnlTransport(mnl_socket* nl) : nl_(nl), buf_(kReceiveBuffer) {}
  ~MnlTransport() override { mnl_socket_close(nl_); }
  MnlTransport(const MnlTransport&) = delete;
  MnlTransport& operator=(const MnlTransport&) = delete;

  std::uint32_t port_id() const override { return mnl_socket_get_portid(nl_); }

  Status reserve(std::size_t send_bytes, std::size_t replies) override {
    // SO_*BUFFORCE needs CAP_NET_ADMIN, which programming nftables needs
    // anyway; fall back to the capped variants otherwise.
    int fd = mnl_socket_get_fd(nl_);
    int snd = static_cast<int>(std::min<std::size_t>(send_bytes + 4096, 1u << 30));
    if (snd > sndbuf_) {
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
      }
      sndbuf_ = snd;
    }
    // Each queued ack costs roughly 1 KiB of socket accounting (skb truesize).
    int rcv = static_cast<int>(std::min<std::size_t>(replies * 1024 + 256 * 1024, 1u << 30));
    if (rcv > rcvbuf_) {
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
      }
      rcvbuf_ = rcv;
    }
    return ok_status();
  }

  Status send(std::span<const std::uint8_t> datagram) override {
    ssize_t n = mnl_socket_sendto(nl_, datagram.data(), datagram.size());
    if (n < 0) return errno_status("netlink sendto", errno);
    if (static_cast<std::size_t>(n) != datagram.size()) return internal_error("netlink sendto: short write");
    return ok_status();
  }

  Result<std::optional<Bytes>> receive(std::chrono::milliseconds timeout) override {
    pollfd pfd{mnl_socket_get_fd(nl_), POLLIN, 0};
    int rc;
    do {
      rc = poll(&pfd, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return errno_status("netlink poll", errno);
    if (rc == 0) return std::optional<Bytes>{};
    ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
    if (n < 0) {
      // ENOBUFS: the kernel dropped replies because the queue was full.
      return errno_status("netlink recvfrom", errno);
    }
    return std::optional<Bytes>(Bytes(buf_.begin(), buf_.begin() + n));
  }

 private:
  mnl_socket* nl_;
  Bytes buf_;
  int sndbuf_ = 0;
  int rcvbuf_ = 0;
};

}  // namespace

Result<std::unique_ptr<Transport>> open_netfilter_socket() {
  mnl_socket* nl = mnl_socket_open(NETLINK_NETFILTER);
  if (nl == nullptr) return errno_status("netlink socket", errno);
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    mnl_socket_close(nl);
    return errno_status("netlink bind", err);
  }
  int one = 1;
  // Extended acks carry the kernel's own error text ("Chain not found"...).
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
  mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
  return std::unique_ptr<Transport>(std::make_unique<MnlTransport>(nl));
}

}  // namespace kedge::netlink
