// A read-only federation core for a node that follows a log another relay
// writes (fedrelay-fanout, docs/scale-out.md). It checks every followed entry
// the way the auditor does (federation/rederive.cc): under the rules as they
// stood when the relay received it, with the relay's own accept step, and the
// leaf must be byte for byte what they give. So a fan-out node re-derives the
// same state (peers, homeservers, invites, bans) and serves with the same
// visibility as the sequencer, without trusting the bus.
//
// Writes (Submit, peer changes) are refused with UNAVAILABLE: only the
// sequencer takes them.
//
// Flow: Check(entry n+1), Check(n+2), ... (each against the state plus the
// entries checked before it) -> the caller appends the leaves and WriteSet
// -> Commit() makes them part of the durable state, or Abandon() drops them.
//
// Thread-safety: queries are thread-safe; Check/Commit/Abandon come from one
// thread (the follower).
#ifndef FEDRELAY_FEDERATION_FOLLOWER_H_
#define FEDRELAY_FEDERATION_FOLLOWER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "federation/federation.h"
#include "store/log_store.h"

namespace fedrelay::federation {

class FollowerFederation : public Federation {
 public:
  // Loads the derived state kept in `store`'s state table (the node's own
  // store, which must outlive this). `relay_public_key_hex` is the
  // sequencer's key, which signs its operator actions.
  static absl::StatusOr<std::unique_ptr<FollowerFederation>> Open(
      store::LogStore* store, const std::string& relay_public_key_hex, uint64_t max_clock_skew_ms);

  // Checks the leaf of `event_id` (which must follow the last checked one)
  // and adds the state writes to append with it to `side`. DATA_LOSS when
  // the entry is not what the rules give; then neither `side` nor the state
  // changed, so the entries checked before it may still be committed.
  virtual absl::StatusOr<std::shared_ptr<const v1::LogEntry>> Check(uint64_t event_id,
                                                                    absl::string_view leaf,
                                                                    store::WriteSet& side) = 0;
  // The checked entries are durable: their state becomes what queries see.
  virtual void Commit() = 0;
  // The append failed: forget what was checked since the last Commit.
  virtual void Abandon() = 0;
};

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_FOLLOWER_H_
