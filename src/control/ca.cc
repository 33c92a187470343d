#include "control/ca.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/log.h"
#include "tls/key.h"
#include "tls/pem.h"

namespace remora::control {

namespace {

constexpr const char* kCaCert = "ca-cert.pem";
constexpr const char* kCaKey = "ca-key.pem";
constexpr const char* kRootCert = "root-cert.pem";
constexpr const char* kCertChain = "cert-chain.pem";

std::string join(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

Status checkSigner(X509* cert, SystemTime now) {
  if (X509_check_ca(cert) == 0) {
    return Error{Errc::InvalidArgument, "ca-cert.pem is not a CA certificate"};
  }
  std::uint32_t ku = X509_get_key_usage(cert);
  if ((ku & KU_KEY_CERT_SIGN) == 0) {
    return Error{Errc::InvalidArgument, "ca-cert.pem may not sign certificates (keyCertSign)"};
  }
  SystemTime not_before = tls::certificateNotBefore(cert);
  SystemTime not_after = tls::certificateNotAfter(cert);
  if (now < not_before || now >= not_after) {
    return Error{
        Errc::InvalidArgument,
        fmt::format("ca-cert.pem is valid from {} to {}, not now ({})", formatRfc3339(not_before),
                    formatRfc3339(not_after), formatRfc3339(now))};
  }
  return ok();
}

Status checkChainsToRoots(const tls::CertifiedKey& signer, const tls::TrustBundle& roots,
                          SystemTime now) {
  REMORA_ASSIGN_OR_RETURN(tls::X509StorePtr store, roots.newStore());
  tls::X509StackPtr untrusted(sk_X509_new_null());
  tls::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!untrusted || !ctx) return tls::openSslError(Errc::Internal, "allocating verification");
  for (const auto& cert : signer.chain)
    sk_X509_push(untrusted.get(), tls::upRef(cert.get()).release());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), signer.certificate.get(), untrusted.get()) != 1) {
    return tls::openSslError(Errc::Internal, "initialising verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, toTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    tls::clearOpenSslErrors();
    return Error{Errc::InvalidArgument,
                 fmt::format("ca-cert.pem does not chain to root-cert.pem: {}",
                             X509_verify_cert_error_string(err))};
  }
  return ok();
}

}  // namespace

