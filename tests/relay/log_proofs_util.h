// What an auditor checks against a relay's AuditLog, for integration tests:
// that a receipted leaf is in a checkpointed tree, and that a later tree
// extends an earlier checkpoint.
#ifndef FEDRELAY_TESTS_RELAY_LOG_PROOFS_UTIL_H_
#define FEDRELAY_TESTS_RELAY_LOG_PROOFS_UTIL_H_

#include "absl/status/status.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"

namespace fedrelay::testing {

// OK when the relay's inclusion proof for `receipt`'s leaf verifies against
// `checkpoint`'s root (and the leaf hash is the receipt's).
absl::Status CheckIncluded(v1::AuditLog::Stub& audit, const v1::RelayReceipt& receipt,
                           const v1::Checkpoint& checkpoint);

// OK when the relay's consistency proof from `before` to `after` verifies.
absl::Status CheckConsistent(v1::AuditLog::Stub& audit, const v1::Checkpoint& before,
                             const v1::Checkpoint& after);

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_LOG_PROOFS_UTIL_H_
