#include "kedge/control/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kedge/base/file.h"
#include "kedge/base/log.h"

namespace kedge::control {
namespace fs = std::filesystem;

namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct BioFree { void operator()(BIO* p) const { BIO_free_all(p); } };
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

constexpr long kCaDays = 3650;
constexpr long kLeafDays = 365;
constexpr long kRenewBeforeDays = 30;

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<PkeyPtr> new_key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return internal_error("EC key generation failed");
  return key;
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(bio.get());
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_string(bio.get());
}

Result<PkeyPtr> load_key(const fs::path& path) {
  KEDGE_ASSIGN_OR_RETURN(std::string pem, read_file(path));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return invalid_argument("not a PEM private key: " + path.string());
  return key;
}

Result<X509Ptr> load_cert(const fs::path& path) {
  KEDGE_ASSIGN_OR_RETURN(std::string pem, read_file(path));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return invalid_argument("not a PEM certificate: " + path.string());
  return cert;
}

Status add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return internal_error("bad certificate extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return {};
}

struct CertSpec {
  std::string common_name;
  std::vector<std::string> organizations;
  long days = kLeafDays;
  bool is_ca = false;
  bool server = false;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
};

// Signs `spec` for `key` with (issuer, issuer_key); self-signed when issuer is null.
Result<X509Ptr> make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.days * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& o : spec.organizations) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  KEDGE_RETURN_IF_ERROR(add_ext(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (spec.is_ca) {
    KEDGE_RETURN_IF_ERROR(add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE"));
    KEDGE_RETURN_IF_ERROR(
        add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"));
  } else {
    KEDGE_RETURN_IF_ERROR(add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
    KEDGE_RETURN_IF_ERROR(
        add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    KEDGE_RETURN_IF_ERROR(add_ext(cert.get(), signer, NID_ext_key_usage,
                                  spec.server ? "serverAuth" : "clientAuth"));
    KEDGE_RETURN_IF_ERROR(add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid:always"));
  }
  std::string san;
  for (const auto& d : spec.dns) san += (san.empty() ? "" : ",") + ("DNS:" + d);
  for (const auto& ip : spec.ips) san += (san.empty() ? "" : ",") + ("IP:" + ip);
  if (!san.empty()) KEDGE_RETURN_IF_ERROR(add_ext(cert.get(), signer, NID_subject_alt_name, san));
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return internal_error("signing certificate " + spec.common_name + " failed");
  }
  return cert;
}

Status write_pair(X509* cert, EVP_PKEY* key, const fs::path& cert_path, const fs::path& key_path) {
  KEDGE_RETURN_IF_ERROR(write_file_atomic(key_path, key_pem(key), 0600));
  return write_file_atomic(cert_path, cert_pem(cert), 0644);
}

// True when `cert` expires within kRenewBeforeDays or misses one of the SANs.
bool needs_reissue(X509* cert, const PkiOptions& options) {
  std::time_t soon = std::time(nullptr) + kRenewBeforeDays * 24 * 3600;
  if (X509_cmp_time(X509_get0_notAfter(cert), &soon) < 0) return true;
  for (const auto& d : options.dns_names) {
    if (X509_check_host(cert, d.c_str(), d.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1) {
      return true;
    }
  }
  for (const auto& ip : options.ip_addresses) {
    if (X509_check_ip_asc(cert, ip.c_str(), 0) != 1) return true;
  }
  return false;
}

}  // namespace

PkiOptions default_pki_options(const fs::path& dir, const std::vector<std::string>& extra_sans) {
  PkiOptions o;
  o.dir = dir;
  o.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"};
  o.ip_addresses = {"127.0.0.1", "::1", "10.43.0.1"};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') o.dns_names.emplace_back(host);
  ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) == 0) {
    for (ifaddrs* a = addrs; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
      char buf[INET6_ADDRSTRLEN] = {};
      if (a->ifa_addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      } else {
        continue;
      }
      o.ip_addresses.emplace_back(buf);
    }
    freeifaddrs(addrs);
  }
  for (const auto& san : extra_sans) {
    in6_addr tmp6{};
    in_addr tmp4{};
    if (inet_pton(AF_INET, san.c_str(), &tmp4) == 1 || inet_pton(AF_INET6, san.c_str(), &tmp6) == 1) {
      o.ip_addresses.push_back(san);
    } else {
      o.dns_names.push_back(san);
    }
  }
  std::set<std::string> seen;
  std::erase_if(o.ip_addresses, [&](const std::string& s) { return !seen.insert(s).second; });
  std::erase_if(o.dns_names, [&](const std::string& s) { return !seen.insert(s).second; });
  return o;
}

Result<PkiFiles> ensure_pki(const PkiOptions& options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Status(Code::kInternal, "create " + options.dir.string() + ": " + ec.message());
  ::chmod(options.dir.c_str(), 0700);
  PkiFiles f{options.dir / "ca.crt",         options.dir / "ca.key",
             options.dir / "serving.crt",    options.dir / "serving.key",
             options.dir / "client-admin.crt", options.dir / "client-admin.key"};
  auto logger = log::logger("apiserver");

  PkeyPtr ca_key;
  X509Ptr ca_cert;
  if (fs::exists(f.ca_cert) && fs::exists(f.ca_key)) {
    KEDGE_ASSIGN_OR_RETURN(ca_key, load_key(f.ca_key));
    KEDGE_ASSIGN_OR_RETURN(ca_cert, load_cert(f.ca_cert));
  } else {
    KEDGE_ASSIGN_OR_RETURN(ca_key, new_key());
    CertSpec spec{.common_name = "kedge-ca@" + std::to_string(std::time(nullptr)),
                  .days = kCaDays,
                  .is_ca = true};
    KEDGE_ASSIGN_OR_RETURN(ca_cert, make_cert(spec, ca_key.get(), nullptr, nullptr));
    KEDGE_RETURN_IF_ERROR(write_pair(ca_cert.get(), ca_key.get(), f.ca_cert, f.ca_key));
    // A new CA invalidates every leaf signed by an old one.
    fs::remove(f.server_cert, ec);
    fs::remove(f.admin_cert, ec);
    logger->info("created cluster CA in {}", options.dir.string());
  }

  bool reissue_server = !fs::exists(f.server_cert) || !fs::exists(f.server_key);
  if (!reissue_server) {
    auto existing = load_cert(f.server_cert);
    reissue_server = !existing.ok() || needs_reissue(existing->get(), options);
  }
  if (reissue_server) {
    KEDGE_ASSIGN_OR_RETURN(PkeyPtr key, new_key());
    CertSpec spec{.common_name = "kedge-apiserver",
                  .server = true,
                  .dns = options.dns_names,
                  .ips = options.ip_addresses};
    KEDGE_ASSIGN_OR_RETURN(X509Ptr cert, make_cert(spec, key.get(), ca_cert.get(), ca_key.get()));
    KEDGE_RETURN_IF_ERROR(write_pair(cert.get(), key.get(), f.server_cert, f.server_key));
    logger->info("issued serving certificate ({} DNS names, {} IPs)", options.dns_names.size(),
                 options.ip_addresses.size());
  }
  if (!fs::exists(f.admin_cert) || !fs::exists(f.admin_key)) {
    KEDGE_RETURN_IF_ERROR(issue_client_cert(f, "system:admin", {"system:masters"}, f.admin_cert,
                                            f.admin_key));
  }
  return f;
}

Status issue_client_cert(const PkiFiles& files, const std::string& user,
                         const std::vector<std::string>& groups, const fs::path& cert_out,
                         const fs::path& key_out) {
  KEDGE_ASSIGN_OR_RETURN(PkeyPtr ca_key, load_key(files.ca_key));
  KEDGE_ASSIGN_OR_RETURN(X509Ptr ca_cert, load_cert(files.ca_cert));
  KEDGE_ASSIGN_OR_RETURN(PkeyPtr key, new_key());
  CertSpec spec{.common_name = user, .organizations = groups};
  KEDGE_ASSIGN_OR_RETURN(X509Ptr cert, make_cert(spec, key.get(), ca_cert.get(), ca_key.get()));
  return write_pair(cert.get(), key.get(), cert_out, key_out);
}

Status issue_serving_cert(const PkiFiles& files, const std::string& common_name,
                          const std::vector<std::string>& dns_names,
                          const std::vector<std::string>& ip_addresses, const fs::path& cert_out,
                          const fs::path& key_out) {
  KEDGE_ASSIGN_OR_RETURN(PkeyPtr ca_key, load_key(files.ca_key));
  KEDGE_ASSIGN_OR_RETURN(X509Ptr ca_cert, load_cert(files.ca_cert));
  KEDGE_ASSIGN_OR_RETURN(PkeyPtr key, new_key());
  CertSpec spec{.common_name = common_name, .server = true, .dns = dns_names, .ips = ip_addresses};
  KEDGE_ASSIGN_OR_RETURN(X509Ptr cert, make_cert(spec, key.get(), ca_cert.get(), ca_key.get()));
  return write_pair(cert.get(), key.get(), cert_out, key_out);
}

namespace {
std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}
}  // namespace

Status write_admin_kubeconfig(const PkiFiles& files, const std::string& server_url,
                              const fs::path& out) {
  KEDGE_ASSIGN_OR_RETURN(std::string ca, read_file(files.ca_cert));
  KEDGE_ASSIGN_OR_RETURN(std::string cert, read_file(files.admin_cert));
  KEDGE_ASSIGN_OR_RETURN(std::string key, read_file(files.admin_key));
  std::string yaml = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
                     "    certificate-authority-data: " + base64(ca) +
                     "\n    server: " + server_url +
                     "\n  name: default\ncontexts:\n- context:\n    cluster: default\n"
                     "    user: default\n  name: default\ncurrent-context: default\n"
                     "preferences: {}\nusers:\n- name: default\n  user:\n"
                     "    client-certificate-data: " + base64(cert) +
                     "\n    client-key-data: " + base64(key) + "\n";
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  if (ec) return Status(Code::kInternal, "create " + out.parent_path().string() + ": " + ec.message());
  return write_file_atomic(out, yaml, 0600);
}

}  // namespace kedge::control
