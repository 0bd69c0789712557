// fedrelay-audit's checks of signed checkpoints against the audited log.
#ifndef FEDRELAY_TOOLS_AUDIT_CHECKPOINTS_H_
#define FEDRELAY_TOOLS_AUDIT_CHECKPOINTS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/log_store.h"
#include "store/note.h"

namespace fedrelay::audit {

// The checkpoint body of `note` once its signature verifies under `verifier`
// and its origin is the verifier key's name; DATA_LOSS prefixed by `what` otherwise.
absl::StatusOr<store::CheckpointBody> OpenCheckpoint(const store::NoteVerifier& verifier,
                                                     absl::string_view note, absl::string_view what);

// Verifies a signed checkpoint note and that the log's root at its size matches.
absl::Status CheckCheckpoint(const store::LogStore& store, const store::NoteVerifier& verifier,
                             absl::string_view note, absl::string_view what);

}  // namespace fedrelay::audit

#endif  // FEDRELAY_TOOLS_AUDIT_CHECKPOINTS_H_
