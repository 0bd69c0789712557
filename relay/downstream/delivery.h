// Downstream delivery to peer homeservers (FederationRelay.Subscribe and
// Acknowledge, SPEC section 4): receives every durable entry from the
// federation core and serves subscribers from memory when they keep up and
// from the log on disk when they fall behind.
//
// Guarantees (docs/protocol-notes.md "Downstream delivery"):
// * at-least-once, in event_id order, without gaps among the events a
//   subscriber may see, across disconnects and relay restarts: only durable
//   entries are ever sent, and a subscriber's durable cursor (Table::kCursors,
//   synced writes) only moves forward;
// * OnDurable never blocks: it appends shared entries to bounded per-stream
//   queues. A stream whose queue overflows is not dropped; it continues from
//   the log on disk and rejoins the live queue when it has caught up, so a
//   stalled subscriber costs a bounded amount of memory and slows nobody.
//
// Lifecycle: Create -> Federation::Open(..., sink = the delivery) ->
// Start(federation) -> serve -> Shutdown -> Federation::Stop -> destroy.
// Subscribe/Acknowledge before Start or after Shutdown answer UNAVAILABLE.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_DELIVERY_H_
#define FEDRELAY_RELAY_DOWNSTREAM_DELIVERY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "base/clock.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "relay/auth/api_keys.h"
#include "store/log_store.h"

namespace fedrelay::relay {

struct DeliveryOptions {
  store::LogStore* store = nullptr;  // required
  ApiKeys* api_keys = nullptr;       // null: only peers may subscribe
  std::string server_id;             // this relay's id (Call signature destination)
  uint64_t max_clock_skew_ms = 300000;
  const Clock* clock = &SystemClock();
  // Entries a live stream may have queued before it falls back to the log.
  size_t queue_capacity = 1024;
  // The most recent durable entries, kept decoded and encoded in memory and
  // shared by every stream that is catching up; older ones come from disk.
  size_t recent_entries = 16384;
  // Threads that turn entries into writes (never block on a subscriber).
  int threads = 2;
};

class Delivery : public federation::EventSink {
 public:
  static std::unique_ptr<Delivery> Create(const DeliveryOptions& options);
  ~Delivery() override = default;

  // Begins serving; `federation` answers peer, homeserver and invite queries
  // and must outlive the delivery's use of it (until Shutdown).
  virtual void Start(const federation::Federation* federation) = 0;

  // `request` is an encoded SubscribeRequest and every message written is an
  // encoded StreamResponse: raw, so that one encoding of an event serves every
  // subscriber that receives it.
  virtual grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                                const grpc::ByteBuffer* request) = 0;
  virtual grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                                const v1::AcknowledgeRequest* request,
                                                v1::AcknowledgeResponse* response) = 0;
  // Ends every stream (UNAVAILABLE) for shutdown.
  virtual void Shutdown() = 0;

  // Open Subscribe streams.
  virtual size_t subscriber_count() const = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_DELIVERY_H_
