#include "tls/certificate.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/rand.h>

#include "tls/key.h"

namespace remora::tls {

namespace {

Status setSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return openSslError(Errc::Internal, "drawing a serial number");
  }
  bytes[0] &= 0x7f;  // DER INTEGER, positive
  if (std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; })) {
    bytes[15] = 1;  // RFC 5280: never zero
  }
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return openSslError(Errc::Internal, "setting the serial number");
  }
  return ok();
}

Status addNameEntry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return ok();
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return openSslError(Errc::InvalidArgument, fmt::format("setting subject {}", field));
  }
  return ok();
}

// Adds one extension from its decoded form; `value` stays owned by the caller.
Status addExtension(X509* cert, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE) != 1) {
    return openSslError(Errc::Internal, fmt::format("adding extension {}", OBJ_nid2sn(nid)));
  }
  return ok();
}

Status addGeneralName(GENERAL_NAMES* names, int type, const std::string& value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr) return openSslError(Errc::Internal, "allocating a SAN");
  if (type == GEN_IPADD) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(value.c_str());
    if (ip == nullptr) {
      GENERAL_NAME_free(gn);
      clearOpenSslErrors();
      return Error{Errc::InvalidArgument, fmt::format("invalid IP address SAN \"{}\"", value)};
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (s == nullptr || ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(gn);
      return openSslError(Errc::Internal, "setting a SAN");
    }
    GENERAL_NAME_set0_value(gn, type, s);
  }
  if (sk_GENERAL_NAME_push(names, gn) == 0) {
    GENERAL_NAME_free(gn);
    return openSslError(Errc::Internal, "adding a SAN");
  }
  return ok();
}

// SHA-1 of the subject public key bits (RFC 5280 4.2.1.2 method 1).
Result<Asn1OctetStringPtr> keyIdentifier(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Asn1OctetStringPtr id(ASN1_OCTET_STRING_new());
  if (!id || X509_pubkey_digest(cert, EVP_sha1(), md, &len) != 1 ||
      ASN1_OCTET_STRING_set(id.get(), md, static_cast<int>(len)) != 1) {
    return openSslError(Errc::Internal, "computing the key identifier");
  }
  return id;
}

