#include "tls/verify.h"

#include <algorithm>

#include <fmt/format.h>

namespace remora::tls {

std::string_view peerFailureName(PeerFailure failure) {
  switch (failure) {
    case PeerFailure::NoCertificate: return "no_certificate";
    case PeerFailure::UntrustedChain: return "untrusted_chain";
    case PeerFailure::Expired: return "expired";
    case PeerFailure::NotYetValid: return "not_yet_valid";
    case PeerFailure::LeafIsCa: return "leaf_is_ca";
    case PeerFailure::KeyUsage: return "key_usage";
    case PeerFailure::ExtendedKeyUsage: return "extended_key_usage";
    case PeerFailure::NoUriSan: return "no_uri_san";
    case PeerFailure::MultipleUriSans: return "multiple_uri_sans";
    case PeerFailure::InvalidSpiffeId: return "invalid_spiffe_id";
    case PeerFailure::WrongTrustDomain: return "wrong_trust_domain";
    case PeerFailure::IdentityNotAllowed: return "identity_not_allowed";
    case PeerFailure::Malformed: return "malformed";
  }
  return "unknown";
}

Error PeerVerdict::toError() const {
  if (ok()) return Error{Errc::Internal, "PeerVerdict::toError on an accepted peer"};
  return Error{Errc::PermissionDenied, fmt::format("peer certificate refused ({}): {}",
                                                   peerFailureName(reason()), rejection().detail)};
}

PeerFailure failureFromX509Error(int x509_error) {
  switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return PeerFailure::Expired;
    case X509_V_ERR_CERT_NOT_YET_VALID: return PeerFailure::NotYetValid;
    case X509_V_ERR_INVALID_PURPOSE: return PeerFailure::ExtendedKeyUsage;
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_NON_CA: return PeerFailure::Malformed;
    default:
      // Unknown issuer, self-signed, bad signature, invalid CA, path length,
      // name constraints...: the chain does not lead to a root we trust.
      return PeerFailure::UntrustedChain;
  }
}

PeerVerdict checkSvidLeaf(X509* leaf, const VerifyPolicy& policy,
                          std::span<const std::string> allowed_identities) {
  // X509_get_extension_flags decodes the extensions once; EXFLAG_INVALID
  // means one of them (keyUsage, basicConstraints, ...) did not decode.
  std::uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_INVALID) != 0) {
    return PeerVerdict::reject(PeerFailure::Malformed, "a certificate extension does not decode");
  }
  if ((flags & EXFLAG_CA) != 0) {
    return PeerVerdict::reject(PeerFailure::LeafIsCa, "the leaf certificate has cA=TRUE");
  }
  std::uint32_t ku = X509_get_key_usage(leaf);  // UINT32_MAX when absent
  if ((flags & EXFLAG_KUSAGE) == 0 || (ku & KU_DIGITAL_SIGNATURE) == 0) {
    return PeerVerdict::reject(PeerFailure::KeyUsage, "keyUsage lacks digitalSignature");
  }
  if ((ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
    return PeerVerdict::reject(PeerFailure::KeyUsage, "keyUsage has keyCertSign or cRLSign");
  }
  std::uint32_t want = policy.peer_role == PeerRole::Client ? XKU_SSL_CLIENT : XKU_SSL_SERVER;
  if ((flags & EXFLAG_XKUSAGE) == 0 || (X509_get_extended_key_usage(leaf) & want) == 0) {
    return PeerVerdict::reject(PeerFailure::ExtendedKeyUsage,
                               policy.peer_role == PeerRole::Client
                                   ? "extendedKeyUsage lacks clientAuth"
                                   : "extendedKeyUsage lacks serverAuth");
  }

  int crit = -1;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, nullptr)));
  if (!names && crit != -1) {
    clearOpenSslErrors();
    // -2: the extension appears more than once; >= 0: it does not decode.
    return PeerVerdict::reject(PeerFailure::Malformed, crit == -2
                                                           ? "subjectAltName appears more than once"
                                                           : "subjectAltName does not decode");
  }
  const ASN1_STRING* uri = nullptr;
  int uri_count = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(
        GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names.get(), i), &type));
    if (type == GEN_URI) {
      ++uri_count;
      uri = value;
    }
  }
  if (uri_count == 0) return PeerVerdict::reject(PeerFailure::NoUriSan, "no URI SAN");
  if (uri_count > 1) {
    return PeerVerdict::reject(PeerFailure::MultipleUriSans,
                               fmt::format("{} URI SANs, X509-SVID allows one", uri_count));
  }
  std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                        static_cast<std::size_t>(ASN1_STRING_length(uri)));
  auto id = SpiffeId::parse(text);  // refuses NUL bytes and every malformed ID
  if (!id) return PeerVerdict::reject(PeerFailure::InvalidSpiffeId, id.error().message);

  const auto& domains = policy.trust_domains;
  if (std::find(domains.begin(), domains.end(), id->trustDomain()) == domains.end()) {
    return PeerVerdict::reject(
        PeerFailure::WrongTrustDomain,
        fmt::format("trust domain \"{}\" is not trusted", id->trustDomain()));
  }
  if (!allowed_identities.empty()) {
    std::string uri_text = id->uri();
    if (std::find(allowed_identities.begin(), allowed_identities.end(), uri_text) ==
        allowed_identities.end()) {
      return PeerVerdict::reject(
          PeerFailure::IdentityNotAllowed,
          fmt::format("{} is not an identity allowed for this destination", uri_text));
    }
  }
  return PeerVerdict::accept(std::move(*id));
}

