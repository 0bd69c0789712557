// Subscriber cursors shared by every fan-out node (docs/scale-out.md), in the
// JetStream key-value bucket BusNames::cursor_bucket, so a subscriber may
// acknowledge on one node and resume on another.
//
// A cursor only moves forward: Advance reads the stored value and its
// revision and writes with compare-and-swap (the write succeeds only while
// the revision is unchanged), retrying when another node wrote in between, so
// two nodes acknowledging at once never move a cursor back.
//
// Keys are the hex of the subscriber identity (bucket keys allow few
// characters); values are the event_id in decimal.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_BUS_KV_CURSORS_H_
#define FEDRELAY_BUS_KV_CURSORS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bus/nats_bus.h"

namespace fedrelay::bus {

class KvCursors {
 public:
  // Creates the bucket when it is missing. `bus` must outlive this.
  static absl::StatusOr<std::unique_ptr<KvCursors>> Open(NatsBus* bus, std::string bucket);

  // The identity's cursor (0 = nothing acknowledged yet).
  absl::StatusOr<uint64_t> Get(const std::string& identity);
  // Moves the cursor to `event_id` unless it is already there or beyond;
  // returns the cursor afterwards (written to the bucket before this returns).
  absl::StatusOr<uint64_t> Advance(const std::string& identity, uint64_t event_id);

 private:
  KvCursors(NatsBus* bus, std::string bucket) : bus_(bus), bucket_(std::move(bucket)) {}
  NatsBus* const bus_;
  const std::string bucket_;
};

}  // namespace fedrelay::bus

#endif  // FEDRELAY_BUS_KV_CURSORS_H_
