#include "kedge/netlink/batch.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <new>

#include "codec.h"

namespace kedge::netlink {
namespace {

// Sequence numbers only need to be unique among the batches of one socket;
// starting from the clock keeps them distinct across process restarts too.
std::atomic<std::uint32_t> g_next_seq{static_cast<std::uint32_t>(std::time(nullptr)) << 8};

constexpr std::size_t kMaxMessage = 96 * 1024;  // room reserved for any one message
constexpr std::size_t kElementChunkBytes = 32 * 1024;

std::string object(const Table& t, std::string_view kind, std::string_view name) {
  std::string s(kind);
  s += ' ';
  s += family_name(t.family);
  s += ' ';
  s += t.name;
  if (!name.empty()) {
    s += ' ';
    s += name;
  }
  return s;
}

struct Reply {
  std::uint32_t seq;
  int error;  // positive errno, 0 for an ack
  std::string message;  // extended ack text, if any
};

void parse_replies(const Bytes& datagram, std::vector<Reply>& out) {
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(datagram.data());
  int len = static_cast<int>(datagram.size());
  while (mnl_nlmsg_ok(nlh, len)) {
    if (nlh->nlmsg_type == NLMSG_ERROR &&
        nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(nlmsgerr)) {
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      Reply r{nlh->nlmsg_seq, -err->error, {}};
      if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
        // With NETLINK_CAP_ACK the echoed request is just its header.
        std::size_t off = sizeof(nlmsgerr);
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - NLMSG_HDRLEN;
        mnl_attr_parse(nlh, static_cast<unsigned>(off),
                       [](const nlattr* a, void* data) -> int {
                         if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
                             mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
                           *static_cast<std::string*>(data) = mnl_attr_get_str(a);
                         }
                         return MNL_CB_OK;
                       },
                       &r.message);
      }
      out.push_back(std::move(r));
    }
    nlh = mnl_nlmsg_next(nlh, &len);
  }
}

}  // namespace

Batch::Batch() : seq_base_(g_next_seq.fetch_add(1u << 20)) {
  nftnl_batch_begin(reinterpret_cast<char*>(reserve(NLMSG_HDRLEN * 2)), seq_base_);
  len_ += reinterpret_cast<nlmsghdr*>(buf_.get())->nlmsg_len;
}
Batch::~Batch() = default;
Batch::Batch(Batch&&) noexcept = default;
Batch& Batch::operator=(Batch&&) noexcept = default;

void Batch::Unmap::operator()(std::uint8_t* p) const {
  if (p != nullptr) ::munmap(p, bytes);
}

std::uint8_t* Batch::reserve(std::size_t bytes) {
  if (cap_ - len_ < bytes) {
    static const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t cap = std::max(cap_ * 2, len_ + bytes + 64 * 1024);
    cap = (cap + kPage - 1) / kPage * kPage;
    void* grown = cap_ == 0 ? ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                            : ::mremap(buf_.get(), cap_, cap, MREMAP_MAYMOVE);
    if (grown == MAP_FAILED) throw std::bad_alloc();  // as operator new would
    (void)buf_.release();  // mremap moved or grew it in place
    buf_ = std::unique_ptr<std::uint8_t, Unmap>(static_cast<std::uint8_t*>(grown), Unmap{cap});
    cap_ = cap;
  }
  return buf_.get() + len_;
}

void Batch::finish(std::string what) {
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.get() + len_);
  len_ += NLMSG_ALIGN(nlh->nlmsg_len);
  what_.push_back(std::move(what));
}

namespace {
nlmsghdr* header(std::uint8_t* at, std::uint16_t type, Family family, std::uint16_t flags, std::uint32_t seq) {
  return nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(at), type, static_cast<std::uint16_t>(family),
                               static_cast<std::uint16_t>(flags | NLM_F_ACK), seq);
}
}  // namespace

void Batch::add_table(const Table& table) {
  auto t = detail::make_table(table.family, table.name);
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_NEWTABLE, table.family, NLM_F_CREATE, seq_for(size()));
  nftnl_table_nlmsg_build_payload(nlh, t.get());
  finish(object(table, "add table", ""));
}

void Batch::delete_table(const Table& table) {
  auto t = detail::make_table(table.family, table.name);
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_DELTABLE, table.family, 0, seq_for(size()));
  nftnl_table_nlmsg_build_payload(nlh, t.get());
  finish(object(table, "delete table", ""));
}

void Batch::add_chain(const Table& table, const Chain& chain) {
  auto c = detail::make_chain(table.family, table.name, chain.name, chain.hook);
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_NEWCHAIN, table.family, NLM_F_CREATE, seq_for(size()));
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
  finish(object(table, "add chain", chain.name));
}

void Batch::flush_chain(const Table& table, const std::string& chain) {
  detail::RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, static_cast<std::uint32_t>(table.family));
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.name.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_DELRULE, table.family, 0, seq_for(size()));
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
  finish(object(table, "flush chain", chain));
}

