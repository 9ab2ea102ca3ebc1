// etcd 3.4's error codes and messages (rpctypes/error.go). clientv3 and
// kube-apiserver match on the message text, so these strings are API.
#pragma once

#include <string>

#include "kedge/base/status.h"

namespace kedge::store::etcd_errors {

inline Status empty_key() { return invalid_argument("etcdserver: key is not provided"); }
inline Status key_not_found() { return invalid_argument("etcdserver: key not found"); }
inline Status value_provided() { return invalid_argument("etcdserver: value is provided"); }
inline Status lease_provided() { return invalid_argument("etcdserver: lease is provided"); }
inline Status too_many_ops() { return invalid_argument("etcdserver: too many operations in txn request"); }
inline Status duplicate_key() { return invalid_argument("etcdserver: duplicate key given in txn request"); }
inline Status compacted() { return out_of_range("etcdserver: mvcc: required revision has been compacted"); }
inline Status future_rev() { return out_of_range("etcdserver: mvcc: required revision is a future revision"); }
inline Status lease_not_found() { return not_found("etcdserver: requested lease not found"); }
inline Status lease_exists() { return failed_precondition("etcdserver: lease already exists"); }
inline Status lease_ttl_too_large() { return out_of_range("etcdserver: too large lease TTL"); }
inline Status request_too_large() { return invalid_argument("etcdserver: request is too large"); }
inline Status stopped() { return unavailable("etcdserver: server stopped"); }

}  // namespace kedge::store::etcd_errors
