// An nftables transaction: messages between BATCH_BEGIN and BATCH_END that
// the kernel applies all-or-nothing on commit.
//
// Every message carries its own sequence number; only the last one asks for
// an ack (the kernel reports a failed message without being asked, and one
// ack per message cost seconds at 10k services). commit() reads every reply;
// an error reply is matched back by sequence number to the operation that
// caused it, so the Status names the object
// ("add rule ip kedge-proxy service-X...: No such file or directory (Could
// not process rule)"). A failed batch changes nothing in the kernel.
//
// Thread-safety: none; build and commit from one thread.
// Ownership: the Batch owns the encoded bytes; add_* copy what they need.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/netlink/model.h"
#include "kedge/netlink/transport.h"

namespace kedge::netlink {

class Batch {
 public:
  Batch();
  ~Batch();
  Batch(Batch&&) noexcept;
  Batch& operator=(Batch&&) noexcept;

  // Creates the table if missing (never fails because it exists).
  void add_table(const Table& table);
  void delete_table(const Table& table);
  // Creates the chain (without rules) if missing; base chains get their hook.
  void add_chain(const Table& table, const Chain& chain);
  // Removes every rule of the chain.
  void flush_chain(const Table& table, const std::string& chain);
  // REQUIRES: nothing jumps to the chain any more (flush referrers first).
  void delete_chain(const Table& table, const std::string& chain);
  // Appends a rule; anonymous sets inside (Lookup::inline_set) are created
  // with it, in this batch.
  void add_rule(const Table& table, const std::string& chain, const Rule& rule);
  // Creates the set (without elements) if missing.
  void add_set(const Table& table, const Set& set);
  void delete_set(const Table& table, const std::string& set);
  // Removes every element of the set.
  void flush_set(const Table& table, const std::string& set);
  // Element messages are split so no attribute nest outgrows 64 KiB.
  void add_elements(const Table& table, const std::string& set, std::span<const Element> elements);
  void delete_elements(const Table& table, const std::string& set, std::span<const Element> elements);

  // Number of messages (operations) in the batch, and encoded size.
  std::size_t size() const { return what_.size(); }
  std::size_t bytes() const { return len_; }
  bool empty() const { return what_.empty(); }

  // The raw datagram commit() sends (BEGIN, messages, END), for tests.
  std::vector<std::uint8_t> datagram() const;
  // Describes message i ("add chain ip t services").
  const std::string& describe(std::size_t i) const { return what_.at(i); }

  // Sends the batch and checks the replies (errors, the final ack).
  // REQUIRES: called once.
  Status commit(Transport& transport);

 private:
  std::uint8_t* reserve(std::size_t bytes);
  // Appends the message built at the tail; `what` names it for errors.
  void finish(std::string what);
  void add_elements_impl(const Table& table, const std::string& set, std::uint32_t set_id,
                         std::span<const Element> elements, bool del);
  std::uint32_t seq_for(std::size_t index) const { return seq_base_ + 1 + static_cast<std::uint32_t>(index); }

  // Encoded messages, starting with BATCH_BEGIN, in an anonymous mapping
  // grown by mremap(): a full sync at 10k services encodes tens of MB, and
  // growing a heap buffer copied it at every doubling (and page-faulted each
  // copy in: ~9% of a full sync's CPU); freeing it returns it to the system
  // at once instead of fragmenting malloc's heap.
  struct Unmap {
    std::size_t bytes;
    void operator()(std::uint8_t* p) const;
  };
  std::unique_ptr<std::uint8_t, Unmap> buf_{nullptr, Unmap{0}};
  std::size_t cap_ = 0;
  std::size_t len_ = 0;
  std::vector<std::string> what_;
  std::uint32_t seq_base_;
  std::uint32_t next_set_id_ = 1;
  std::unordered_map<std::string, std::uint32_t> rules_in_chain_;  // rules added per chain, for messages
  Status status_;  // first encoding error, returned by commit()
};

}  // namespace kedge::netlink
