#include "tls/csr.h"

#include <fmt/format.h>

#include "tls/pem.h"

namespace remora::tls {

namespace {

Status addSans(GENERAL_NAMES* names, int type, const std::vector<std::string>& values) {
  for (const auto& value : values) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (gn == nullptr || s == nullptr ||
        ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(gn);
      return openSslError(Errc::Internal, "building a CSR SAN");
    }
    GENERAL_NAME_set0_value(gn, type, s);
    if (sk_GENERAL_NAME_push(names, gn) == 0) {
      GENERAL_NAME_free(gn);
      return openSslError(Errc::Internal, "building a CSR SAN");
    }
  }
  return ok();
}

}  // namespace

Result<X509ReqPtr> createCsr(EVP_PKEY* key, const CsrOptions& options) {
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1) {
    return openSslError(Errc::Internal, "building a CSR");
  }
  if (!options.common_name.empty()) {
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    if (X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(options.common_name.data()),
            static_cast<int>(options.common_name.size()), -1, 0) != 1) {
      return openSslError(Errc::InvalidArgument, "setting the CSR subject");
    }
  }
  if (!options.uri_sans.empty() || !options.dns_sans.empty()) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    if (!names) return openSslError(Errc::Internal, "building CSR SANs");
    REMORA_TRY(addSans(names.get(), GEN_URI, options.uri_sans));
    REMORA_TRY(addSans(names.get(), GEN_DNS, options.dns_sans));
    X509ExtensionsPtr exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* ext =
        X509V3_EXT_i2d(NID_subject_alt_name, options.common_name.empty() ? 1 : 0, names.get());
    if (!exts || ext == nullptr) {
      X509_EXTENSION_free(ext);
      return openSslError(Errc::Internal, "encoding CSR SANs");
    }
    if (sk_X509_EXTENSION_push(exts.get(), ext) == 0) {
      X509_EXTENSION_free(ext);
      return openSslError(Errc::Internal, "encoding CSR SANs");
    }
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return openSslError(Errc::Internal, "adding CSR extensions");
    }
  }
  int id = EVP_PKEY_get_base_id(key);
  const EVP_MD* md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
  if (X509_REQ_sign(req.get(), key, md) <= 0) return openSslError(Errc::Internal, "signing a CSR");
  return req;
}

Result<std::string> createCsrPem(EVP_PKEY* key, const CsrOptions& options) {
  REMORA_ASSIGN_OR_RETURN(X509ReqPtr req, createCsr(key, options));
  return csrToPem(req.get());
}

Result<ParsedCsr> parseCsr(std::string_view pem, const CsrLimits& limits) {
  ParsedCsr out;
  REMORA_ASSIGN_OR_RETURN(out.request, readCsrPem(pem, limits.max_bytes));
  X509_REQ* req = out.request.get();

  out.public_key.reset(X509_REQ_get_pubkey(req));
  if (!out.public_key) {
    return openSslError(Errc::ParseError, "the certificate request's public key cannot be read");
  }
  out.key = describeKey(out.public_key.get());
  REMORA_TRY(checkWorkloadKey(out.key));
  // Proof of possession: the requester holds the private key.
  if (X509_REQ_verify(req, out.public_key.get()) != 1) {
    return openSslError(Errc::ParseError, "the certificate request's signature does not verify");
  }

  X509ExtensionsPtr exts(X509_REQ_get_extensions(req));
  if (!exts) {
    return openSslError(Errc::ParseError, "the certificate request's extensions cannot be decoded");
  }
  auto ext_count = static_cast<std::size_t>(sk_X509_EXTENSION_num(exts.get()));
  if (ext_count > limits.max_extensions) {
    return Error{Errc::InvalidArgument,
                 fmt::format("the certificate request has {} extensions, more than {}", ext_count,
                             limits.max_extensions)};
  }
  for (std::size_t i = 0; i < ext_count; ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), static_cast<int>(i));
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
    if (!names) {
      return openSslError(Errc::ParseError, "the certificate request's SANs cannot be decoded");
    }
    int n = sk_GENERAL_NAME_num(names.get());
    out.san_count += static_cast<std::size_t>(n);
    if (out.san_count > limits.max_sans) {
      return Error{Errc::InvalidArgument,
                   fmt::format("the certificate request asks for {} or more SANs, more than {}",
                               out.san_count, limits.max_sans)};
    }
    for (int j = 0; j < n; ++j) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), j);
      int type = 0;
      const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
      if (type != GEN_URI && type != GEN_DNS) continue;
      std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                       static_cast<std::size_t>(ASN1_STRING_length(value)));
      (type == GEN_URI ? out.uri_sans : out.dns_sans).push_back(std::move(text));
    }
  }
  return out;
}

}  // namespace remora::tls
