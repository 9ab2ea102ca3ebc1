// Internal: conversion between the typed model and libnftnl objects, with
// RAII owners for the libnftnl types. Not installed; only netlink/src uses it.
#pragma once

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include <memory>
#include <string>

#include "kedge/netlink/model.h"

namespace kedge::netlink::detail {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using TablePtr = std::unique_ptr<nftnl_table, Deleter<nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Deleter<nftnl_chain_free>>;
using SetPtr = std::unique_ptr<nftnl_set, Deleter<nftnl_set_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, Deleter<nftnl_rule_free>>;
using ExprPtr = std::unique_ptr<nftnl_expr, Deleter<nftnl_expr_free>>;

TablePtr make_table(Family family, const std::string& name);
ChainPtr make_chain(Family family, const std::string& table, const std::string& name,
                    const std::optional<BaseHook>& hook);
// A set header (no elements). `id` > 0 names it within a batch.
SetPtr make_set(Family family, const std::string& table, const Set& set, std::uint32_t id);
// `anon_ids` gives, for each Lookup with an inline set (in order), the batch
// id of the anonymous set created for it just before the rule.
Result<RulePtr> make_rule(Family family, const std::string& table, const std::string& chain,
                          const Rule& rule, const std::vector<std::uint32_t>& anon_ids);

Chain decode_chain(nftnl_chain* c);
Set decode_set(nftnl_set* s);  // without elements
std::vector<Element> decode_elements(nftnl_set* s);
// Lookups keep the set name; the reader attaches anonymous sets afterwards.
Result<Rule> decode_rule(nftnl_rule* r);

}  // namespace kedge::netlink::detail