Result<Seconds> parseDuration(std::string_view text) {
  auto bad = [&] {
    return Error{
        Errc::InvalidArgument,
        fmt::format("invalid duration \"{}\": use e.g. 24h, 90m, 3600s", text.substr(0, 64))};
  };
  if (text.empty() || text.size() > 32) return bad();
  std::int64_t total = 0;
  std::size_t i = 0;
  bool plain = true;
  while (i < text.size()) {
    std::int64_t n = 0;
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 100'000'000'000) return bad();
      ++i;
    }
    if (i == start) return bad();
    std::int64_t unit = 1;
    if (i < text.size()) {
      plain = false;
      switch (text[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return bad();
      }
      ++i;
    } else if (!plain) {
      return bad();  // "1h30": a number without its unit
    }
    total += n * unit;
    if (total > 100'000'000'000) return bad();
  }
  return Seconds(total);
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::create(CaOptions options,
                                                                           tls::CertifiedKey signer,
                                                                           tls::TrustBundle roots,
                                                                           const Clock& clock) {
  REMORA_TRY(tls::validateTrustDomain(options.trust_domain));
  if (options.max_ttl < kMinWorkloadTtl) {
    return Error{
        Errc::InvalidArgument,
        fmt::format("the maximum certificate TTL must be at least {} s", kMinWorkloadTtl.count())};
  }
  if (options.default_ttl < kMinWorkloadTtl || options.default_ttl > options.max_ttl) {
    return Error{
        Errc::InvalidArgument,
        fmt::format("the default certificate TTL ({} s) must lie "
                    "between {} s and the maximum ({} s)",
                    options.default_ttl.count(), kMinWorkloadTtl.count(), options.max_ttl.count())};
  }
  if (roots.empty()) return Error{Errc::InvalidArgument, "root-cert.pem holds no certificate"};
  SystemTime now = clock.now();
  REMORA_TRY(checkSigner(signer.certificate.get(), now));
  REMORA_TRY(checkChainsToRoots(signer, roots, now));

  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(std::move(options), std::move(signer), std::move(roots), clock));
  REMORA_ASSIGN_OR_RETURN(ca->root_pem_, ca->roots_.toPem());
  if (!tls::isSelfSigned(ca->signer_.certificate.get())) {
    REMORA_ASSIGN_OR_RETURN(std::string pem, tls::certificateToPem(ca->signer_.certificate.get()));
    ca->chain_pem_.push_back(std::move(pem));
  }
  for (const auto& cert : ca->signer_.chain) {
    REMORA_ASSIGN_OR_RETURN(std::string pem, tls::certificateToPem(cert.get()));
    ca->chain_pem_.push_back(std::move(pem));
  }
  ca->signer_expiry_ = tls::certificateNotAfter(ca->signer_.certificate.get());
  return ca;
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::loadCacerts(
    const std::string& dir, CaOptions options, const Clock& clock) {
  auto read = [&](const char* name, std::size_t limit) -> Result<std::string> {
    auto text = readFile(join(dir, name), limit);
    if (!text) return std::move(text).error().context(fmt::format("CA directory {}", dir));
    return text;
  };
  REMORA_ASSIGN_OR_RETURN(std::string key_pem, read(kCaKey, tls::kMaxPemBytes));
  REMORA_ASSIGN_OR_RETURN(std::string cert_pem, read(kCaCert, tls::kMaxPemBytes));
  REMORA_ASSIGN_OR_RETURN(std::string root_pem, read(kRootCert, tls::kMaxPemBundleBytes));
  std::string chain_pem;
  if (auto chain = readFile(join(dir, kCertChain), tls::kMaxPemBundleBytes)) {
    chain_pem = std::move(*chain);
  } else if (chain.error().code != Errc::NotFound) {
    return std::move(chain).error();
  }
  struct stat st {};
  if (::stat(join(dir, kCaKey).c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    REMORA_LOG(control, warn, "{} is readable by group or others (mode {:o}); it should be 0600",
               join(dir, kCaKey), st.st_mode & 0777);
  }

  auto wrap = [&dir](const char* name) {
    return [path = join(dir, name)](Error e) { return std::move(e).context(path); };
  };
  auto key = tls::readPrivateKeyPem(key_pem);
  if (!key) return wrap(kCaKey)(std::move(key).error());
  auto cert = tls::readCertificatePem(cert_pem);
  if (!cert) return wrap(kCaCert)(std::move(cert).error());
  auto roots = tls::TrustBundle::fromPem(root_pem);
  if (!roots) return wrap(kRootCert)(std::move(roots).error());
  std::vector<tls::X509Ptr> chain;
  if (!chain_pem.empty()) {
    auto certs = tls::readCertificatesPem(chain_pem);
    if (!certs) return wrap(kCertChain)(std::move(certs).error());
    // Istio's cert-chain.pem starts with ca-cert itself.
    for (auto& c : *certs) {
      if (X509_cmp(c.get(), cert->get()) != 0) chain.push_back(std::move(c));
    }
  }
  auto signer =
      tls::CertifiedKey::make(std::move(key).value(), std::move(cert).value(), std::move(chain));
  if (!signer) return wrap(kCaKey)(std::move(signer).error());
  auto ca = create(std::move(options), std::move(signer).value(), std::move(roots).value(), clock);
  if (!ca) return std::move(ca).error().context(fmt::format("CA directory {}", dir));
  return ca;
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::loadOrCreateSelfSigned(
    const std::string& dir, CaOptions options, const Clock& clock) {
  std::error_code ec;
  if (std::filesystem::exists(join(dir, kCaCert), ec)) {
    return loadCacerts(dir, std::move(options), clock);
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error{Errc::Io, fmt::format("cannot create CA directory {}: {}", dir, ec.message())};
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  REMORA_TRY(tls::validateTrustDomain(options.trust_domain));
  REMORA_ASSIGN_OR_RETURN(
      tls::KeyAndCertificate root,
      tls::createRootCa({.organization = options.trust_domain, .now = clock.now()}));
  REMORA_ASSIGN_OR_RETURN(std::string key_pem, tls::privateKeyToPem(root.key.get()));
  REMORA_ASSIGN_OR_RETURN(std::string cert_pem, tls::certificateToPem(root.certificate.get()));
  // ca-cert.pem last: its presence is what says the directory is complete.
  REMORA_TRY(writeFileAtomic(join(dir, kCaKey), key_pem, 0600));
  REMORA_TRY(writeFileAtomic(join(dir, kRootCert), cert_pem, 0644));
  REMORA_TRY(writeFileAtomic(join(dir, kCertChain), cert_pem, 0644));
  REMORA_TRY(writeFileAtomic(join(dir, kCaCert), cert_pem, 0644));
  REMORA_LOG(control, info, "created a self-signed root CA for trust domain {} in {} (serial {})",
             options.trust_domain, dir, tls::serialHex(root.certificate.get()));
  return loadCacerts(dir, std::move(options), clock);
}

Result<IssuedCertificate> CertificateAuthority::sign(const tls::ParsedCsr& csr,
                                                     const tls::WorkloadIdentity& caller,
                                                     std::optional<Seconds> requested_ttl) const {
  REMORA_ASSIGN_OR_RETURN(
      tls::SpiffeId identity,
      tls::SpiffeId::forWorkload(options_.trust_domain, caller.ns, caller.service_account));
  REMORA_TRY(tls::checkWorkloadKey(csr.key));

  IssuedCertificate out{.identity = identity};
  Seconds ttl = options_.default_ttl;
  if (requested_ttl && requested_ttl->count() != 0) {
    if (requested_ttl->count() < 0) {
      return Error{Errc::InvalidArgument, "the requested TTL is negative"};
    }
    ttl = std::clamp(*requested_ttl, kMinWorkloadTtl, options_.max_ttl);
    out.ttl_clamped = ttl != *requested_ttl;
  }
  SystemTime now = clock_.now();
  auto left = std::chrono::duration_cast<Seconds>(signer_expiry_ - now);
  if (left < kMinWorkloadTtl) {
    return Error{Errc::Unavailable, fmt::format("the CA certificate expires at {}; renew it",
                                                formatRfc3339(signer_expiry_))};
  }
  if (ttl > left) {
    ttl = left;  // never outlive the certificate that vouches for it
    out.ttl_clamped = true;
  }
  REMORA_ASSIGN_OR_RETURN(
      out.certificate, tls::issueWorkloadCertificate({signer_.certificate.get(), signer_.key.get()},
                                                     csr.public_key.get(), identity, now, ttl));
  REMORA_ASSIGN_OR_RETURN(std::string leaf_pem, tls::certificateToPem(out.certificate.get()));
  out.chain_pem.push_back(std::move(leaf_pem));
  out.chain_pem.insert(out.chain_pem.end(), chain_pem_.begin(), chain_pem_.end());
  out.root_pem = root_pem_;
  out.serial_hex = tls::serialHex(out.certificate.get());
  out.ttl = ttl;
  out.not_after = now + ttl;
  return out;
}

Result<tls::CertifiedKey> CertificateAuthority::issueServing(
    const std::vector<std::string>& dns_names, Seconds ttl) const {
  REMORA_ASSIGN_OR_RETURN(tls::PKeyPtr key, tls::generateP256Key());
  SystemTime now = clock_.now();
  auto left = std::chrono::duration_cast<Seconds>(signer_expiry_ - now);
  REMORA_ASSIGN_OR_RETURN(tls::X509Ptr cert, tls::issueServingCertificate(
                                                 {signer_.certificate.get(), signer_.key.get()},
                                                 key.get(), dns_names, now, std::min(ttl, left)));
  std::vector<tls::X509Ptr> chain;
  if (!tls::isSelfSigned(signer_.certificate.get())) {
    chain.push_back(tls::upRef(signer_.certificate.get()));
  }
  for (const auto& c : signer_.chain) chain.push_back(tls::upRef(c.get()));
  return tls::CertifiedKey::make(std::move(key), std::move(cert), std::move(chain));
}

}  // namespace remora::control