Status addExtensions(X509* cert, const CertificateTemplate& tmpl, X509* issuer_cert) {
  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  if (!bc) return openSslError(Errc::Internal, "allocating basicConstraints");
  bc->ca = tmpl.is_ca ? 0xff : 0;
  if (tmpl.is_ca && tmpl.path_length) {
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, *tmpl.path_length) != 1) {
      return openSslError(Errc::Internal, "setting pathlen");
    }
  }
  REMORA_TRY(addExtension(cert, NID_basic_constraints, bc.get(), true));

  if (tmpl.key_usage != 0) {
    Asn1BitStringPtr ku(ASN1_BIT_STRING_new());
    if (!ku) return openSslError(Errc::Internal, "allocating keyUsage");
    // KU_* masks put bit n of the BIT STRING at 0x80 >> n.
    for (int bit = 0; bit < 8; ++bit) {
      if ((tmpl.key_usage & (0x80u >> bit)) != 0 &&
          ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) != 1) {
        return openSslError(Errc::Internal, "setting keyUsage");
      }
    }
    REMORA_TRY(addExtension(cert, NID_key_usage, ku.get(), true));
  }

  if (tmpl.server_auth || tmpl.client_auth) {
    ExtKeyUsagePtr eku(sk_ASN1_OBJECT_new_null());
    if (!eku) return openSslError(Errc::Internal, "allocating extendedKeyUsage");
    if (tmpl.server_auth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth));
    if (tmpl.client_auth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth));
    REMORA_TRY(addExtension(cert, NID_ext_key_usage, eku.get(), false));
  }

  if (!tmpl.uri_sans.empty() || !tmpl.dns_sans.empty() || !tmpl.ip_sans.empty()) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    if (!names) return openSslError(Errc::Internal, "allocating subjectAltName");
    for (const auto& uri : tmpl.uri_sans) REMORA_TRY(addGeneralName(names.get(), GEN_URI, uri));
    for (const auto& dns : tmpl.dns_sans) REMORA_TRY(addGeneralName(names.get(), GEN_DNS, dns));
    for (const auto& ip : tmpl.ip_sans) REMORA_TRY(addGeneralName(names.get(), GEN_IPADD, ip));
    // RFC 5280 4.2.1.6: critical when the subject is empty (Istio's
    // workload certificates have no subject at all).
    bool empty_subject = tmpl.common_name.empty() && tmpl.organization.empty();
    REMORA_TRY(addExtension(cert, NID_subject_alt_name, names.get(), empty_subject));
  }

  REMORA_ASSIGN_OR_RETURN(Asn1OctetStringPtr skid, keyIdentifier(cert));
  if (tmpl.is_ca) REMORA_TRY(addExtension(cert, NID_subject_key_identifier, skid.get(), false));

  // authorityKeyIdentifier: the issuer's subjectKeyIdentifier, so a verifier
  // picks the right issuer while two roots are trusted during a rotation.
  const ASN1_OCTET_STRING* issuer_id =
      issuer_cert != nullptr ? X509_get0_subject_key_id(issuer_cert) : skid.get();
  if (issuer_id != nullptr) {
    std::unique_ptr<AUTHORITY_KEYID, OpenSslDeleter<AUTHORITY_KEYID_free>> akid(
        AUTHORITY_KEYID_new());
    if (!akid) return openSslError(Errc::Internal, "allocating authorityKeyIdentifier");
    akid->keyid = ASN1_OCTET_STRING_dup(issuer_id);
    if (akid->keyid == nullptr) return openSslError(Errc::Internal, "copying the key identifier");
    REMORA_TRY(addExtension(cert, NID_authority_key_identifier, akid.get(), false));
  }
  return ok();
}

const EVP_MD* digestFor(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

SystemTime asn1ToTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    clearOpenSslErrors();
    return SystemTime{};
  }
  return fromTimeT(timegm(&tm));
}

std::string nameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    clearOpenSslErrors();
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string{};
}

}  // namespace

Result<X509Ptr> signCertificate(const CertificateTemplate& tmpl, EVP_PKEY* subject_key,
                                const std::optional<Issuer>& issuer) {
  if (tmpl.not_after <= tmpl.not_before) {
    return Error{Errc::InvalidArgument, "certificate validity ends before it starts"};
  }
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return openSslError(Errc::Internal, "allocating a certificate");
  }
  REMORA_TRY(setSerial(cert.get()));
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), toTimeT(tmpl.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), toTimeT(tmpl.not_after)) == nullptr) {
    return openSslError(Errc::InvalidArgument, "setting the validity window");
  }
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return openSslError(Errc::InvalidArgument, "setting the public key");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  REMORA_TRY(addNameEntry(subject, "O", tmpl.organization));
  REMORA_TRY(addNameEntry(subject, "CN", tmpl.common_name));
  X509_NAME* issuer_name = issuer ? X509_get_subject_name(issuer->certificate) : subject;
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return openSslError(Errc::Internal, "setting the issuer name");
  }
  REMORA_TRY(addExtensions(cert.get(), tmpl, issuer ? issuer->certificate : nullptr));
  EVP_PKEY* signing_key = issuer ? issuer->key : subject_key;
  if (X509_sign(cert.get(), signing_key, digestFor(signing_key)) <= 0) {
    return openSslError(Errc::Internal, "signing the certificate");
  }
  return cert;
}

namespace {

CertificateTemplate caTemplate(const CaOptions& options) {
  CertificateTemplate tmpl;
  tmpl.organization = options.organization;
  tmpl.common_name = options.common_name;
  tmpl.is_ca = true;
  tmpl.key_usage = kKeyCertSign | kCrlSign | kDigitalSignature;
  tmpl.not_before = options.now - kBackdate;
  tmpl.not_after = options.now + options.ttl;
  return tmpl;
}

}  // namespace

