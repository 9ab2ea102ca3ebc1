#include "kedge/client/kubeconfig.h"

#include <fstream>
#include <sstream>

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

namespace kedge::client {
namespace {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_status("read " + path.string(), errno);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::string> base64_decode(const std::string& in, std::string_view what) {
  std::string compact;
  for (char c : in) {
    if (c != '\n' && c != '\r' && c != ' ') compact += c;
  }
  if (compact.size() % 4 != 0) return invalid_argument(std::string(what) + ": not base64");
  std::string out(compact.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(compact.data()),
                                static_cast<int>(compact.size()));
  if (n < 0) return invalid_argument(std::string(what) + ": not base64");
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding bytes as output; drop them.
  if (!compact.empty() && compact.back() == '=') --len;
  if (compact.size() > 1 && compact[compact.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

// `<field>-data` (base64) wins over `<field>` (a path), as in client-go.
Result<std::string> inline_or_file(const YAML::Node& node, const std::string& field,
                                   const std::filesystem::path& base_dir) {
  if (auto data = node[field + "-data"]; data && data.IsScalar()) {
    return base64_decode(data.as<std::string>(), field + "-data");
  }
  if (auto file = node[field]; file && file.IsScalar()) {
    std::filesystem::path p = file.as<std::string>();
    if (p.is_relative()) p = base_dir / p;
    return read_file(p);
  }
  return std::string();
}

const YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* inner) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item[inner];
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace

Result<Kubeconfig> Kubeconfig::load(const std::filesystem::path& path) {
  KEDGE_ASSIGN_OR_RETURN(std::string text, read_file(path));
  auto parsed = parse(text, path.parent_path());
  if (!parsed.ok()) return parsed.status().with_context("kubeconfig " + path.string());
  return parsed;
}

Result<Kubeconfig> Kubeconfig::parse(std::string_view yaml, const std::filesystem::path& base_dir) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap()) return invalid_argument("not a kubeconfig (want a YAML map)");
    const std::string context_name =
        root["current-context"] ? root["current-context"].as<std::string>() : "";
    if (context_name.empty()) return invalid_argument("no current-context");
    const YAML::Node context = find_named(root["contexts"], context_name, "context");
    if (!context) return not_found("context \"" + context_name + "\" not found");
    const std::string cluster_name = context["cluster"] ? context["cluster"].as<std::string>() : "";
    const YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
    if (!cluster) return not_found("cluster \"" + cluster_name + "\" not found");
    Kubeconfig out;
    if (!cluster["server"]) return invalid_argument("cluster \"" + cluster_name + "\" has no server");
    out.server = cluster["server"].as<std::string>();
    while (!out.server.empty() && out.server.back() == '/') out.server.pop_back();
    if (auto skip = cluster["insecure-skip-tls-verify"]) out.insecure_skip_tls_verify = skip.as<bool>();
    KEDGE_ASSIGN_OR_RETURN(out.ca_pem, inline_or_file(cluster, "certificate-authority", base_dir));
    if (context["namespace"]) out.context_namespace = context["namespace"].as<std::string>();
    if (context["user"]) {
      const std::string user_name = context["user"].as<std::string>();
      const YAML::Node user = find_named(root["users"], user_name, "user");
      if (!user) return not_found("user \"" + user_name + "\" not found");
      KEDGE_ASSIGN_OR_RETURN(out.client_cert_pem, inline_or_file(user, "client-certificate", base_dir));
      KEDGE_ASSIGN_OR_RETURN(out.client_key_pem, inline_or_file(user, "client-key", base_dir));
      if (user["token"]) out.token = user["token"].as<std::string>();
    }
    return out;
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string("kubeconfig YAML: ") + e.what());
  }
}

}  // namespace kedge::client
