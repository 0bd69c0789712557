#include "tools/audit/checkpoints.h"

#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/status_macros.h"

namespace fedrelay::audit {

absl::StatusOr<store::CheckpointBody> OpenCheckpoint(const store::NoteVerifier& verifier,
                                                     absl::string_view note, absl::string_view what) {
  auto body = store::OpenNote(note, verifier);
  if (!body.ok()) return absl::DataLossError(absl::StrCat(what, ": ", body.status().message()));
  ASSIGN_OR_RETURN(auto checkpoint, store::ParseCheckpointBody(*body));
  if (checkpoint.origin != verifier.name) {
    return absl::DataLossError(absl::StrCat(what, ": origin ", checkpoint.origin,
                                            " is not the verifier key's name ", verifier.name));
  }
  return checkpoint;
}

absl::Status CheckCheckpoint(const store::LogStore& store, const store::NoteVerifier& verifier,
                             absl::string_view note, absl::string_view what) {
  ASSIGN_OR_RETURN(const store::CheckpointBody checkpoint, OpenCheckpoint(verifier, note, what));
  if (checkpoint.tree_size > store.Size()) {
    return absl::DataLossError(absl::StrCat(what, ": covers ", checkpoint.tree_size,
                                            " entries but the log has only ", store.Size()));
  }
  ASSIGN_OR_RETURN(auto root, store.RootHash(checkpoint.tree_size));
  if (root != checkpoint.root_hash) {
    return absl::DataLossError(absl::StrCat(what, ": root at size ", checkpoint.tree_size, " is ",
                                            Base64Encode(root), " but the checkpoint says ",
                                            Base64Encode(checkpoint.root_hash)));
  }
  return absl::OkStatus();
}

}  // namespace fedrelay::audit