void Batch::delete_chain(const Table& table, const std::string& chain) {
  auto c = detail::make_chain(table.family, table.name, chain, std::nullopt);
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_DELCHAIN, table.family, 0, seq_for(size()));
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
  finish(object(table, "delete chain", chain));
}

void Batch::add_rule(const Table& table, const std::string& chain, const Rule& rule) {
  // Anonymous sets first: the rule binds them by batch id.
  std::vector<std::uint32_t> anon_ids;
  for (const auto& x : rule.exprs) {
    const auto* l = std::get_if<Lookup>(&x);
    if (l == nullptr || !l->inline_set) continue;
    std::uint32_t id = next_set_id_++;
    anon_ids.push_back(id);
    Set header_only = *l->inline_set;
    header_only.elements.clear();
    if (header_only.name.empty()) header_only.name = header_only.is_map() ? "__map%d" : "__set%d";
    header_only.flags |= NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
    auto s = detail::make_set(table.family, table.name, header_only, id);
    auto* nlh = header(reserve(kMaxMessage), NFT_MSG_NEWSET, table.family, NLM_F_CREATE, seq_for(size()));
    nftnl_set_nlmsg_build_payload(nlh, s.get());
    finish(object(table, "add anonymous set for rule in chain", chain));
    add_elements_impl(table, header_only.name, id, l->inline_set->elements, false);
  }
  // Copy the rule only when anonymous set names must be filled in: a full
  // sync encodes 160k rules at 10k services, and copying each one's
  // expressions was a large share of its allocations.
  const Rule* encode = &rule;
  Rule named;
  if (!anon_ids.empty()) {
    named = rule;
    for (auto& x : named.exprs) {  // anonymous names must match the sets above
      auto* l = std::get_if<Lookup>(&x);
      if (l != nullptr && l->inline_set && l->inline_set->name.empty()) {
        l->inline_set->name = l->inline_set->is_map() ? "__map%d" : "__set%d";
      }
    }
    encode = &named;
  }
  auto r = detail::make_rule(table.family, table.name, chain, *encode, anon_ids);
  if (!r.ok()) {
    if (status_.ok()) status_ = r.status().with_context(object(table, "add rule in chain", chain));
    return;
  }
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_NEWRULE, table.family, NLM_F_CREATE | NLM_F_APPEND,
                     seq_for(size()));
  nftnl_rule_nlmsg_build_payload(nlh, r->get());
  std::string what = object(table, "add rule #" + std::to_string(++rules_in_chain_[chain]) + " in chain", chain);
  if (!rule.comment.empty()) what += " (comment \"" + rule.comment + "\")";
  finish(std::move(what));
}

void Batch::add_set(const Table& table, const Set& set) {
  // The kernel requires a batch-local id on every new set.
  auto s = detail::make_set(table.family, table.name, set, next_set_id_++);
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_NEWSET, table.family, NLM_F_CREATE, seq_for(size()));
  nftnl_set_nlmsg_build_payload(nlh, s.get());
  finish(object(table, set.is_map() ? "add map" : "add set", set.name));
}

void Batch::delete_set(const Table& table, const std::string& set) {
  Set named;
  named.name = set;
  auto s = detail::make_set(table.family, table.name, named, 0);
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_DELSET, table.family, 0, seq_for(size()));
  nftnl_set_nlmsg_build_payload(nlh, s.get());
  finish(object(table, "delete set", set));
}

void Batch::flush_set(const Table& table, const std::string& set) {
  detail::SetPtr s(nftnl_set_alloc());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, static_cast<std::uint32_t>(table.family));
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.name.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set.c_str());
  // DELSETELEM without an element list flushes the set.
  auto* nlh = header(reserve(kMaxMessage), NFT_MSG_DELSETELEM, table.family, 0, seq_for(size()));
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  finish(object(table, "flush set", set));
}

void Batch::add_elements(const Table& table, const std::string& set, std::span<const Element> elements) {
  add_elements_impl(table, set, 0, elements, false);
}

void Batch::delete_elements(const Table& table, const std::string& set, std::span<const Element> elements) {
  add_elements_impl(table, set, 0, elements, true);
}

