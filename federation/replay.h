// Continuing a replay (fedrelay-audit --state): ReplayLog (federation.h) for
// the entries after those an earlier run verified.
#ifndef FEDRELAY_FEDERATION_REPLAY_H_
#define FEDRELAY_FEDERATION_REPLAY_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "federation/federation.h"
#include "federation/state.h"
#include "store/log_store.h"

namespace fedrelay::federation {

// Checks the entries [begin, store.Size()) as ReplayLog does, on top of
// `*state`, the state the entries before `begin` left (e.g. DerivedState::Load
// of a store an earlier call persisted). `*state` becomes the state after the
// last entry checked (also on failure: up to the entry before the divergence),
// and every state change is added to `*writes` (if set) so the caller can
// persist it. The report's `entries` counts the entries checked by this call.
absl::StatusOr<ReplayReport> ReplayLogFrom(
    const store::LogStore& store, uint64_t begin, const std::string& relay_pubkey_hex,
    uint64_t max_clock_skew_ms, DerivedState* state, store::WriteSet* writes,
    const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_REPLAY_H_
