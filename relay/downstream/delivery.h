// Downstream delivery to peer homeservers (FederationRelay.Subscribe and
// Acknowledge, SPEC section 4): receives every durable entry from the
// federation core and serves subscribers from memory when they keep up and
// from the log on disk when they fall behind.
//
// Guarantees (docs/protocol-notes.md "Downstream delivery"):
// * at-least-once, in event_id order, without gaps among the events a
//   subscriber may see, across disconnects and relay restarts: only durable
//   entries are ever sent, and a subscriber's durable cursor (a CursorBook,
//   relay/downstream/cursor_book.h) only moves forward;
// * OnDurable (the federation core's writer thread) never blocks and never
//   touches a subscriber: it appends the batch to a bounded ring of recent
//   entries and signals the delivery's fan-out thread, so write latency does
//   not grow with subscribers. Streams read from the ring and, when they fall
//   behind it, from the log on disk, so a stalled subscriber costs a bounded
//   amount of memory and slows nobody.
//
// Lifecycle: Create -> Federation::Open(..., sink = the delivery) ->
// Start(federation) -> serve -> Shutdown -> Federation::Stop -> destroy.
// Subscribe/Acknowledge before Start or after Shutdown answer UNAVAILABLE.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_DELIVERY_H_
#define FEDRELAY_RELAY_DOWNSTREAM_DELIVERY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "base/clock.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "relay/auth/api_keys.h"
#include "relay/auth/downstream_auth.h"
#include "relay/downstream/cursor_book.h"
#include "store/log_store.h"

namespace fedrelay::relay {

// A subscriber on a transport other than gRPC (the integration WebSocket,
// relay/http/integration_ws.h): it gets exactly what a gRPC Subscribe stream
// with the same principal and request gets, one event at a time.
class EventSubscriber {
 public:
  virtual ~EventSubscriber() = default;
  // The next event, in event_id order. The subscriber calls `done(true)` once
  // the event has left (then the next one follows) or `done(false)` when it
  // cannot be written (the stream ends), exactly once, from any thread but
  // never from inside Deliver. While the subscriber has not called `done`,
  // newer events wait in the shared ring and then in the log: a slow reader
  // costs bounded memory and never slows the writer or other subscribers.
  // Deliver and Ended run with the stream's lock held: they must not call
  // back into the EventSubscription.
  virtual void Deliver(const v1::StreamResponse& event, std::function<void(bool written)> done) = 0;
  // The delivery ended the stream (key revoked, shutdown, unreadable log):
  // `status` says why, in WireMessage form. Called at most once, never after
  // the subscriber's own Cancel.
  virtual void Ended(const absl::Status& status) = 0;
};

// The delivery's side of an EventSubscriber's stream.
class EventSubscription {
 public:
  virtual ~EventSubscription() = default;
  // Ends the stream (idempotent); no Ended follows. Call without holding a
  // lock that Deliver or Ended takes.
  virtual void Cancel() = 0;
};

struct DeliveryOptions {
  store::LogStore* store = nullptr;  // required
  // Subscribers' durable cursors; null: a StoreCursorBook over `store`.
  CursorBook* cursors = nullptr;
  ApiKeys* api_keys = nullptr;       // null: only peers may subscribe
  std::string server_id;             // this relay's id (Call signature destination)
  uint64_t max_clock_skew_ms = 300000;
  const Clock* clock = &SystemClock();
  // A stream more than this many entries behind the newest durable entry
  // counts as catching up (fedrelay_subscriber_catchups_total) until it has
  // read everything again.
  size_t behind_limit = 1024;
  // The ring: the most recent durable entries, kept decoded and encoded in
  // memory and shared by every stream; older ones come from disk.
  size_t recent_entries = 16384;
  // Threads that turn entries into writes (never block on a subscriber).
  int threads = 2;
};

// One open stream as the operator sees it (fedrelay-ctl subscribers).
struct SubscriberInfo {
  std::string identity;             // "peer:<server_id>" or "key:<key id>"
  std::string transport;            // "grpc" or "websocket"
  std::vector<std::string> guild_ids;  // the stream's filters, as requested
  std::vector<std::string> kinds;
  uint64_t acked_event_id = 0;      // the identity's durable cursor
  uint64_t sent_through = 0;        // every event up to this id has been written to it
  uint64_t lag_events = 0;          // durable events not yet written to it
  double lag_seconds = 0;           // age of the event in flight while behind, else 0
  uint64_t connected_since_ms = 0;  // Unix ms
};

namespace downstream {
class SubscriberStats;
struct StreamContext;
}  // namespace downstream

class Delivery final : public federation::EventSink {
 public:
  static std::unique_ptr<Delivery> Create(const DeliveryOptions& options);
  explicit Delivery(const DeliveryOptions& options);
  // Shuts down if Shutdown has not run.
  ~Delivery() override;

  // Begins serving; `federation` answers peer, homeserver and invite queries
  // and must outlive the delivery's use of it (until Shutdown).
  void Start(const federation::Federation* federation);

  // The federation core's writer thread: appends the entries to the ring and
  // signals the fan-out thread; O(entries), whatever the number of subscribers.
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override;

  // `request` is an encoded SubscribeRequest and every message written is an
  // encoded StreamResponse: raw, so that one encoding of an event serves every
  // subscriber that receives it.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request);
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const v1::AcknowledgeRequest* request,
                                        v1::AcknowledgeResponse* response);
  // The same stream for an already authenticated principal on another
  // transport: kUnavailable before Start or after Shutdown, kMalformed for a
  // bad filter, kInvalidCursor for a bad resume_from_event_id.
  absl::StatusOr<std::shared_ptr<EventSubscription>> SubscribeEvents(
      const Principal& principal, const v1::SubscribeRequest& request,
      std::shared_ptr<EventSubscriber> subscriber);
  // Moves the principal's durable cursor (the one Acknowledge moves) to
  // `event_id` unless it is beyond; returns the cursor afterwards.
  // kInvalidCursor when `event_id` is beyond the log.
  absl::StatusOr<uint64_t> AcknowledgeEvent(const Principal& principal, uint64_t event_id);

  // Ends every stream (UNAVAILABLE) and stops the fan-out thread and the work
  // pool, for shutdown. Idempotent.
  void Shutdown();

  // Open Subscribe streams.
  size_t subscriber_count() const;
  // The open streams, by identity then connection time.
  std::vector<SubscriberInfo> Subscribers() const;

 private:
  // What a new stream of either transport starts from: its filter, the
  // position it starts after, its stats and its listing (logs the connect).
  struct StreamStart;
  absl::StatusOr<StreamStart> ResolveStreamStart(const Principal& principal,
                                                 const v1::SubscribeRequest& request);
  absl::StatusOr<uint64_t> StartPosition(const Principal& principal,
                                         const v1::SubscribeRequest& request);
  absl::Status CheckRunning() const;
  void LoadKnownSubscribers();
  // The fan-out thread: resolves and encodes what the writer published, wakes streams,
  // ends the streams of unpinned peers.
  void RunFanOut();

  const DeliveryOptions options_;
  // Shared with the streams, which may outlive this object.
  const std::shared_ptr<downstream::StreamContext> context_;
  const std::unique_ptr<CursorBook> own_cursors_;  // when the options name none
  CursorBook& cursors_;
  const std::unique_ptr<downstream::SubscriberStats> stats_;
  std::unique_ptr<DownstreamAuthenticator> auth_;  // set by Start
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::thread fan_out_thread_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_DELIVERY_H_