// Elements are encoded with libmnl straight into the batch: going through
// a libnftnl object per element (allocate, copy in, encode, free) cost more
// than everything else of a full sync's encoding at 10k services.
void Batch::add_elements_impl(const Table& table, const std::string& set, std::uint32_t set_id,
                              std::span<const Element> elements, bool del) {
  auto put_value = [](nlmsghdr* nlh, std::uint16_t type, const ElementBytes& v) {
    auto* nest = mnl_attr_nest_start(nlh, type);
    mnl_attr_put(nlh, NFTA_DATA_VALUE, v.size(), v.data());
    mnl_attr_nest_end(nlh, nest);
  };
  std::size_t i = 0;
  while (i < elements.size()) {
    auto* nlh = header(reserve(kMaxMessage), del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, table.family,
                       del ? 0 : NLM_F_CREATE, seq_for(size()));
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.name.c_str());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set.c_str());
    if (set_id != 0) mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(set_id));
    auto* list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
    const std::size_t first = i;
    while (i < elements.size() && nlh->nlmsg_len < kElementChunkBytes) {
      const auto& el = elements[i];
      auto* one = mnl_attr_nest_start(nlh, static_cast<std::uint16_t>(i - first + 1));
      if (el.flags != 0) mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(el.flags));
      if (el.timeout_ms != 0) mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(el.timeout_ms));
      put_value(nlh, NFTA_SET_ELEM_KEY, el.key);
      if (el.verdict) {
        auto* data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
        auto* verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
        mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl(static_cast<std::uint32_t>(el.verdict->code)));
        if (!el.verdict->chain.empty()) mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, el.verdict->chain.c_str());
        mnl_attr_nest_end(nlh, verdict);
        mnl_attr_nest_end(nlh, data);
      } else if (!el.data.empty()) {
        put_value(nlh, NFTA_SET_ELEM_DATA, el.data);
      }
      mnl_attr_nest_end(nlh, one);
      ++i;
    }
    mnl_attr_nest_end(nlh, list);
    finish(object(table, del ? "delete elements from set" : "add elements to set", set) + " (elements " +
           std::to_string(first) + ".." + std::to_string(i - 1) + ")");
  }
}

std::vector<std::uint8_t> Batch::datagram() const {
  std::vector<std::uint8_t> out(buf_.get(), buf_.get() + len_);
  out.resize(len_ + NLMSG_HDRLEN * 2);
  auto* end = nftnl_batch_end(reinterpret_cast<char*>(out.data() + len_), seq_for(size()));
  out.resize(len_ + end->nlmsg_len);
  return out;
}

Status Batch::commit(Transport& transport) {
  KEDGE_RETURN_IF_ERROR(status_);
  if (empty()) return ok_status();
  // Only the last message asks for an ack: the kernel reports every failed
  // message anyway (and a failed commit against the batch), so one ack
  // proves the batch went through, instead of one ack skb per message
  // (280k of them for 10k services, which cost seconds to create and read).
  std::size_t last_offset = 0;
  {
    std::size_t off = reinterpret_cast<nlmsghdr*>(buf_.get())->nlmsg_len;  // after BATCH_BEGIN
    off = NLMSG_ALIGN(off);
    while (off < len_) {
      auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.get() + off);
      nlh->nlmsg_flags = static_cast<std::uint16_t>(nlh->nlmsg_flags & ~NLM_F_ACK);
      last_offset = off;
      off += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    auto* last = reinterpret_cast<nlmsghdr*>(buf_.get() + last_offset);
    last->nlmsg_flags = static_cast<std::uint16_t>(last->nlmsg_flags | NLM_F_ACK);
  }
  auto* end = nftnl_batch_end(reinterpret_cast<char*>(reserve(NLMSG_HDRLEN * 2)), seq_for(size()));
  const std::size_t total = len_ + end->nlmsg_len;
  KEDGE_RETURN_IF_ERROR(transport.reserve(total, 64));
  KEDGE_RETURN_IF_ERROR(transport.send(std::span(buf_.get(), total)).with_context("send nftables batch"));

  // The kernel processes the whole batch inside sendmsg(), so every reply is
  // already queued; the timeout only guards against a lost reply. Read
  // until the queue is empty: errors may come along with the last ack.
  const std::uint32_t last_seq = seq_for(size() - 1);
  bool last_acked = false;
  std::optional<std::pair<std::size_t, Reply>> first_error;
  std::vector<Reply> replies;
  while (true) {
    auto got = transport.receive(last_acked || first_error ? std::chrono::milliseconds(0) : std::chrono::milliseconds(5000));
    if (!got.ok()) return got.status().with_context("reading nftables batch replies");
    if (!got->has_value()) break;
    replies.clear();
    parse_replies(**got, replies);
    for (auto& r : replies) {
      if (r.seq < seq_base_ || r.seq > last_seq) continue;
      if (r.error == 0) {
        if (r.seq == last_seq) last_acked = true;
        continue;
      }
      // seq_base_ (BATCH_BEGIN) = the commit itself failed.
      std::size_t index = r.seq == seq_base_ ? size() : r.seq - seq_base_ - 1;
      if (!first_error || index < first_error->first) first_error.emplace(index, std::move(r));
    }
  }
  if (first_error) {
    const auto& [index, r] = *first_error;
    std::string msg = (index < size() ? describe(index) : std::string("commit")) + ": " + std::strerror(r.error);
    if (!r.message.empty()) msg += " (" + r.message + ")";
    msg += "; batch of " + std::to_string(size()) + " messages rolled back";
    Code code = r.error == EEXIST ? Code::kAlreadyExists
                : r.error == ENOENT ? Code::kNotFound
                : (r.error == EPERM || r.error == EACCES) ? Code::kPermissionDenied
                : r.error == EINVAL || r.error == ERANGE || r.error == EOVERFLOW ? Code::kInvalidArgument
                : Code::kUnavailable;
    return {code, msg};
  }
  if (!last_acked) {
    return unavailable("nftables batch of " + std::to_string(size()) +
                       " messages was never acknowledged; kernel state unknown");
  }
  return ok_status();
}

}  // namespace kedge::netlink
