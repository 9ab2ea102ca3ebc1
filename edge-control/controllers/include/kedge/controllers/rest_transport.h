// RestTransport: Transport over HTTPS with a RestClient and one
// client::Informer (and thread) per watched resource.
//
// Threads: start() starts one informer thread per watched resource; stop()
// stops and joins them. Ownership: borrows the RestClient (must outlive this).
#pragma once

#include <map>
#include <memory>
#include <thread>

#include "kedge/client/rest_client.h"
#include "kedge/controllers/transport.h"

namespace kedge::controllers {

class RestTransport final : public Transport {
 public:
  explicit RestTransport(client::RestClient& client) : client_(client) {}
  ~RestTransport() override;

  void watch(const Resource& resource, client::InformerHandler* handler) override;
  void start() override;
  bool wait_for_sync() override;
  void stop() override;

  Object get(const Resource& resource, std::string_view ns, std::string_view name) const override;
  std::vector<Object> list(const Resource& resource, std::string_view ns) const override;

  Result<boost::json::value> get_live(const Resource& resource, std::string_view ns,
                                      std::string_view name) override;
  Result<boost::json::value> create(const Resource& resource, std::string_view ns,
                                    const boost::json::value& obj) override;
  Result<boost::json::value> update(const Resource& resource, const boost::json::value& obj) override;
  Result<boost::json::value> update_status(const Resource& resource, const boost::json::value& obj) override;
  Result<boost::json::value> patch(const Resource& resource, std::string_view ns, std::string_view name,
                                   const boost::json::value& merge_patch) override;
  Status remove(const Resource& resource, std::string_view ns, std::string_view name,
                const DeleteOptions& options) override;

 private:
  client::RestClient& client_;
  // Constant after start().
  std::map<Resource, std::unique_ptr<client::Informer>> informers_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace kedge::controllers
