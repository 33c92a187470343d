#include "tls/key.h"

#include <fmt/format.h>
#include <openssl/core_names.h>

namespace remora::tls {

Result<PKeyPtr> generateP256Key() {
  PKeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return openSslError(Errc::Internal, "generating an ECDSA P-256 key");
  return key;
}

KeyInfo describeKey(EVP_PKEY* key) {
  KeyInfo info;
  info.bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        clearOpenSslErrors();
        group[0] = '\0';
      }
      std::string_view name(group);
      if (name == "prime256v1" || name == "P-256") {
        info.type = KeyType::EcP256;
        info.description = "ECDSA P-256";
      } else if (name == "secp384r1" || name == "P-384") {
        info.type = KeyType::EcP384;
        info.description = "ECDSA P-384";
      } else {
        info.type = KeyType::EcOther;
        info.description = fmt::format("ECDSA {}", name.empty() ? "(explicit curve)" : name);
      }
      break;
    }
    case EVP_PKEY_RSA:
      info.type = KeyType::Rsa;
      info.description = fmt::format("RSA {}", info.bits);
      break;
    case EVP_PKEY_ED25519:
      info.type = KeyType::Ed25519;
      info.description = "ED25519";
      break;
    default: {
      info.type = KeyType::Other;
      const char* name = EVP_PKEY_get0_type_name(key);
      info.description = name != nullptr ? name : "unknown";
      break;
    }
  }
  return info;
}

Status checkWorkloadKey(const KeyInfo& key) {
  switch (key.type) {
    case KeyType::EcP256:
    case KeyType::EcP384: return ok();
    case KeyType::Rsa:
      if (key.bits >= 2048 && key.bits <= 4096) return ok();
      break;
    default: break;
  }
  return Error{Errc::Unsupported,
               fmt::format("unsupported key type {}: use ECDSA P-256 or P-384, or RSA 2048-4096",
                           key.description)};
}

}  // namespace remora::tls
