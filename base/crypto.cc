#include "base/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/encoding.h"

namespace fedrelay {

absl::Status InitCrypto() {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  return absl::OkStatus();
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string Sha256(absl::string_view data) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

bool Ed25519Verify(absl::string_view public_key, absl::string_view message,
                   absl::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

bool Ed25519IsValidPublicKey(absl::string_view public_key) {
  return public_key.size() == crypto_core_ed25519_BYTES &&
         crypto_core_ed25519_is_valid_point(
             reinterpret_cast<const unsigned char*>(public_key.data())) == 1;
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(absl::string_view seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 seed must be 32 bytes, got ", seed.size()));
  }
  Ed25519PrivateKey key;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, key.secret_.data(), reinterpret_cast<const unsigned char*>(seed.data()));
  return key;
}

Ed25519PrivateKey Ed25519PrivateKey::Generate() {
  Ed25519PrivateKey key;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, key.secret_.data());
  return key;
}

Ed25519PrivateKey::~Ed25519PrivateKey() { sodium_memzero(secret_.data(), secret_.size()); }

std::string Ed25519PrivateKey::PublicKey() const {
  return std::string(reinterpret_cast<const char*>(secret_.data()) + 32, 32);
}

std::string Ed25519PrivateKey::PublicKeyHex() const { return HexEncode(PublicKey()); }

std::string Ed25519PrivateKey::Seed() const {
  return std::string(reinterpret_cast<const char*>(secret_.data()), 32);
}

std::string Ed25519PrivateKey::Sign(absl::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
  return sig;
}

absl::StatusOr<Ed25519PrivateKey> ReadKeyFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("key file ", path, ": ", std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key file ", path, " is readable by group or others; run: chmod 600 ", path));
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open key file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::optional<std::string> found;
  for (absl::string_view line : absl::StrSplit(buffer.str(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto seed = HexDecode(line, "key file seed", kEd25519SeedBytes);
    if (!seed.ok()) {
      // Never echo the line: it is (almost) a secret.
      return absl::InvalidArgumentError(
          absl::StrCat("key file ", path, ": expected 64 lowercase hex characters (the seed)"));
    }
    // Two keys in one file: which one was meant is a guess we must not make.
    if (found.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("key file ", path, " holds more than one key line"));
    }
    found = *std::move(seed);
  }
  if (!found.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path, " holds no key"));
  }
  return Ed25519PrivateKey::FromSeed(*found);
}

absl::Status WriteKeyFile(const std::string& path, const Ed25519PrivateKey& key) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("cannot create key file ", path, ": ", std::strerror(errno)));
  }
  const std::string text =
      absl::StrCat("# fedrelay Ed25519 private key (seed). Keep secret.\n# public key: ",
                   key.PublicKeyHex(), "\n", HexEncode(key.Seed()), "\n");
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  fsync(fd) == 0;
  close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("writing key file ", path, " failed"));
  return absl::OkStatus();
}

}  // namespace fedrelay
