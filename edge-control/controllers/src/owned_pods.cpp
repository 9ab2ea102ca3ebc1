#include "kedge/controllers/owned_pods.h"

#include "kedge/api/meta.h"

namespace kedge::controllers {

void OwnedPodHandler::enqueue(const boost::json::value& pod, bool added, bool deleted) {
  auto ref = api::get_controller_ref(pod);
  if (!ref || ref->kind != owner_kind_) return;
  std::string key = std::string(api::get_namespace(pod)) + "/" + ref->name;
  if (added) expectations_.creation_observed(key);
  if (deleted) expectations_.deletion_observed(key);
  queue_.add(key);
}

}  // namespace kedge::controllers
