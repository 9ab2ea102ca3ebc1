// An in-memory API for controller tests: objects per resource, uids,
// generateName, resourceVersions, generation bumps on spec changes, merge
// patches, and informer handlers called synchronously after each write (as
// a watch would deliver them, minus the latency).
// Thread-safety: every method may be called from any thread; handlers are
// called without the lock held.
#pragma once

#include <functional>
#include <map>
#include <mutex>

#include "kedge/controllers/transport.h"

namespace kedge::controllers::testing {

class FakeTransport final : public Transport {
 public:
  void watch(const Resource& resource, client::InformerHandler* handler) override;
  void start() override {}
  bool wait_for_sync() override { return true; }
  void stop() override {}

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

  // Test-side mutation without API semantics (e.g. a kubelet's status).
  void put(const Resource& resource, boost::json::value obj);
  int writes(const std::string& verb) const;
  // While lagging, creates succeed but stay invisible to get/list and
  // handlers until catch_up(): an informer that has not seen them yet.
  void set_lagging(bool lagging);
  void catch_up();
  // Fails the next `n` creates with `status`.
  void fail_creates(int n, Status status);

 private:
  using Store = std::map<std::string, Object>;
  Result<boost::json::value> store_locked(const Resource& r, boost::json::value obj, bool is_new,
                                          std::vector<std::function<void()>>& notify);
  void notify_update(const Resource& r, Object old_obj, Object obj, std::vector<std::function<void()>>& notify);

  mutable std::mutex mu_;
  std::map<std::string, Store> stores_;  // collection path → key → object
  std::map<std::string, std::vector<client::InformerHandler*>> handlers_;
  std::map<std::string, int> writes_;
  std::int64_t rv_ = 100;
  int name_seq_ = 0;
  int fail_creates_ = 0;
  bool lagging_ = false;
  std::vector<std::pair<Resource, boost::json::value>> pending_;
  Status fail_status_;
};

}  // namespace kedge::controllers::testing
