#include "tokens.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "object_util.h"

namespace kedge::control {
namespace fs = std::filesystem;

namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct SigFree { void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); } };
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using SigPtr = std::unique_ptr<ECDSA_SIG, SigFree>;

constexpr std::size_t kCoordinateBytes = 32;  // P-256
constexpr std::int64_t kLeewaySeconds = 60;

// Writes a new EC P-256 key; O_EXCL so two servers on one data dir never
// overwrite each other's key.
Status create_key_file(const fs::path& path) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  if (!key) return internal_error("service-account key generation failed");
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new(BIO_s_mem()), &BIO_free_all);
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return internal_error("cannot encode the service-account key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_status("create " + path.string(), errno);
  bool ok = ::write(fd, data, static_cast<std::size_t>(len)) == len && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return internal_error("cannot write " + path.string());
  return {};
}

Result<std::string> sha256_kid(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return internal_error("cannot encode the service-account public key");
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(n), digest);
  OPENSSL_free(der);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  std::string out = base64_encode(in);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

bool base64url_decode(std::string_view in, std::string& out) {
  std::string std64(in);
  for (auto& c : std64) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return false;
  }
  if (std64.size() % 4 == 1) return false;
  while (std64.size() % 4 != 0) std64 += '=';
  return base64_decode(std64, out);
}

struct TokenSigner::Key {
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;
};

TokenSigner::TokenSigner(std::unique_ptr<Key> key, std::string kid) : key_(std::move(key)), kid_(std::move(kid)) {}
TokenSigner::~TokenSigner() = default;

Result<std::unique_ptr<TokenSigner>> TokenSigner::load_or_create(const fs::path& key_file) {
  if (!fs::exists(key_file)) {
    Status created = create_key_file(key_file);
    if (!created.ok() && !fs::exists(key_file)) return created;
  }
  std::ifstream in(key_file, std::ios::binary);
  if (!in) return not_found("cannot read " + key_file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string pem = ss.str();
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                    &BIO_free_all);
  auto key = std::make_unique<Key>();
  key->pkey.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key->pkey || EVP_PKEY_get_base_id(key->pkey.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_bits(key->pkey.get()) != 256) {
    return invalid_argument(key_file.string() + " is not an EC P-256 private key in PEM");
  }
  KEDGE_ASSIGN_OR_RETURN(std::string kid, sha256_kid(key->pkey.get()));
  return std::unique_ptr<TokenSigner>(new TokenSigner(std::move(key), std::move(kid)));
}

Result<std::string> TokenSigner::sign(const boost::json::object& claims) const {
  boost::json::object header{{"alg", "ES256"}, {"kid", kid_}};
  std::string input = base64url_encode(boost::json::serialize(header)) + "." +
                      base64url_encode(boost::json::serialize(claims));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t der_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return internal_error("token signing failed");
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return internal_error("token signing failed");
  }
  // JWS wants the raw r||s pair, not OpenSSL's DER sequence.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return internal_error("token signing produced no signature");
  std::string raw(2 * kCoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kCoordinateBytes);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kCoordinateBytes, kCoordinateBytes);
  return input + "." + base64url_encode(raw);
}

