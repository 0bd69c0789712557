#include "relay/relay_key.h"

#include <sys/stat.h>

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "spdlog/spdlog.h"
#include "store/note.h"

namespace fedrelay::relay {
namespace {

absl::Status RecordKey(store::LogStore& store, const Ed25519PrivateKey& key) {
  store::WriteSet writes;
  writes.Put(store::Table::kAux, kRelayPublicKeyAuxKey, key.PublicKeyHex());
  return store.Write(writes);
}

// A store from before keys were recorded: its latest checkpoint names the key.
absl::Status CheckSignsLatestCheckpoint(const store::LogStore& store, const std::string& origin,
                                        const Ed25519PrivateKey& key, const std::string& key_file) {
  const std::optional<store::StoredCheckpoint> latest = store.LatestCheckpoint();
  if (!latest.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(store::NoteVerifier verifier,
                   store::ParseVerifierKey(store::FormatVerifierKey(origin, key.PublicKey())));
  if (!store::OpenNote(latest->note, verifier).ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key file ", key_file, " (public key ", key.PublicKeyHex(),
        ") did not sign this store's latest checkpoint: restore the relay's original key file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Ed25519PrivateKey> LoadOrCreateRelayKey(const std::string& key_file,
                                                       const std::string& origin,
                                                       store::LogStore& store, bool* created) {
  *created = false;
  ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                   store.Get(store::Table::kAux, kRelayPublicKeyAuxKey));
  std::error_code ec;
  if (std::filesystem::exists(key_file, ec)) {
    ASSIGN_OR_RETURN(Ed25519PrivateKey key, ReadKeyFile(key_file));
    if (recorded.has_value()) {
      if (*recorded != key.PublicKeyHex()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "key file ", key_file, " holds public key ", key.PublicKeyHex(),
            " but this store's log is signed by relay key ", *recorded,
            ": restore that key file (checkpoints under another key would verify under neither)"));
      }
      return key;
    }
    RETURN_IF_ERROR(CheckSignsLatestCheckpoint(store, origin, key, key_file));
    RETURN_IF_ERROR(RecordKey(store, key));
    return key;
  }
  if (recorded.has_value() || store.Size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key file ", key_file, " does not exist, but this store already holds a log",
        recorded.has_value() ? absl::StrCat(" signed by relay key ", *recorded) : std::string(),
        ": restore the key file (a new key is generated only for a new, empty store)"));
  }
  const auto parent = std::filesystem::path(key_file).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory for key file ", key_file, ": ", ec.message()));
    }
    // Only the relay's user needs to see where its secret lives.
    chmod(parent.c_str(), 0700);
  }
  Ed25519PrivateKey key = Ed25519PrivateKey::Generate();
  RETURN_IF_ERROR(WriteKeyFile(key_file, key));
  RETURN_IF_ERROR(RecordKey(store, key));
  *created = true;
  return key;
}

}  // namespace fedrelay::relay
