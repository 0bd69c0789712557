// One subscriber's stream, whatever the transport (relay/downstream/delivery.h
// creates them): a GrpcSubscriberStream per Subscribe call, an
// ExternalSubscriberStream per SubscribeEvents (e.g. an integration
// WebSocket). Both share the ordering, catch-up and flow control of
// SubscriberStream and differ only in how one write starts and reports back
// (WriteDone):
//
//   fan-out thread (Wake)          work pool (Turn)                    transport (WriteDone)
//   ---------------------          ----------------                    ---------------------
//   new entries are ready: an      read on from next_id_: the ring     next pending event, or
//   idle stream whose filter may   in memory, else the log on disk;    continue the turn on this
//   select one gets a turn; one    select what the subscriber may      thread while the entries
//   that may not moves past them   see; start ONE write                are in memory
//
// Each stream has at most one write outstanding and at most one turn queued
// or running, so per-stream state outside `mu_` (next_id_, pending_,
// catch_up_, current_) is only ever touched by one thread at a time: the turn
// holder, the transport while a write is out, or (while the stream is idle)
// whoever holds `mu_`.
//
// Ordering and gaps: a stream consumes entries in id order from next_id_ on;
// entries its filter cannot select are passed over, never sent. Reads (from
// the ring or the log) stop at the last entry marked ready. A stream goes idle
// only under its lock and only after it saw that nothing ready lies at or
// after next_id_; the fan-out thread marks entries ready before it takes that
// lock to wake the stream, so no entry can be missed between the two.
//
// Locks: a stream's `mu_` is never held while another lock is taken, except
// that a transport write or finish starts under it (EventSubscriber::Deliver
// runs there). The context's and the pool's locks are taken alone.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_SUBSCRIBER_STREAM_H_
#define FEDRELAY_RELAY_DOWNSTREAM_SUBSCRIBER_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/metrics.h"
#include "relay/auth/downstream_auth.h"
#include "relay/downstream/delivery.h"
#include "relay/downstream/fan_out_ring.h"
#include "relay/downstream/subscriber_stats.h"
#include "relay/downstream/visibility.h"
#include "store/log_store.h"

namespace fedrelay::relay::downstream {

class SubscriberStream;

// Runs stream turns on a few threads.
class StreamPool {
 public:
  explicit StreamPool(int threads);
  ~StreamPool() { Stop(); }

  // Dropped once stopped.
  void Post(std::shared_ptr<SubscriberStream> stream);
  // One lock for a whole fan-out's worth of turns.
  void PostAll(std::vector<std::shared_ptr<SubscriberStream>> streams);
  // Finishes the turn in progress on each thread and drops the queued ones.
  // Must not run on a pool thread.
  void Stop();

 private:
  void Run();
  bool HasWorkOrStopped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || !queue_.empty();
  }

  absl::Mutex mu_;
  std::deque<std::shared_ptr<SubscriberStream>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// What the streams share with the Delivery that made them. Held by shared_ptr
// so a stream that outlives the Delivery (gRPC finishes it later) never dangles.
struct StreamContext {
  StreamContext(store::LogStore* store, size_t ring_capacity, int threads, size_t behind_limit);

  store::LogStore* const store;
  FanOutRing ring;
  StreamPool pool;
  const size_t behind_limit;
  Gauge& subscribers_gauge;
  std::unique_ptr<Visibility> visibility;  // set by Delivery::Start, before any stream

  void Register(const std::shared_ptr<SubscriberStream>& stream);
  void Unregister(SubscriberStream* stream);
  size_t stream_count() const;
  // Every open stream.
  std::vector<std::shared_ptr<SubscriberStream>> Streams() const;
  // Ends the streams `match` selects, with `status`.
  void EndStreams(const std::function<bool(const Principal&)>& match, const grpc::Status& status);
  // Wakes the idle streams that may select an entry of `batch` (FanOutRing::NextBatch).
  void WakeStreams(const ReadyBatch& batch);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<SubscriberStream*, std::shared_ptr<SubscriberStream>> streams_
      ABSL_GUARDED_BY(mu_);
};

class SubscriberStream : public std::enable_shared_from_this<SubscriberStream> {
 public:
  SubscriberStream(std::shared_ptr<StreamContext> context, Principal principal, EventFilter filter,
                   uint64_t start_after, std::shared_ptr<IdentityStats> stats);
  virtual ~SubscriberStream() = default;

  // Joins the fan-out and schedules the first turn, which starts reading the
  // log. The stream keeps itself alive until Done().
  void Join();

