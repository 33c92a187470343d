#include "tls/pem.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace remora::tls {

namespace {

// Refuses to decrypt: an encrypted key is a configuration error, and the
// default callback would prompt on the terminal.
int noPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

Status precheck(std::string_view pem, std::size_t max_bytes, std::string_view what) {
  if (pem.size() > max_bytes) {
    return Error{Errc::PayloadTooLarge, fmt::format("{} PEM of {} bytes exceeds the limit of {}",
                                                    what, pem.size(), max_bytes)};
  }
  if (pem.find('\0') != std::string_view::npos) {
    return Error{Errc::ParseError, fmt::format("{} PEM contains a NUL byte", what)};
  }
  if (pem.find("-----BEGIN ") == std::string_view::npos) {
    return Error{Errc::ParseError, fmt::format("{} PEM has no BEGIN line", what)};
  }
  return ok();
}

BioPtr memBio(std::string_view pem) {
  // BIO_new_mem_buf does not copy and does not write; the view outlives it.
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// After a failed PEM_read: true when it failed only because no further
// block of the wanted kind exists (the normal end of a bundle).
bool onlyNoMoreBlocks() {
  unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return true;
  }
  return false;
}

Result<std::string> bioText(BIO* bio, std::string_view what) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return openSslError(Errc::Internal, what);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

Result<PKeyPtr> readPrivateKeyPem(std::string_view pem) {
  REMORA_TRY(precheck(pem, kMaxPemBytes, "private key"));
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return Error{Errc::Unsupported, "private key PEM is encrypted; give an unencrypted key"};
  }
  // OpenSSL 3's key decoders cannot tell "no further key" from "a broken
  // one", so count the key blocks by their labels instead of reading twice.
  std::size_t keys = 0;
  for (std::size_t pos = pem.find("-----BEGIN "); pos != std::string_view::npos;
       pos = pem.find("-----BEGIN ", pos + 1)) {
    std::string_view label = pem.substr(pos + 11, pem.find("-----", pos + 11) - (pos + 11));
    if (label.ends_with("PRIVATE KEY")) ++keys;
  }
  if (keys != 1) {
    return Error{Errc::ParseError,
                 fmt::format("private key PEM holds {} private keys, expected one", keys)};
  }
  clearOpenSslErrors();
  BioPtr bio = memBio(pem);
  PKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
  if (!key) return openSslError(Errc::ParseError, "cannot read private key PEM");
  clearOpenSslErrors();
  return key;
}

Result<std::vector<X509Ptr>> readCertificatesPem(std::string_view pem) {
  REMORA_TRY(precheck(pem, kMaxPemBundleBytes, "certificate"));
  clearOpenSslErrors();
  BioPtr bio = memBio(pem);
  std::vector<X509Ptr> certs;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr));
    if (!cert) {
      if (!certs.empty() && onlyNoMoreBlocks()) break;
      return openSslError(Errc::ParseError,
                          fmt::format("cannot read certificate {} of the PEM", certs.size() + 1));
    }
    if (certs.size() == kMaxBundleCertificates) {
      return Error{Errc::PayloadTooLarge, fmt::format("certificate PEM holds more than {} "
                                                      "certificates",
                                                      kMaxBundleCertificates)};
    }
    certs.push_back(std::move(cert));
  }
  return certs;
}

Result<X509Ptr> readCertificatePem(std::string_view pem) {
  REMORA_TRY(precheck(pem, kMaxPemBytes, "certificate"));
  REMORA_ASSIGN_OR_RETURN(auto certs, readCertificatesPem(pem));
  if (certs.size() != 1) {
    return Error{Errc::ParseError,
                 fmt::format("expected one certificate, the PEM holds {}", certs.size())};
  }
  return std::move(certs.front());
}

Result<X509ReqPtr> readCsrPem(std::string_view pem, std::size_t max_bytes) {
  REMORA_TRY(precheck(pem, max_bytes, "certificate request"));
  clearOpenSslErrors();
  BioPtr bio = memBio(pem);
  X509ReqPtr csr(PEM_read_bio_X509_REQ(bio.get(), nullptr, noPassword, nullptr));
  if (!csr) return openSslError(Errc::ParseError, "cannot read certificate request PEM");
  X509ReqPtr extra(PEM_read_bio_X509_REQ(bio.get(), nullptr, noPassword, nullptr));
  if (extra) return Error{Errc::ParseError, "PEM holds more than one certificate request"};
  if (!onlyNoMoreBlocks()) {
    return openSslError(Errc::ParseError, "certificate request PEM has a corrupted trailing block");
  }
  return csr;
}

Result<std::string> privateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openSslError(Errc::Internal, "writing a private key as PEM");
  }
  return bioText(bio.get(), "writing a private key as PEM");
}

Result<std::string> certificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return openSslError(Errc::Internal, "writing a certificate as PEM");
  }
  return bioText(bio.get(), "writing a certificate as PEM");
}

Result<std::string> certificatesToPem(std::span<const X509Ptr> certs) {
  std::string out;
  for (const auto& cert : certs) {
    REMORA_ASSIGN_OR_RETURN(std::string pem, certificateToPem(cert.get()));
    out += pem;
  }
  return out;
}

Result<std::string> csrToPem(X509_REQ* csr) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), csr) != 1) {
    return openSslError(Errc::Internal, "writing a certificate request as PEM");
  }
  return bioText(bio.get(), "writing a certificate request as PEM");
}

}  // namespace remora::tls
