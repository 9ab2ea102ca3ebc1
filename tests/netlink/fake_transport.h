// Test helper: a Transport with no kernel behind it. It records every
// datagram sent and answers each message of a batch the way nfnetlink does
// (an NLMSG_ERROR for every failed message and, with error 0, for every
// message that asks for an ack), with errors injected per message index.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <deque>
#include <functional>
#include <map>

#include "kedge/netlink/transport.h"

namespace kedge::testing {

class FakeTransport : public netlink::Transport {
 public:
  std::uint32_t port_id() const override { return 0; }
  Status reserve(std::size_t, std::size_t) override { return ok_status(); }
  Status send(std::span<const std::uint8_t> d) override {
    sent.emplace_back(d.begin(), d.end());
    netlink::Bytes reply;
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(d.data());
    int len = static_cast<int>(d.size());
    int index = 0;
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || nlh->nlmsg_type == NFNL_MSG_BATCH_END) continue;
      messages.push_back(netlink::Bytes(reinterpret_cast<const std::uint8_t*>(nlh),
                                        reinterpret_cast<const std::uint8_t*>(nlh) + nlh->nlmsg_len));
      if (drop_acks) continue;
      int err = errors.count(index) ? errors[index] : 0;
      ++index;
      if (err == 0 && !(nlh->nlmsg_flags & NLM_F_ACK)) continue;
      std::uint8_t buf[NLMSG_HDRLEN + sizeof(nlmsgerr)] = {};
      auto* h = reinterpret_cast<nlmsghdr*>(buf);
      h->nlmsg_len = sizeof buf;
      h->nlmsg_type = NLMSG_ERROR;
      h->nlmsg_seq = nlh->nlmsg_seq;
      auto* e = reinterpret_cast<nlmsgerr*>(buf + NLMSG_HDRLEN);
      e->error = -err;
      e->msg = *nlh;
      reply.insert(reply.end(), buf, buf + sizeof buf);
    }
    if (!reply.empty()) queue.push_back(std::move(reply));
    return ok_status();
  }
  Result<std::optional<netlink::Bytes>> receive(std::chrono::milliseconds) override {
    if (queue.empty()) return std::optional<netlink::Bytes>{};
    auto d = std::move(queue.front());
    queue.pop_front();
    return std::optional<netlink::Bytes>(std::move(d));
  }

  std::vector<netlink::Bytes> sent;      // datagrams
  std::vector<netlink::Bytes> messages;  // inner messages of batches, in order
  std::map<int, int> errors;             // message index -> errno to answer
  bool drop_acks = false;
  std::deque<netlink::Bytes> queue;
};

}  // namespace kedge::testing
