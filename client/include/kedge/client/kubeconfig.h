// Kubeconfig: where an API server is and how to authenticate to it, read
// from the same YAML files kubectl uses (only the current context matters).
//
// Plain value; thread-compatible.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "kedge/base/status.h"

namespace kedge::client {

struct Kubeconfig {
  std::string server;           // https://host:port
  std::string ca_pem;           // cluster CA bundle (PEM); empty = system store
  std::string client_cert_pem;  // client certificate (PEM), may be empty
  std::string client_key_pem;   // its private key (PEM)
  std::string token;            // bearer token, may be empty
  bool insecure_skip_tls_verify = false;
  std::string context_namespace = "default";

  // Reads `path`; relative certificate paths resolve against its directory.
  static Result<Kubeconfig> load(const std::filesystem::path& path);
  // Parses kubeconfig YAML; `base_dir` resolves relative file references.
  // Errors name the missing or malformed entry ("context \"x\" not found").
  static Result<Kubeconfig> parse(std::string_view yaml, const std::filesystem::path& base_dir);
};

}  // namespace kedge::client
