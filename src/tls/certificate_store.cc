#include "tls/certificate_store.h"

#include <openssl/rand.h>

#include "core/assert.h"

namespace remora::tls {

CertificateStore::CertificateStore(Options options) : options_(std::move(options)) {
  REMORA_CHECK(RAND_bytes(ticket_keys_.data(), static_cast<int>(ticket_keys_.size())) == 1,
               "no randomness for session ticket keys");
}

Status CertificateStore::update(CertifiedKey credential, TrustBundle trust) {
  REMORA_ASSIGN_OR_RETURN(CertificateInfo leaf, describeCertificate(credential.certificate.get()));
  TlsContextOptions server_options{.mode = TlsMode::MtlsServer,
                                   .alpn = options_.alpn,
                                   .trust_domains = options_.trust_domains,
                                   .ticket_keys = ticket_keys_};
  TlsContextOptions client_options{
      .mode = TlsMode::MtlsClient, .alpn = options_.alpn, .trust_domains = options_.trust_domains};
  REMORA_ASSIGN_OR_RETURN(TlsContextPtr server,
                          TlsContext::build(server_options, &credential, &trust));
  REMORA_ASSIGN_OR_RETURN(TlsContextPtr client,
                          TlsContext::build(client_options, &credential, &trust));

  auto snap = std::make_shared<Snapshot>();
  snap->server = std::move(server);
  snap->client = std::move(client);
  snap->credential = std::make_shared<const CertifiedKey>(std::move(credential));
  snap->trust = std::make_shared<const TrustBundle>(std::move(trust));
  snap->leaf = std::move(leaf);
  std::lock_guard lock(mutex_);
  snap->generation = generation_.load(std::memory_order_relaxed) + 1;
  current_ = std::move(snap);
  generation_.store(current_->generation, std::memory_order_release);
  return ok();
}

CertificateStore::SnapshotPtr CertificateStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace remora::tls