Result<boost::json::object> TokenSigner::verify(std::string_view token) const {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return invalid_argument("not a compact JWS");
  }
  std::string header_json, payload_json, raw;
  if (!base64url_decode(token.substr(0, dot1), header_json) ||
      !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_json) ||
      !base64url_decode(token.substr(dot2 + 1), raw)) {
    return invalid_argument("bad base64url in token");
  }
  boost::system::error_code ec;
  auto header = boost::json::parse(header_json, ec);
  if (ec || !header.is_object()) return invalid_argument("token header is not a JSON object");
  if (get_string(header.as_object(), "alg") != "ES256") return invalid_argument("token algorithm is not ES256");
  if (auto kid = get_string(header.as_object(), "kid"); !kid.empty() && kid != kid_) {
    return invalid_argument("token key id is not this server's");
  }
  if (raw.size() != 2 * kCoordinateBytes) return invalid_argument("token signature has the wrong length");
  SigPtr sig(ECDSA_SIG_new());
  const auto* r = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* br = BN_bin2bn(r, kCoordinateBytes, nullptr);
  BIGNUM* bs = BN_bin2bn(r + kCoordinateBytes, kCoordinateBytes, nullptr);
  if (!sig || br == nullptr || bs == nullptr || ECDSA_SIG_set0(sig.get(), br, bs) != 1) {
    BN_free(br);
    BN_free(bs);
    return internal_error("cannot decode the token signature");
  }
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) return internal_error("cannot encode the token signature");
  std::string_view input = token.substr(0, dot2);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool valid = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) == 1 &&
               EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len),
                                reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  OPENSSL_free(der);
  if (!valid) return invalid_argument("token signature does not verify");
  auto payload = boost::json::parse(payload_json, ec);
  if (ec || !payload.is_object()) return invalid_argument("token payload is not a JSON object");
  return std::move(payload.as_object());
}

boost::json::object make_claims(const TokenClaimsSpec& s) {
  boost::json::array aud;
  for (const auto& a : s.audiences) aud.emplace_back(a);
  boost::json::object k8s{{"namespace", s.ns},
                          {"serviceaccount", boost::json::object{{"name", s.service_account},
                                                                 {"uid", s.service_account_uid}}}};
  if (s.bound_kind == "Pod") {
    k8s["pod"] = boost::json::object{{"name", s.bound_name}, {"uid", s.bound_uid}};
  } else if (s.bound_kind == "Secret") {
    k8s["secret"] = boost::json::object{{"name", s.bound_name}, {"uid", s.bound_uid}};
  }
  return boost::json::object{{"aud", std::move(aud)},
                             {"exp", s.now + s.seconds},
                             {"iat", s.now},
                             {"iss", kTokenIssuer},
                             {"jti", new_uid()},
                             {"kubernetes.io", std::move(k8s)},
                             {"nbf", s.now},
                             {"sub", "system:serviceaccount:" + s.ns + ":" + s.service_account}};
}

Result<TokenSubject> check_claims(const boost::json::object& claims, std::int64_t now, std::string_view audience) {
  if (get_string(claims, "iss") != kTokenIssuer) return unauthenticated("token issuer is not " + std::string(kTokenIssuer));
  std::int64_t exp = get_int(claims, "exp", 0);
  if (exp == 0 || now > exp + kLeewaySeconds) return unauthenticated("token has expired");
  if (now + kLeewaySeconds < get_int(claims, "nbf", 0)) return unauthenticated("token is not valid yet");
  bool audience_ok = false;
  if (const auto* aud = find_array(claims, "aud")) {
    for (const auto& a : *aud) audience_ok = audience_ok || (a.is_string() && a.as_string() == audience);
  } else {
    audience_ok = get_string(claims, "aud") == audience;
  }
  if (!audience_ok) return unauthenticated("token audience does not include " + std::string(audience));
  const auto* k8s = find_object(claims, "kubernetes.io");
  const auto* sa = k8s != nullptr ? find_object(*k8s, "serviceaccount") : nullptr;
  if (sa == nullptr) return unauthenticated("token has no kubernetes.io service account claim");
  TokenSubject out{.ns = get_string(*k8s, "namespace"),
                   .service_account = get_string(*sa, "name"),
                   .service_account_uid = get_string(*sa, "uid")};
  if (out.ns.empty() || out.service_account.empty() || out.service_account_uid.empty() ||
      get_string(claims, "sub") != "system:serviceaccount:" + out.ns + ":" + out.service_account) {
    return unauthenticated("token subject and kubernetes.io claim disagree");
  }
  if (const auto* pod = find_object(*k8s, "pod")) {
    out.pod_name = get_string(*pod, "name");
    out.pod_uid = get_string(*pod, "uid");
  }
  if (const auto* secret = find_object(*k8s, "secret")) {
    out.secret_name = get_string(*secret, "name");
    out.secret_uid = get_string(*secret, "uid");
  }
  return out;
}

}  // namespace kedge::control
