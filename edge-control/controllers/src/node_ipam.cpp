#include "kedge/controllers/node_ipam.h"

#include <arpa/inet.h>

#include <boost/json.hpp>

#include "json_path.h"
#include "kedge/api/meta.h"
#include "kedge/base/log.h"

namespace kedge::controllers {

namespace json = boost::json;

namespace {

struct Cidr {
  std::uint32_t addr = 0;
  int bits = 0;
};

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string ip(text.substr(0, slash));
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) return std::nullopt;
  int bits = 0;
  auto rest = text.substr(slash + 1);
  if (rest.empty() || rest.size() > 2) return std::nullopt;
  for (char c : rest) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits > 32) return std::nullopt;
  return Cidr{ntohl(a.s_addr), bits};
}

}  // namespace

class NodeIpamController::Handler final : public client::InformerHandler {
 public:
  explicit Handler(NodeIpamController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }
  void on_delete(const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }

 private:
  NodeIpamController& c_;
};

Status NodeIpamController::validate(const NodeIpamOptions& options) {
  auto cidr = parse_cidr(options.cluster_cidr);
  if (!cidr) return invalid_argument("--cluster-cidr=" + options.cluster_cidr + ": want an IPv4 CIDR a.b.c.d/n");
  if (options.node_mask_size < cidr->bits || options.node_mask_size > 30) {
    return invalid_argument("--node-cidr-mask-size=" + std::to_string(options.node_mask_size) + ": want " +
                            std::to_string(cidr->bits) + "..30 for --cluster-cidr=" + options.cluster_cidr);
  }
  return ok_status();
}

NodeIpamController::NodeIpamController(Transport& transport, NodeIpamOptions options)
    : Controller("node-ipam", transport, options.queue), options_(std::move(options)) {
  if (auto cidr = parse_cidr(options_.cluster_cidr); cidr && validate(options_).ok()) {
    const std::uint32_t mask = cidr->bits == 0 ? 0 : ~std::uint32_t{0} << (32 - cidr->bits);
    base_ = cidr->addr & mask;
    subnets_ = std::uint32_t{1} << (options_.node_mask_size - cidr->bits);
  }
}

NodeIpamController::~NodeIpamController() { stop(); }

void NodeIpamController::register_watches() {
  handler_ = std::make_unique<Handler>(*this);
  transport_.watch(nodes_resource(), handler_.get());
}

void NodeIpamController::resync_all() {
  for (const auto& node : transport_.list(nodes_resource(), "")) queue().add(std::string(api::get_name(*node)));
}

std::string NodeIpamController::format(std::uint32_t index) const {
  const std::uint32_t addr = base_ + (index << (32 - options_.node_mask_size));
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(options_.node_mask_size);
}

std::optional<std::uint32_t> NodeIpamController::index_of(std::string_view text) const {
  auto cidr = parse_cidr(text);
  if (!cidr || cidr->bits != options_.node_mask_size || cidr->addr < base_) return std::nullopt;
  const std::uint32_t index = (cidr->addr - base_) >> (32 - options_.node_mask_size);
  if (index >= subnets_ || format(index) != text) return std::nullopt;
  return index;
}

void NodeIpamController::rebuild_locked() {
  for (const auto& node : transport_.list(nodes_resource(), "")) {
    auto cidr = path::str_at(*node, {"spec", "podCIDR"});
    if (auto index = index_of(cidr)) {
      by_node_[std::string(api::get_name(*node))] = *index;
      used_.insert(*index);
    }
  }
  rebuilt_ = true;
}

Status NodeIpamController::sync(const std::string& key) {
  if (subnets_ == 0) return invalid_argument("node IPAM: " + validate(options_).message());
  Object node = transport_.get(nodes_resource(), "", key);
  std::uint32_t index = 0;
  {
    std::lock_guard lock(mu_);
    if (!rebuilt_) rebuild_locked();
    if (!node) {
      // Deleted: its subnet is free again.
      if (auto it = by_node_.find(key); it != by_node_.end()) {
        used_.erase(it->second);
        by_node_.erase(it);
      }
      return ok_status();
    }
    auto current = path::str_at(*node, {"spec", "podCIDR"});
    if (!current.empty()) {
      if (auto i = index_of(current)) {
        by_node_[key] = *i;
        used_.insert(*i);
      }
      return ok_status();
    }
    if (auto it = by_node_.find(key); it != by_node_.end()) {
      index = it->second;  // allocated, the write not yet seen
    } else {
      if (used_.size() >= subnets_) {
        log::logger("controllers")->warn("node {}: no pod CIDR left in {}", key, options_.cluster_cidr);
        return resource_exhausted("node IPAM: every /" + std::to_string(options_.node_mask_size) + " of " +
                                  options_.cluster_cidr + " is allocated");
      }
      while (used_.count(next_ % subnets_)) ++next_;
      index = next_ % subnets_;
      ++next_;
      used_.insert(index);
      by_node_[key] = index;
    }
  }
  const std::string cidr = format(index);
  json::object patch{{"spec", json::object{{"podCIDR", cidr}, {"podCIDRs", json::array{json::value(cidr)}}}}};
  auto r = transport_.patch(nodes_resource(), "", key, patch);
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound) return ok_status();  // the delete event frees it
    return r.status();
  }
  log::logger("controllers")->info("node {}: podCIDR {}", key, cidr);
  return ok_status();
}

}  // namespace kedge::controllers
