// Private keys: generation and description.
//
// Workload and CA keys are ECDSA P-256 (as Istio's agent with
// ECC_SIGNATURE_ALGORITHM=ECDSA, and the cheapest handshake, see
// PERFORMANCE.md 3.3). A key is an owned PKeyPtr; nothing here keeps a
// reference to it.
#pragma once

#include <string>

#include "core/result.h"
#include "tls/openssl.h"

namespace remora::tls {

enum class KeyType { EcP256, EcP384, EcOther, Rsa, Ed25519, Other };

struct KeyInfo {
  KeyType type = KeyType::Other;
  int bits = 0;
  std::string description;  // "ECDSA P-256", "RSA 2048", "ED25519", ...
};

// A fresh ECDSA P-256 key pair from OpenSSL's default random source.
Result<PKeyPtr> generateP256Key();

// What kind of key `key` is (public or private).
KeyInfo describeKey(EVP_PKEY* key);

// Keys the CA signs for: ECDSA P-256 or P-384, RSA 2048 to 4096 bits.
// Anything else is an Unsupported Error naming the key.
Status checkWorkloadKey(const KeyInfo& key);

}  // namespace remora::tls
