// The cluster's certificates: a CA, the API server's serving certificate and
// the admin client certificate, created at first start under <dir> and
// reused afterwards; plus the admin kubeconfig that embeds them.
//
// Thread-safety: free functions; call from one thread (startup).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::control {

struct PkiOptions {
  std::filesystem::path dir;           // <data-dir>/server/tls
  std::vector<std::string> dns_names;  // serving cert DNS SANs
  std::vector<std::string> ip_addresses;  // serving cert IP SANs
};

struct PkiFiles {
  std::filesystem::path ca_cert, ca_key;
  std::filesystem::path server_cert, server_key;
  std::filesystem::path admin_cert, admin_key;
};

// Creates what is missing (keys: EC P-256, mode 0600; CA 10 years, leaves
// 1 year) and reuses what exists. A serving certificate that expires within
// 30 days, or lacks one of the requested SANs, is re-issued from the same CA.
Result<PkiFiles> ensure_pki(const PkiOptions& options);

// The SANs every serving certificate carries (see the issue): loopback,
// localhost, the hostname, the node's addresses, the first service IP and the
// in-cluster names of the kubernetes service.
PkiOptions default_pki_options(const std::filesystem::path& dir,
                               const std::vector<std::string>& extra_sans);

// Writes a kubeconfig (mode 0600, atomically) for `server_url` with the CA and
// the admin client certificate embedded.
Status write_admin_kubeconfig(const PkiFiles& files, const std::string& server_url,
                              const std::filesystem::path& out);

// Issues a client certificate signed by the CA (CN = user, O = groups).
Status issue_client_cert(const PkiFiles& files, const std::string& user,
                         const std::vector<std::string>& groups,
                         const std::filesystem::path& cert_out,
                         const std::filesystem::path& key_out);

// Issues a serving certificate signed by the CA (the agent API's: CN and
// DNS SANs = node name, IP SANs = node addresses and 127.0.0.1).
Status issue_serving_cert(const PkiFiles& files, const std::string& common_name,
                          const std::vector<std::string>& dns_names,
                          const std::vector<std::string>& ip_addresses,
                          const std::filesystem::path& cert_out,
                          const std::filesystem::path& key_out);

}  // namespace kedge::control
