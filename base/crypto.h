// SHA-256 and strict Ed25519 through libsodium.
//
// Thread-safety: all free functions are thread-safe after InitCrypto().
// Ed25519PrivateKey is immutable after construction and may be shared.
#ifndef FEDRELAY_BASE_CRYPTO_H_
#define FEDRELAY_BASE_CRYPTO_H_

#include <array>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fedrelay {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;
inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kSha256Bytes = 32;

// Initializes libsodium; idempotent. Call once early in main() and in tests.
absl::Status InitCrypto();

// Raw 32-byte SHA-256 digest.
std::string Sha256(absl::string_view data);

// `n` bytes from libsodium's CSPRNG (the kernel's getrandom): for secrets
// such as API keys and session tokens.
std::string RandomBytes(size_t n);

// Strict verification (libsodium crypto_sign_verify_detached): rejects
// non-canonical signatures and small-order public keys. Inputs are raw bytes;
// wrong lengths simply fail verification.
bool Ed25519Verify(absl::string_view public_key, absl::string_view message,
                   absl::string_view signature);

// True when `public_key` (raw 32 bytes) is a canonical encoding of a point of
// the prime-order subgroup (libsodium crypto_core_ed25519_is_valid_point), as
// every key made by Ed25519 key generation is. For keys an operator pins: most
// mistyped keys fail it, and small-order keys never verify anything.
bool Ed25519IsValidPublicKey(absl::string_view public_key);

class Ed25519PrivateKey {
 public:
  // Deterministic key from a 32-byte seed (the key file stores the seed).
  static absl::StatusOr<Ed25519PrivateKey> FromSeed(absl::string_view seed);
  static Ed25519PrivateKey Generate();

  Ed25519PrivateKey(const Ed25519PrivateKey&) = default;
  Ed25519PrivateKey& operator=(const Ed25519PrivateKey&) = default;
  ~Ed25519PrivateKey();

  // Raw 32-byte public key.
  std::string PublicKey() const;
  // Lowercase hex public key, the form used in string fields and config.
  std::string PublicKeyHex() const;
  // Raw 64-byte detached signature.
  std::string Sign(absl::string_view message) const;
  // Raw 32-byte seed; only key-file code should need this.
  std::string Seed() const;

 private:
  Ed25519PrivateKey() = default;
  std::array<unsigned char, 64> secret_{};  // libsodium's seed || public key form
};

// Key files hold one line of 64 lowercase hex characters (the seed); blank
// lines and lines starting with '#' (WriteKeyFile's header names the public
// key) are ignored, a second key line is refused. They must not be readable by
// group or others.
absl::StatusOr<Ed25519PrivateKey> ReadKeyFile(const std::string& path);
// Creates `path` with mode 0600; fails rather than overwrite an existing file.
absl::Status WriteKeyFile(const std::string& path, const Ed25519PrivateKey& key);

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_CRYPTO_H_
