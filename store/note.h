// C2SP signed notes (c2sp.org/signed-note) carrying C2SP tlog-checkpoint bodies
// (c2sp.org/tlog-checkpoint), with Ed25519 signatures (algorithm byte 0x01).
//
//   body      = "<origin>\n<tree size>\n<base64 root>\n"
//   note      = body + "\n" + one line per signature: "— <name> <base64(keyhash4 || sig)>\n"
//   keyhash4  = SHA-256(name || "\n" || 0x01 || pubkey)[:4]
//   vkey      = "<name>+<hex keyhash4>+<base64(0x01 || pubkey)>"
#ifndef FEDRELAY_STORE_NOTE_H_
#define FEDRELAY_STORE_NOTE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/crypto.h"

namespace fedrelay::store {

struct CheckpointBody {
  std::string origin;
  uint64_t tree_size = 0;
  std::string root_hash;  // raw 32 bytes
};

std::string FormatCheckpointBody(const CheckpointBody& checkpoint);
// Strict: exactly three lines (extension lines after them are allowed and ignored),
// decimal size without leading zeros, 32-byte base64 root.
absl::StatusOr<CheckpointBody> ParseCheckpointBody(absl::string_view body);

struct NoteVerifier {
  std::string name;
  std::string key_hash;  // 4 bytes
  std::string public_key;  // raw 32 bytes
};

// Key names are non-empty UTF-8 without whitespace, control characters or '+'
// (the verifier-key separator); notes signed under any other name cannot be opened.
bool IsValidNoteName(absl::string_view name);

std::string NoteKeyHash(absl::string_view name, absl::string_view public_key);
std::string FormatVerifierKey(absl::string_view name, absl::string_view public_key);
absl::StatusOr<NoteVerifier> ParseVerifierKey(absl::string_view vkey);

// Signs `body` (which must end in "\n") as `name`.
std::string SignNote(absl::string_view body, absl::string_view name, const Ed25519PrivateKey& key);
// Returns the body when the note carries a valid signature by `verifier`;
// UNAUTHENTICATED when it does not, INVALID_ARGUMENT when the note is malformed.
absl::StatusOr<std::string> OpenNote(absl::string_view note, const NoteVerifier& verifier);

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_NOTE_H_