PeerVerdict chainFailure(X509* leaf, int x509_error, int depth, const VerifyPolicy& policy) {
  // OpenSSL's purpose check fails the same way for a bad keyUsage, a bad
  // extendedKeyUsage or a CA leaf; the leaf rules say which it was.
  if (x509_error == X509_V_ERR_INVALID_PURPOSE && depth == 0 && leaf != nullptr) {
    PeerVerdict leaf_verdict = checkSvidLeaf(leaf, policy, {});
    if (!leaf_verdict.ok()) return leaf_verdict;
  }
  return PeerVerdict::reject(failureFromX509Error(x509_error),
                             X509_verify_cert_error_string(x509_error));
}

PeerVerdict verifyPeerChain(X509* leaf, std::span<X509* const> intermediates, X509_STORE* roots,
                            const VerifyPolicy& policy, std::optional<SystemTime> at) {
  if (leaf == nullptr) return PeerVerdict::reject(PeerFailure::NoCertificate, "no certificate");
  X509StackPtr untrusted(sk_X509_new_null());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!untrusted || !ctx) {
    return PeerVerdict::reject(PeerFailure::Malformed,
                               openSslError(Errc::Internal, "alloc").message);
  }
  for (X509* cert : intermediates) {
    X509_up_ref(cert);
    sk_X509_push(untrusted.get(), cert);
  }
  if (X509_STORE_CTX_init(ctx.get(), roots, leaf, untrusted.get()) != 1) {
    return PeerVerdict::reject(PeerFailure::Malformed,
                               openSslError(Errc::Internal, "initialising verification").message);
  }
  // The same purpose check libssl applies in a handshake.
  X509_STORE_CTX_set_purpose(ctx.get(), policy.peer_role == PeerRole::Client
                                            ? X509_PURPOSE_SSL_CLIENT
                                            : X509_PURPOSE_SSL_SERVER);
  if (at) X509_STORE_CTX_set_time(ctx.get(), 0, toTimeT(*at));
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    clearOpenSslErrors();
    return chainFailure(leaf, err, depth, policy);
  }
  return checkSvidLeaf(leaf, policy, policy.allowed_identities);
}

}  // namespace remora::tls
