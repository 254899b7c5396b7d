// Mutual challenge-response authentication of store connections
// (docs/store_protocol.md, "Handshake").
//
// Both sides know the job token; it never crosses the wire. Each side sends a
// fresh random nonce and proves knowledge of the token with an HMAC-SHA256
// over both nonces, with a different label per direction so that one side's
// proof can never be replayed (reflected) as the other's:
//
//   client_proof = HMAC-SHA256(token, "braid-store-v1 client" || server_nonce || client_nonce)
//   server_proof = HMAC-SHA256(token, "braid-store-v1 server" || server_nonce || client_nonce)
//
// Proofs are compared in constant time (CRYPTO_memcmp).
//
// Thread-safety: all functions are thread-safe.
#ifndef BRAID_ELASTIC_STORE_AUTH_H_
#define BRAID_ELASTIC_STORE_AUTH_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braid::elastic {

inline constexpr size_t kAuthNonceBytes = 32;
inline constexpr size_t kAuthProofBytes = 32;  // SHA-256
inline constexpr uint32_t kStoreProtocolVersion = 1;

// kAuthNonceBytes bytes from OpenSSL's CSPRNG; kInternal if it fails.
absl::StatusOr<std::string> MakeAuthNonce();

// The proofs defined above.
std::string ClientAuthProof(absl::string_view token, absl::string_view server_nonce,
                            absl::string_view client_nonce);
std::string ServerAuthProof(absl::string_view token, absl::string_view server_nonce,
                            absl::string_view client_nonce);

// Constant-time equality; false when the lengths differ.
bool AuthProofsEqual(absl::string_view a, absl::string_view b);

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_AUTH_H_
