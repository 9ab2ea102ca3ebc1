#include "kedge/netlink/conntrack.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cstring>
#include <vector>

namespace kedge::netlink {
namespace {

// libmnl's iteration macros assign void* (C only); the same walk in C++.
template <typename F>
void for_each_attr(const void* start, std::size_t bytes, F&& f) {
  const auto* a = static_cast<const nlattr*>(start);
  int len = static_cast<int>(bytes);
  while (mnl_attr_ok(a, len)) {
    f(a);
    len -= static_cast<int>(NLA_ALIGN(a->nla_len));
    a = mnl_attr_next(a);
  }
}
template <typename F>
void for_each_nested(const nlattr* nest, F&& f) {
  for_each_attr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), f);
}

struct Tuple {
  Bytes src, dst;
  std::uint8_t proto = 0;
  std::uint16_t dst_port = 0;  // host order
};

// CTA_TUPLE_{ORIG,REPLY} → addresses, protocol, destination port.
bool parse_tuple(const nlattr* nest, Tuple& t) {
  bool ok = true;
  for_each_nested(nest, [&](const nlattr* a) {
    const auto type = mnl_attr_get_type(a);
    if (type == CTA_TUPLE_IP) {
      for_each_nested(a, [&](const nlattr* ip) {
        const auto* p = static_cast<const std::uint8_t*>(mnl_attr_get_payload(ip));
        const auto n = mnl_attr_get_payload_len(ip);
        switch (mnl_attr_get_type(ip)) {
          case CTA_IP_V4_SRC:
          case CTA_IP_V6_SRC: t.src.assign(p, p + n); break;
          case CTA_IP_V4_DST:
          case CTA_IP_V6_DST: t.dst.assign(p, p + n); break;
          default: break;
        }
      });
    } else if (type == CTA_TUPLE_PROTO) {
      for_each_nested(a, [&](const nlattr* pr) {
        if (mnl_attr_get_type(pr) == CTA_PROTO_NUM) t.proto = mnl_attr_get_u8(pr);
        if (mnl_attr_get_type(pr) == CTA_PROTO_DST_PORT) t.dst_port = ntohs(mnl_attr_get_u16(pr));
      });
    }
  });
  return ok;
}

nlmsghdr* put_request(std::vector<std::uint8_t>& buf, std::uint16_t type, std::uint16_t flags, Family family,
                      std::uint32_t seq) {
  const std::size_t at = buf.size();
  buf.resize(at + MNL_SOCKET_BUFFER_SIZE);
  auto* nlh = mnl_nlmsg_put_header(buf.data() + at);
  nlh->nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type);
  nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = static_cast<std::uint8_t>(family);
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

void trim(std::vector<std::uint8_t>& buf, const nlmsghdr* last) {
  const auto* end = reinterpret_cast<const std::uint8_t*>(last) + NLMSG_ALIGN(last->nlmsg_len);
  buf.resize(static_cast<std::size_t>(end - buf.data()));
}

}  // namespace

Result<std::size_t> delete_conntrack(Transport& transport, const ConntrackFilter& filter) {
  static std::uint32_t seq = 0x6b000000;
  // 1. Dump (ctnetlink filters dumps by family only on older kernels).
  std::vector<std::uint8_t> req;
  const std::uint32_t dump_seq = ++seq;
  trim(req, put_request(req, IPCTNL_MSG_CT_GET, NLM_F_DUMP, filter.family, dump_seq));
  KEDGE_RETURN_IF_ERROR(transport.send(req).with_context("conntrack dump"));
  std::vector<Bytes> victims;  // raw CTA_TUPLE_ORIG attributes (+ zone) to delete by
  std::vector<std::optional<std::uint16_t>> zones;
  bool done = false;
  while (!done) {
    KEDGE_ASSIGN_OR_RETURN(auto got, transport.receive(std::chrono::milliseconds(5000)));
    if (!got) return unavailable("conntrack dump: no reply from the kernel");
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(got->data());
    int len = static_cast<int>(got->size());
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_seq != dump_seq) continue;
      if (nlh->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error != 0) return errno_status("conntrack dump", -err->error);
        continue;
      }
      const nlattr* orig = nullptr;
      Tuple o, r;
      std::optional<std::uint16_t> zone;
      const void* attrs = mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg));
      const auto attr_bytes = static_cast<std::size_t>(static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh)) -
                                                       static_cast<const char*>(attrs));
      for_each_attr(attrs, attr_bytes, [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
          case CTA_TUPLE_ORIG:
            orig = a;
            parse_tuple(a, o);
            break;
          case CTA_TUPLE_REPLY: parse_tuple(a, r); break;
          case CTA_ZONE: zone = ntohs(mnl_attr_get_u16(a)); break;
          default: break;
        }
      });
      if (orig == nullptr || o.proto != filter.protocol || o.dst != filter.orig_dst ||
          o.dst_port != filter.orig_dst_port) {
        continue;
      }
      if (filter.reply_src && r.src != *filter.reply_src) continue;
      const auto* p = reinterpret_cast<const std::uint8_t*>(orig);
      victims.emplace_back(p, p + orig->nla_len);
      zones.push_back(zone);
    }
  }
  if (victims.empty()) return std::size_t{0};
  // 2. Delete them by original tuple, all in one datagram, one ack each.
  std::vector<std::uint8_t> del;
  const std::uint32_t first = seq + 1;
  for (std::size_t i = 0; i < victims.size(); ++i) {
    auto* nlh = put_request(del, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, filter.family, ++seq);
    auto* at = static_cast<std::uint8_t*>(mnl_nlmsg_get_payload_tail(nlh));
    std::memcpy(at, victims[i].data(), victims[i].size());
    nlh->nlmsg_len += MNL_ALIGN(static_cast<std::uint32_t>(victims[i].size()));
    if (zones[i]) mnl_attr_put_u16(nlh, CTA_ZONE, htons(*zones[i]));
    trim(del, nlh);
  }
  KEDGE_RETURN_IF_ERROR(transport.send(del).with_context("conntrack delete"));
  std::size_t deleted = 0, answered = 0;
  while (answered < victims.size()) {
    KEDGE_ASSIGN_OR_RETURN(auto got, transport.receive(std::chrono::milliseconds(5000)));
    if (!got) return unavailable("conntrack delete: missing acks");
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(got->data());
    int len = static_cast<int>(got->size());
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < first || nlh->nlmsg_seq > seq) continue;
      ++answered;
      const int e = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh))->error;
      if (e == 0) ++deleted;
      else if (e != ENOENT) return errno_status("conntrack delete", e);
    }
  }
  return deleted;
}

}  // namespace kedge::netlink
