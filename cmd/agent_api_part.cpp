// The "agent-api" part: the node's :10250 HTTPS API (agent/agent_api.h),
// which edge-control calls for `kubectl logs`.
//
// Certificates. On the server's own node the cluster CA key is at hand
// (<data-dir>/server/tls/ca.key): the part issues its serving certificate
// from it at every start (CN and DNS SAN = node name, IP SANs = node IPs and
// 127.0.0.1, so edge-control can verify the address it dials) and trusts the
// cluster CA for clients. A remote `kedge agent` has no CA key: it serves
// with --agent-api-tls-cert-file/--agent-api-tls-key-file (issued from the
// cluster CA by the operator) and trusts the CA in its kubeconfig; without
// them the part does not start its API and says why. (A CSR flow that gets
// the certificate signed through the API is the planned replacement.)
#include <filesystem>
#include <fstream>
#include <memory>

#include "kedge/agent/agent_api.h"
#include "kedge/base/log.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/control/pki.h"
#include "kedge/cri/runtime_client.h"
#include "part.h"

namespace kedge::cmd {
namespace {

namespace fs = std::filesystem;

struct AgentApiFlags {
  std::string bind_address = "0.0.0.0";
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string cri_endpoint;
};

Status write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return internal_error("writing " + path.string() + " failed");
  return ok_status();
}

class AgentApiPart final : public Part {
 public:
  const char* name() const override { return "agent-api"; }

  void add_flags(flags::FlagSet& set) override {
    set.add("agent-api-bind-address", &f_.bind_address, "address the agent API (:10250) listens on");
    set.add("agent-api-tls-cert-file", &f_.tls_cert_file,
            "agent API serving certificate; default: issued from the cluster CA when this node has it");
    set.add("agent-api-tls-key-file", &f_.tls_key_file, "key of --agent-api-tls-cert-file");
    set.add("agent-api-cri-endpoint", &f_.cri_endpoint,
            "CRI socket exec runs through; default: the managed containerd's under the data dir");
  }

  Status start(const NodeEnvironment& env) override {
    auto logger = log::logger("agent-api");
    const fs::path dir = fs::path(env.data_dir) / "agent-api";
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return internal_error("creating " + dir.string() + ": " + ec.message());
    agent::AgentApiOptions o{.bind_address = f_.bind_address,
                             .port = static_cast<int>(env.agent_api_port),
                             .pod_log_dir = env.pod_log_dir};
    const fs::path tls = fs::path(env.data_dir) / "server" / "tls";
    if (!f_.tls_cert_file.empty()) {
      o.cert_file = f_.tls_cert_file;
      o.key_file = f_.tls_key_file;
    } else if (fs::exists(tls / "ca.key")) {
      control::PkiFiles ca{.ca_cert = tls / "ca.crt", .ca_key = tls / "ca.key"};
      std::vector<std::string> ips = env.node_ips;
      ips.emplace_back("127.0.0.1");
      o.cert_file = dir / "serving.crt";
      o.key_file = dir / "serving.key";
      KEDGE_RETURN_IF_ERROR(control::issue_serving_cert(ca, env.node_name, {env.node_name, "localhost"}, ips,
                                                        o.cert_file, o.key_file)
                                .with_context("issuing the agent API certificate"));
    } else {
      logger->warn("agent API not started: no cluster CA key on this node and no --agent-api-tls-cert-file "
                   "(kubectl logs will not reach this node)");
      return ok_status();
    }
    if (fs::exists(tls / "ca.crt")) {
      o.client_ca_file = tls / "ca.crt";
    } else {
      KEDGE_ASSIGN_OR_RETURN(auto kc, client::Kubeconfig::load(env.kubeconfig));
      if (kc.ca_pem.empty()) return invalid_argument("the kubeconfig has no cluster CA to verify edge-control with");
      o.client_ca_file = dir / "client-ca.crt";
      KEDGE_RETURN_IF_ERROR(write_text(o.client_ca_file, kc.ca_pem));
    }
    if (!env.kubeconfig.empty()) {
      auto kc = client::Kubeconfig::load(env.kubeconfig);
      if (kc.ok()) {
        auto rest = client::RestClient::create({.config = *kc, .user_agent = "kedge-agent-api"});
        if (rest.ok()) client_ = std::move(*rest);
      }
    }
    if (client_) {
      const std::string path = "/api/v1/pods?fieldSelector=spec.nodeName%3D" + env.node_name;
      o.list_pods = [this, path]() -> Result<std::string> {
        KEDGE_ASSIGN_OR_RETURN(auto resp, client_->request({.path = path}));
        if (resp.status != 200) return client::status_from_response(resp);
        return std::move(resp.body);
      };
    }
    // Exec goes through the node's runtime: the managed containerd the kubelet
    // part started before this part (an external runtime: --agent-api-cri-endpoint).
    const std::string endpoint = !f_.cri_endpoint.empty()
                                     ? f_.cri_endpoint
                                     : "unix://" + (fs::path(env.data_dir) / "containerd" / "containerd.sock").string();
    auto runtime = cri::connect({.endpoint = endpoint, .connect_timeout = std::chrono::seconds(2)});
    if (runtime.ok()) {
      runtime_ = std::move(*runtime);
      o.runtime = runtime_.get();
    } else {
      logger->warn("exec unavailable: no container runtime at {}: {}", endpoint, runtime.status().message());
    }
    api_ = std::make_unique<agent::AgentApi>(std::move(o));
    KEDGE_RETURN_IF_ERROR(api_->start());
    logger->info("agent API listening on {}:{} (logs from {})", f_.bind_address, api_->port(), env.pod_log_dir);
    return ok_status();
  }

  void stop() override {
    if (api_) api_->stop();
    api_.reset();
    client_.reset();
    runtime_.reset();
  }

 private:
  AgentApiFlags f_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<cri::RuntimeClient> runtime_;
  std::unique_ptr<agent::AgentApi> api_;
};

}  // namespace

std::unique_ptr<Part> make_agent_api_part() { return std::make_unique<AgentApiPart>(); }

}  // namespace kedge::cmd
