// In-process access to this process's API server for client::RestClient:
// the scheduler, controllers and leader election inside `kedge server` send
// their requests through ApiServer::serve_local instead of loopback HTTPS.
// Each request still passes authentication (as the admin, system:masters),
// authorization, admission, defaulting, validation and the registry's
// resourceVersion checks, exactly as a network request would; what is
// skipped is TLS, HTTP framing, the socket and the hop through the HTTP
// server's io and worker threads. The request runs on the caller's thread
// (a controller worker, a scheduler binder, an informer thread), so the
// number of concurrent store writes is the callers' — many bindings in
// flight reach the store's group commit together.
//
// Watches and log follows are refused (Unimplemented): a RestClient with
// `local` set keeps using its kubeconfig's server for streams. A large list
// the server writes in chunks is collected into one body.
//
// Thread-safety: the returned function may be called from any thread.
// Ownership: it borrows the ApiServer, which must outlive every call.
#pragma once

#include "kedge/client/rest_client.h"
#include "kedge/control/api_server.h"

namespace kedge::control {

client::LocalRoundTrip local_round_trip(ApiServer& server);

}  // namespace kedge::control
