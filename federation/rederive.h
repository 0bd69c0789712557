// Continuing a re-derivation (fedrelay-audit --state): RederiveLog
// (federation.h) for the entries after those an earlier run verified.
#ifndef FEDRELAY_FEDERATION_REDERIVE_H_
#define FEDRELAY_FEDERATION_REDERIVE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "federation/federation.h"
#include "federation/state.h"
#include "store/key_value_store.h"
#include "store/log_reader.h"

namespace fedrelay::federation {

// Checks the entries [begin, log.Size()) as RederiveLog does, on top of
// `*state`, the state the entries before `begin` left (e.g. DerivedState::Load
// of a store an earlier call persisted). `*state` becomes the state after the
// last entry checked (also on failure: up to the entry before the divergence),
// and every state change is added to `*writes` (if set) so the caller can
// persist it. The report's `entries` counts the entries checked by this call.
absl::StatusOr<RederiveReport> RederiveLogFrom(
    const store::LogReader& log, uint64_t begin, const std::string& relay_pubkey_hex,
    uint64_t max_clock_skew_ms, DerivedState* state, store::WriteSet* writes,
    const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_REDERIVE_H_
