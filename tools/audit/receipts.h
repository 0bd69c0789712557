// fedrelay-audit --receipts: checks receipts a peer kept against the audited
// log. A receipt file holds one JSON object per line as `fedrelay-client
// --json` prints an accepted submission ({"receipt":{"event_id","leaf_hash",
// "timestamp","signature"},...}; a bare receipt object is accepted too), with
// leaf_hash and signature in lowercase hex. Blank lines are skipped.
#ifndef FEDRELAY_TOOLS_AUDIT_RECEIPTS_H_
#define FEDRELAY_TOOLS_AUDIT_RECEIPTS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "store/log_store.h"

namespace fedrelay::audit {

// Each receipt in `path` must be signed by `relay_public_key` (raw 32 bytes)
// and name a leaf of `store` whose hash is its leaf_hash, proven by an
// inclusion proof to the root at the store's size. Returns how many were
// checked; DATA_LOSS naming the file and line of the first that fails.
absl::StatusOr<uint64_t> CheckReceiptsFile(const store::LogStore& store,
                                           const std::string& relay_public_key,
                                           const std::string& path);

}  // namespace fedrelay::audit

#endif  // FEDRELAY_TOOLS_AUDIT_RECEIPTS_H_
