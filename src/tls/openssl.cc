#include "tls/openssl.h"

#include <string>

#include <openssl/err.h>

namespace remora::tls {

namespace {
// Enough to say what went wrong; a hostile input must not grow the message.
constexpr std::size_t kMaxErrorText = 1024;
}  // namespace

Error openSslError(Errc code, std::string_view what) {
  std::string message(what);
  bool first = true;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long err = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (message.size() >= kMaxErrorText) continue;  // keep draining
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    message += first ? ": " : "; ";
    first = false;
    message += buf;
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && data[0] != '\0') {
      message += " (";
      message += data;
      message += ")";
    }
  }
  if (message.size() > kMaxErrorText) message.resize(kMaxErrorText);
  return Error{code, std::move(message)};
}

void freeExtensionStack(STACK_OF(X509_EXTENSION) * stack) noexcept {
  sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
}

void freeCertificateStack(STACK_OF(X509) * stack) noexcept { sk_X509_pop_free(stack, X509_free); }

void clearOpenSslErrors() { ERR_clear_error(); }

X509Ptr upRef(X509* cert) {
  X509_up_ref(cert);
  return X509Ptr(cert);
}

PKeyPtr upRef(EVP_PKEY* key) {
  EVP_PKEY_up_ref(key);
  return PKeyPtr(key);
}

SslCtxPtr upRef(SSL_CTX* ctx) {
  SSL_CTX_up_ref(ctx);
  return SslCtxPtr(ctx);
}

}  // namespace remora::tls