  const Principal& principal() const { return principal_; }
  // The operator's view of the stream: set once, before Join.
  void SetInfo(SubscriberInfo info) { info_ = std::move(info); }
  const SubscriberInfo& info() const { return info_; }
  const StreamProgress& progress() const { return *progress_; }

  // Fan-out thread, after it marked `batch` ready: counts a stream that fell
  // too far behind as catching up, and wakes it if it is idle and its filter
  // may select an entry of the batch; an idle stream whose filter selects
  // none just moves past the batch, so a subscriber to a few guilds costs a
  // filter check per entry and nothing more. True when the caller must post a turn.
  bool Wake(const ReadyBatch& batch);

  // Whoever set scheduled_, exclusively: a pool thread, or (may_read_log =
  // false) the transport's thread finishing the previous write, which saves a
  // thread hand-off per event while the entries are in memory and hands disk
  // reads to the pool.
  void Turn(bool may_read_log = true);

  // Finishes the stream with `status` (idempotent).
  void End(const grpc::Status& status);

  // The transport finished writing current_ (ok) or could not (the stream ends).
  void WriteDone(bool ok);

  // Leaves the fan-out once the transport is done with the stream.
  void Done();

 protected:
  struct OutgoingWrite {
    grpc::ByteBuffer message;  // an encoded StreamResponse
    OutgoingEvent event;       // the same event, decoded
    uint64_t event_id = 0;
    bool last_of_entry = false;
  };

  // Starts writing `write` (current_, stable until WriteDone); under mu_.
  virtual void TransportWrite(OutgoingWrite& write) = 0;
  // Ends the transport's stream; under mu_, once.
  virtual void TransportFinish(const grpc::Status& status) = 0;
  // After TransportFinish, without locks held.
  virtual void AfterFinish(const grpc::Status& /*status*/) {}

 private:
  bool GoIdleIfCaughtUp();
  absl::StatusOr<bool> ReadChunk(bool may_read_log);
  void PassThrough(uint64_t through);
  void Consume(const FanOutEntryPtr& entry);
  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<StreamContext> context_;
  const Principal principal_;
  const EventFilter filter_;
  const std::shared_ptr<IdentityStats> stats_;
  const std::shared_ptr<StreamProgress> progress_;  // this stream's, in stats_
  std::shared_ptr<SubscriberStream> self_;  // the transport's reference, dropped in Done
  SubscriberInfo info_;                     // set before Join, then read-only

  absl::Mutex mu_;
  // Caught up since it last fell more than the behind limit behind (the
  // catch-ups metric counts the falls); starts by reading.
  bool live_ ABSL_GUARDED_BY(mu_) = false;
  bool scheduled_ ABSL_GUARDED_BY(mu_) = false;  // a turn is queued or running
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;

  // Owned by whoever holds the turn (see the file comment).
  uint64_t next_id_;
  std::deque<OutgoingWrite> pending_;
  std::deque<FanOutEntryPtr> catch_up_;
  uint64_t catch_up_through_ = 0;  // last id the reads into catch_up_ covered
  OutgoingWrite current_;
};

// A FederationRelay.Subscribe call.
class GrpcSubscriberStream final : public SubscriberStream,
                                   public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  using SubscriberStream::SubscriberStream;

  // Sends the initial metadata (so the client knows it is subscribed), then joins.
  void Begin(grpc::CallbackServerContext* context, uint64_t start_after);

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override;
  void OnDone() override { Done(); }

 private:
  void TransportWrite(OutgoingWrite& write) override { StartWrite(&write.message); }
  void TransportFinish(const grpc::Status& status) override { Finish(status); }
};

// A subscriber on another transport (EventSubscriber, e.g. an integration WebSocket).
class ExternalSubscriberStream final : public SubscriberStream, public EventSubscription {
 public:
  ExternalSubscriberStream(std::shared_ptr<StreamContext> context, Principal principal,
                           EventFilter filter, uint64_t start_after,
                           std::shared_ptr<IdentityStats> stats,
                           std::shared_ptr<EventSubscriber> subscriber);

  void Cancel() override;

 private:
  void TransportWrite(OutgoingWrite& write) override;
  void TransportFinish(const grpc::Status&) override {}
  void AfterFinish(const grpc::Status& status) override;

  const std::shared_ptr<EventSubscriber> subscriber_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace fedrelay::relay::downstream

#endif  // FEDRELAY_RELAY_DOWNSTREAM_SUBSCRIBER_STREAM_H_
