// OpenSSL at Remora's boundary: owning pointers and errors as values.
//
// Every OpenSSL object Remora holds is one of the unique_ptr aliases below,
// whose deleter is the matching *_free, so no path out of a function leaks.
// Every failure becomes an Error whose message carries OpenSSL's error queue
// (the queue is drained, so a stale entry never decorates a later failure).
//
// Threading: OpenSSL's error queue is per thread; the functions here touch
// only the calling thread's queue.
#pragma once

#include <memory>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/result.h"

namespace remora::tls {

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using PKeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using PKeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, OpenSslDeleter<X509_REQ_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
// Stacks own their elements: freeing the stack frees what it holds.
void freeExtensionStack(STACK_OF(X509_EXTENSION) * stack) noexcept;
void freeCertificateStack(STACK_OF(X509) * stack) noexcept;
using X509ExtensionsPtr =
    std::unique_ptr<STACK_OF(X509_EXTENSION), OpenSslDeleter<freeExtensionStack>>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), OpenSslDeleter<freeCertificateStack>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using BasicConstraintsPtr =
    std::unique_ptr<BASIC_CONSTRAINTS, OpenSslDeleter<BASIC_CONSTRAINTS_free>>;
using ExtKeyUsagePtr = std::unique_ptr<EXTENDED_KEY_USAGE, OpenSslDeleter<EXTENDED_KEY_USAGE_free>>;
using Asn1BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, OpenSslDeleter<ASN1_BIT_STRING_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpenSslDeleter<ASN1_INTEGER_free>>;
using Asn1OctetStringPtr =
    std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OpenSslDeleter<SSL_SESSION_free>>;

// An Error with `code` whose message is "`what`: <OpenSSL's queued errors>"
// (or "`what`" alone when the queue is empty). Drains the queue.
Error openSslError(Errc code, std::string_view what);

// Forgets whatever is queued (a failed probe that was expected to fail).
void clearOpenSslErrors();

// A second owning reference to an object someone else owns.
X509Ptr upRef(X509* cert);
PKeyPtr upRef(EVP_PKEY* key);
SslCtxPtr upRef(SSL_CTX* ctx);

}  // namespace remora::tls