Result<KeyAndCertificate> createRootCa(const CaOptions& options) {
  REMORA_ASSIGN_OR_RETURN(PKeyPtr key, generateP256Key());
  REMORA_ASSIGN_OR_RETURN(X509Ptr cert,
                          signCertificate(caTemplate(options), key.get(), std::nullopt));
  return KeyAndCertificate{std::move(key), std::move(cert)};
}

Result<KeyAndCertificate> createIntermediateCa(const Issuer& parent, const CaOptions& options) {
  REMORA_ASSIGN_OR_RETURN(PKeyPtr key, generateP256Key());
  CertificateTemplate tmpl = caTemplate(options);
  tmpl.path_length = 0;
  REMORA_ASSIGN_OR_RETURN(X509Ptr cert, signCertificate(tmpl, key.get(), parent));
  return KeyAndCertificate{std::move(key), std::move(cert)};
}

Result<X509Ptr> issueWorkloadCertificate(const Issuer& issuer, EVP_PKEY* subject_key,
                                         const SpiffeId& identity, SystemTime now, Seconds ttl) {
  CertificateTemplate tmpl;
  tmpl.uri_sans = {identity.uri()};
  tmpl.key_usage = kDigitalSignature | kKeyEncipherment;
  tmpl.server_auth = true;
  tmpl.client_auth = true;
  tmpl.not_before = now - kBackdate;
  tmpl.not_after = now + ttl;
  return signCertificate(tmpl, subject_key, issuer);
}

Result<X509Ptr> issueServingCertificate(const Issuer& issuer, EVP_PKEY* subject_key,
                                        std::span<const std::string> dns_names, SystemTime now,
                                        Seconds ttl) {
  if (dns_names.empty()) {
    return Error{Errc::InvalidArgument, "a serving certificate needs at least one DNS name"};
  }
  CertificateTemplate tmpl;
  // A CN of at most 64 bytes (X.520's upper bound); clients match the SANs.
  if (dns_names.front().size() <= 64) tmpl.common_name = dns_names.front();
  tmpl.dns_sans.assign(dns_names.begin(), dns_names.end());
  tmpl.key_usage = kDigitalSignature | kKeyEncipherment;
  tmpl.server_auth = true;
  tmpl.not_before = now - kBackdate;
  tmpl.not_after = now + ttl;
  return signCertificate(tmpl, subject_key, issuer);
}

std::vector<std::string> serviceDnsNames(std::string_view service, std::string_view ns,
                                         std::string_view cluster_domain) {
  return {std::string(service), fmt::format("{}.{}", service, ns),
          fmt::format("{}.{}.svc", service, ns),
          fmt::format("{}.{}.svc.{}", service, ns, cluster_domain)};
}

std::string serialHex(X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) {
    clearOpenSslErrors();
    return {};
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    clearOpenSslErrors();
    return {};
  }
  std::string out(hex);
  OPENSSL_free(hex);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

SystemTime certificateNotBefore(X509* cert) { return asn1ToTime(X509_get0_notBefore(cert)); }
SystemTime certificateNotAfter(X509* cert) { return asn1ToTime(X509_get0_notAfter(cert)); }

Result<CertificateInfo> describeCertificate(X509* cert) {
  CertificateInfo info;
  info.serial_hex = serialHex(cert);
  info.subject = nameText(X509_get_subject_name(cert));
  info.issuer = nameText(X509_get_issuer_name(cert));
  info.not_before = asn1ToTime(X509_get0_notBefore(cert));
  info.not_after = asn1ToTime(X509_get0_notAfter(cert));
  info.is_ca = X509_check_ca(cert) != 0;
  int crit = -1;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  if (!names && crit != -1) {
    return openSslError(Errc::ParseError, "the certificate's subjectAltName cannot be decoded");
  }
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    if (type != GEN_URI && type != GEN_DNS) continue;
    std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
    (type == GEN_URI ? info.uri_sans : info.dns_sans).push_back(std::move(text));
  }
  return info;
}

}  // namespace remora::tls
