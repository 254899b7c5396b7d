#include "elastic/store/auth.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"

namespace braid::elastic {
namespace {

constexpr char kClientLabel[] = "braid-store-v1 client";
constexpr char kServerLabel[] = "braid-store-v1 server";

std::string Proof(absl::string_view label, absl::string_view token, absl::string_view server_nonce,
                  absl::string_view client_nonce) {
  std::string input = absl::StrCat(label, server_nonce, client_nonce);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // HMAC with an empty key is well defined; OpenSSL wants a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* key = token.empty() ? static_cast<const void*>(&kEmpty) : token.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(token.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
           &mac_len) == nullptr) {
    // Only on allocation failure inside OpenSSL. An empty proof never matches
    // a real one (AuthProofsEqual checks lengths), so the handshake fails.
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

}  // namespace

absl::StatusOr<std::string> MakeAuthNonce() {
  std::string nonce(kAuthNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) !=
      1) {
    return absl::InternalError(absl::StrCat("RAND_bytes failed (OpenSSL error ", ERR_get_error(),
                                            "); cannot authenticate store connections"));
  }
  return nonce;
}

std::string ClientAuthProof(absl::string_view token, absl::string_view server_nonce,
                            absl::string_view client_nonce) {
  return Proof(kClientLabel, token, server_nonce, client_nonce);
}

std::string ServerAuthProof(absl::string_view token, absl::string_view server_nonce,
                            absl::string_view client_nonce) {
  return Proof(kServerLabel, token, server_nonce, client_nonce);
}

bool AuthProofsEqual(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace braid::elastic
