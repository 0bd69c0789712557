// The Delivery implementation. One SubscriberStream per Subscribe call
// (GrpcSubscriberStream) or per SubscribeEvents (ExternalSubscriberStream, e.g.
// an integration WebSocket); both share everything below and differ only in
// how one write starts and reports back (WriteDone):
//
//   writer thread (OnDurable)   fan-out thread (one)          work pool / transport (Turn, WriteDone)
//   -------------------------   --------------------          ---------------------------------------
//   append the batch to the     encode each new entry once;   a stream reads from next_id_ on: the
//   ring of recent entries      mark it ready; wake each      ring in memory, else the log on disk;
//   (bounded, O(batch), no      idle stream whose filter      selects what its subscriber may see;
//   subscriber is touched);     may select one of them;       starts ONE write; when it ends, the
//   signal the fan-out thread   end streams of unpinned peers next write or the next read follows
//
// So the writer's cost does not grow with subscribers, and the fan-out thread
// only takes each stream's lock briefly to wake it. Each stream has at most one
// write outstanding and at most one turn queued or running, so per-stream state
// outside `mu_` (next_id_, pending_, catch_up_, current_) is only ever touched
// by one thread at a time: the turn holder, the transport while a write is out,
// or (while the stream is idle) whoever holds `mu_`.
//
// Ordering and gaps: a stream consumes entries in id order from next_id_ on;
// entries its filter cannot select are passed over, never sent. Reads (from
// the ring or the log) stop at the last entry marked ready. A stream goes idle
// only under its lock and only after it saw that nothing ready lies at or
// after next_id_; the fan-out thread marks entries ready before it takes that
// lock to wake the stream, so no entry can be missed between the two.
//
// Locks: none is taken while another is held (SubscriberStream::mu_, the
// ring's, the subscriber set's, the work pool's, the stats'), except that a
// transport write or finish starts under the stream's own lock.
#include "relay/downstream/delivery.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "federation/rules/rules.h"
#include "relay/auth/downstream_auth.h"
#include "relay/grpc/grpc_status.h"
#include "relay/downstream/store_cursor_book.h"
#include "relay/downstream/visibility.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

// A catch-up read takes at most this many entries (or bytes) from the log,
// or this many from the recent entries in memory.
constexpr uint64_t kCatchUpChunkEntries = 64;
constexpr uint64_t kRecentChunkEntries = 512;
constexpr size_t kCatchUpChunkBytes = 1 << 20;
// Entries one turn may look at before it yields the thread to other streams.
constexpr int kEntriesPerTurn = 256;

constexpr char kLagEventsMetric[] = "fedrelay_subscriber_lag_events";
constexpr char kLagSecondsMetric[] = "fedrelay_subscriber_lag_seconds";

// A durable entry as the streams share it: decoded once (filters and
// visibility read it) and each event encoded once for the wire, so a thousand
// subscribers of one event write the same refcounted bytes. In the ring the
// writer creates it with the entry alone and the fan-out thread fills in the
// rest before it marks the entry ready; streams only see ready entries.
struct FanOutEntry {
  std::shared_ptr<const v1::LogEntry> entry;
  std::vector<grpc::Slice> encoded;  // by index in entry->events()
  uint64_t event_id() const { return entry->event_id(); }
};
using FanOutEntryPtr = std::shared_ptr<const FanOutEntry>;

grpc::Slice Encode(const google::protobuf::MessageLite& message) {
  grpc::Slice slice(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  return slice;
}

// Fills in what every stream shares (off the writer thread).
void Prepare(FanOutEntry& prepared) {
  prepared.encoded.reserve(static_cast<size_t>(prepared.entry->events_size()));
  for (const v1::StreamResponse& event : prepared.entry->events()) {
    prepared.encoded.push_back(Encode(event));
  }
}

FanOutEntryPtr Prepare(std::shared_ptr<const v1::LogEntry> entry) {
  auto prepared = std::make_shared<FanOutEntry>();
  prepared->entry = std::move(entry);
  Prepare(*prepared);
  return prepared;
}

class DeliveryCore;
class SubscriberStream;

// Runs stream turns on a few threads.
class WorkPool {
 public:
  explicit WorkPool(int threads) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkPool() { Stop(); }

  // Dropped once stopped.
  void Post(std::shared_ptr<SubscriberStream> stream) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    queue_.push_back(std::move(stream));
  }
  // One lock for a whole fan-out's worth of turns.
  void PostAll(std::vector<std::shared_ptr<SubscriberStream>> streams) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    for (auto& stream : streams) queue_.push_back(std::move(stream));
  }

  // Finishes the turn in progress on each thread and drops the queued ones.
  // Must not run on a pool thread.
  void Stop() {
    std::deque<std::shared_ptr<SubscriberStream>> dropped;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      dropped.swap(queue_);
    }
    for (std::thread& thread : threads_) thread.join();
  }

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

// Delivery progress of one subscriber identity, kept while the process runs
// (identities are bounded by peers + API keys) so the lag metrics also show
// a subscriber that went away.
struct IdentityStats {
  std::atomic<uint64_t> position{0};     // every event up to this id has been written to it
  std::atomic<uint64_t> working_on_received_at_ms{0};  // received_at of the entry in flight
  Counter* delivered = nullptr;
  Counter* acks = nullptr;
  Counter* catch_ups = nullptr;
  Gauge* acked = nullptr;
};

// The lag of a subscriber whose position is `stats` while the fan-out has
// handed out everything up to `head` (the metrics and the operator's view).
uint64_t LagEvents(uint64_t head, const IdentityStats& stats) {
  const uint64_t position = stats.position.load();
  return head > position ? head - position : 0;
}
double LagSeconds(uint64_t head, const IdentityStats& stats, uint64_t now_ms) {
  if (stats.position.load() >= head) return 0.0;
  const uint64_t since = stats.working_on_received_at_ms.load();
  return since == 0 || now_ms < since ? 0.0 : static_cast<double>(now_ms - since) / 1000.0;
}

// Everything the streams share. Held by shared_ptr so a stream that outlives
// the Delivery object (gRPC finishes it later) never dangles.
class DeliveryCore : public std::enable_shared_from_this<DeliveryCore> {
 public:
  explicit DeliveryCore(const DeliveryOptions& options)
      : options_(options),
        pool_(options.threads),
        own_cursors_(options.cursors != nullptr
                         ? nullptr
                         : std::make_unique<StoreCursorBook>(options.store)),
        cursors_(options.cursors != nullptr ? *options.cursors : *own_cursors_),
        published_(options.store->Size()),
        prepared_(options.store->Size()),
        ready_(std::make_shared<std::atomic<uint64_t>>(options.store->Size())),
        subscribers_gauge_(MetricsRegistry::Default().GetGauge(
            "fedrelay_subscribers", "Open downstream Subscribe streams.")) {}

  void Start(const federation::Federation* federation);
  void LoadKnownSubscribers();
  void Shutdown();

  // Writer thread: appends to the ring and signals the fan-out thread; O(batch).
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries);
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer& raw_request);
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const v1::AcknowledgeRequest& request,
                                        v1::AcknowledgeResponse* response);

  absl::StatusOr<std::shared_ptr<EventSubscription>> SubscribeEvents(
      const Principal& principal, const v1::SubscribeRequest& request,
      std::shared_ptr<EventSubscriber> subscriber);
  absl::StatusOr<uint64_t> AcknowledgeFor(const Principal& principal, uint64_t event_id);

  size_t subscriber_count() const {
    absl::MutexLock lock(&subscribers_mu_);
    return subscribers_.size();
  }
  std::vector<SubscriberInfo> Subscribers();

  // For streams.
  const DeliveryOptions& options() const { return options_; }
  const Visibility& visibility() const { return *visibility_; }
  WorkPool& pool() { return pool_; }
  Gauge& subscribers_gauge() { return subscribers_gauge_; }
  // The last event id the streams may read (the fan-out thread prepared
  // everything through it; never beyond what OnDurable handed in).
  uint64_t ready() const { return ready_->load(); }
  void Register(const std::shared_ptr<SubscriberStream>& stream);
  void Unregister(SubscriberStream* stream);
  enum class RingRead { kRead, kNothingReady, kNotInRing };
  // Appends to `out` the ready ring entries from `from_id` on (at most `max`)
  // that `filter` may select and sets `*through` to the last id looked at.
  // kNothingReady when `from_id` is beyond the ready entries, kNotInRing when
  // it is older than the ring (read the log).
  RingRead ReadRecent(uint64_t from_id, uint64_t max, const EventFilter& filter,
                      std::deque<FanOutEntryPtr>* out, uint64_t* through) const;

 private:
  absl::StatusOr<uint64_t> StartPosition(const Principal& principal,
                                         const v1::SubscribeRequest& request);
  // What a new stream of either transport starts from.
  struct StreamStart {
    EventFilter filter;
    uint64_t after = 0;
    std::shared_ptr<IdentityStats> stats;
    SubscriberInfo info;  // the operator's view: filters and connection time
  };
  absl::StatusOr<StreamStart> PrepareStream(const Principal& principal,
                                            const v1::SubscribeRequest& request);
  std::shared_ptr<IdentityStats> StatsFor(const std::string& identity);
  // Ends the streams `match` selects, with `status`.
  void EndStreams(const std::function<bool(const Principal&)>& match, const grpc::Status& status);
  // The fan-out thread.
  void RunFanOut();
  bool HasFanOutWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(ring_mu_) {
    return fan_out_stopping_ || published_ > prepared_ || !unpinned_peers_.empty();
  }
  // Wakes the idle streams that may select one of `batch` (just marked ready).
  void WakeStreams(const std::vector<FanOutEntryPtr>& batch, uint64_t ready);

  const DeliveryOptions options_;
  WorkPool pool_;
  const std::unique_ptr<CursorBook> own_cursors_;  // when the options name none
  CursorBook& cursors_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::unique_ptr<DownstreamAuthenticator> auth_;  // set by Start
  std::unique_ptr<Visibility> visibility_;          // set by Start

  // The ring: the writer appends, the fan-out thread prepares, streams read.
  mutable absl::Mutex ring_mu_;
  // The last entries handed in, consecutive ids, at most options_.recent_entries.
  std::deque<std::shared_ptr<FanOutEntry>> ring_ ABSL_GUARDED_BY(ring_mu_);
  uint64_t published_ ABSL_GUARDED_BY(ring_mu_);    // last event id OnDurable handed in
  uint64_t prepared_ ABSL_GUARDED_BY(ring_mu_);   // last event id marked ready
  // Peers whose open streams were authorized by a key that is no longer
  // pinned: removed, or rotated to a new key (server id -> why).
  std::vector<std::pair<std::string, absl::string_view>> unpinned_peers_ ABSL_GUARDED_BY(ring_mu_);
  bool fan_out_stopping_ ABSL_GUARDED_BY(ring_mu_) = false;
  std::thread fan_out_thread_;

  mutable absl::Mutex subscribers_mu_;
  absl::flat_hash_map<SubscriberStream*, std::shared_ptr<SubscriberStream>> subscribers_
      ABSL_GUARDED_BY(subscribers_mu_);

  const std::shared_ptr<std::atomic<uint64_t>> ready_;  // = prepared_, lock-free (streams, metrics)
  Gauge& subscribers_gauge_;
  absl::Mutex stats_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<IdentityStats>> stats_ ABSL_GUARDED_BY(stats_mu_);

  friend class SubscriberStream;
};

// One subscriber's stream, whatever the transport: the ordering, catch-up and
// flow control below. A transport (GrpcSubscriberStream, ExternalSubscriberStream)
// writes one event at a time and reports each write's end to WriteDone.
class SubscriberStream : public std::enable_shared_from_this<SubscriberStream> {
 public:
  virtual ~SubscriberStream() = default;

  SubscriberStream(std::shared_ptr<DeliveryCore> core, Principal principal, EventFilter filter,
                   uint64_t start_after, std::shared_ptr<IdentityStats> stats)
      : core_(std::move(core)),
        principal_(std::move(principal)),
        filter_(std::move(filter)),
        stats_(std::move(stats)),
        next_id_(start_after + 1) {
    stats_->position.store(start_after);
    stats_->working_on_received_at_ms.store(0);
  }

  // The operator's view of the stream: set once, before Join.
  void SetInfo(SubscriberInfo info) { info_ = std::move(info); }
  const SubscriberInfo& info() const { return info_; }
  const IdentityStats& stats() const { return *stats_; }

  // Joins the fan-out and schedules the first turn, which starts reading the
  // log. The stream keeps itself alive until Done().
  void Join() {
    self_ = shared_from_this();
    core_->subscribers_gauge().Add(1);
    {
      absl::MutexLock lock(&mu_);
      scheduled_ = true;
    }
    core_->Register(self_);
    core_->pool().Post(self_);
  }

  const Principal& principal() const { return principal_; }

  // Fan-out thread, after it marked `batch` ready (through `ready`): counts a
  // stream that fell too far behind as catching up, and wakes it if it is
  // idle and its filter may select an entry of the batch; an idle stream whose
  // filter selects none just moves past the batch, so a subscriber to a few
  // guilds costs a filter check per entry and nothing more. True when the
  // caller must post a turn.
  bool Wake(const std::vector<FanOutEntryPtr>& batch, uint64_t ready, uint64_t behind_limit) {
    absl::MutexLock lock(&mu_);
    if (finished_) return false;
    if (live_ && ready > stats_->position.load() + behind_limit) {
      // Too far behind to count as live: it continues by reading.
      live_ = false;
      stats_->catch_ups->Increment();
    }
    if (scheduled_ || writing_ || next_id_ > ready) return false;
    // Idle: next_id_ is ours while we hold mu_.
    if (!batch.empty() && next_id_ >= batch.front()->event_id() &&
        batch.back()->event_id() == ready) {
      const bool may_select = std::any_of(batch.begin(), batch.end(), [&](const FanOutEntryPtr& e) {
        return e->event_id() >= next_id_ && filter_.MayMatch(*e->entry);
      });
      if (!may_select) {
        next_id_ = ready + 1;
        stats_->position.store(ready);
        return false;
      }
    }
    scheduled_ = true;
    return true;
  }

  // Whoever set scheduled_, exclusively: a pool thread, or (may_read_log =
  // false) the transport's thread finishing the previous write, which saves a
  // thread hand-off per event while the entries are in memory and hands disk
  // reads to the pool.
  void Turn(bool may_read_log = true) {
    for (int budget = kEntriesPerTurn;;) {
      if (!pending_.empty()) {
        absl::MutexLock lock(&mu_);
        scheduled_ = false;
        if (!finished_) StartNextWriteLocked();
        return;
      }
      if (budget-- == 0) {
        core_->pool().Post(shared_from_this());  // still scheduled_: yield to other streams
        return;
      }
      {
        absl::MutexLock lock(&mu_);
        if (finished_) {
          scheduled_ = false;
          return;
        }
      }
      if (catch_up_.empty()) {
        PassThrough(catch_up_through_);
        absl::StatusOr<bool> read = ReadChunk(may_read_log);
        if (!read.ok()) {
          spdlog::error("subscriber {}: cannot read the log at event {}: {}", principal_.identity,
                        next_id_, read.status().ToString());
          End(grpc::Status(grpc::StatusCode::INTERNAL, "internal: cannot read the log"));
          absl::MutexLock lock(&mu_);
          scheduled_ = false;
          return;
        }
        if (!*read) {
          core_->pool().Post(shared_from_this());  // still scheduled_: the pool reads the log
          return;
        }
        if (catch_up_.empty()) {
          const uint64_t before = next_id_;
          PassThrough(catch_up_through_);
          if (next_id_ == before && GoIdleIfCaughtUp()) return;
          continue;
        }
      }
      FanOutEntryPtr entry = std::move(catch_up_.front());
      catch_up_.pop_front();
      if (entry->event_id() < next_id_) continue;  // sent already
      Consume(entry);
    }
  }

  // Finishes the stream with `status` (idempotent).
  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      TransportFinish(status);
    }
    AfterFinish(status);
  }

  // The transport finished writing current_ (ok) or could not (the stream ends).
  void WriteDone(bool ok) {
    bool turn_here = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      OutgoingWrite done = std::move(current_);
      current_ = {};
      if (!ok) {
        if (finished_) return;
      } else {
        stats_->delivered->Increment();
        if (done.last_of_entry) stats_->position.store(done.event_id);
        if (finished_) return;
        if (!pending_.empty()) {
          StartNextWriteLocked();
          return;
        }
        if (!catch_up_.empty() || core_->ready() >= next_id_) {
          scheduled_ = true;
          turn_here = true;
        } else {
          live_ = true;  // idle and caught up until the fan-out thread wakes it
        }
      }
    }
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled: the stream broke"));
      return;
    }
    if (turn_here) Turn(/*may_read_log=*/false);
  }

  // Leaves the fan-out once the transport is done with the stream.
  void Done() {
    std::shared_ptr<SubscriberStream> self = std::move(self_);
    core_->Unregister(this);
    core_->subscribers_gauge().Add(-1);
    spdlog::info("subscriber {} disconnected at event {}", principal_.identity,
                 stats_->position.load());
    // `self` may be the last reference: this object goes away on return.
  }

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
  // Under mu_ the turn ends if nothing ready lies at or after next_id_ (the
  // fan-out thread marks entries ready before it takes mu_ to wake us, so
  // either we see them here or it sees us idle). True when the turn ended.
  bool GoIdleIfCaughtUp() {
    absl::MutexLock lock(&mu_);
    if (core_->ready() >= next_id_) return false;
    scheduled_ = false;
    live_ = true;
    return true;
  }

  // Reads the next entries after next_id_ - 1 that the filter may select
  // into catch_up_, and sets catch_up_through_ to the last id it covered:
  // from the ring in memory (shared, already encoded) when it reaches back
  // that far, else from the log on disk. So a thousand streams that fell a
  // little behind cost a filter check per entry each, not a parse. False
  // (nothing read) when the log would have to be read and `may_read_log` is not set.
  absl::StatusOr<bool> ReadChunk(bool may_read_log) {
    switch (core_->ReadRecent(next_id_, kRecentChunkEntries, filter_, &catch_up_,
                              &catch_up_through_)) {
      case DeliveryCore::RingRead::kRead:
      case DeliveryCore::RingRead::kNothingReady:
        return true;
      case DeliveryCore::RingRead::kNotInRing:
        break;
    }
    if (!may_read_log) return false;
    const uint64_t begin = next_id_ - 1;  // leaf index of event next_id_
    // Never past what the fan-out thread marked ready: the log's size moves
    // first, and the federation state (invites, homeservers) that Select
    // consults only knows an entry once OnDurable has run for it.
    const uint64_t end = std::min(begin + kCatchUpChunkEntries, core_->ready());
    size_t bytes = 0;
    absl::Status parse_status;
    RETURN_IF_ERROR(core_->options().store->ScanLeaves(
        begin, end, [&](uint64_t index, absl::string_view leaf) {
          auto entry = std::make_shared<v1::LogEntry>();
          if (!entry->ParseFromArray(leaf.data(), static_cast<int>(leaf.size())) ||
              entry->event_id() != index + 1) {
            parse_status = absl::DataLossError(absl::StrCat("leaf ", index, " is not a LogEntry"));
            return false;
          }
          bytes += leaf.size();
          catch_up_through_ = index + 1;
          if (filter_.MayMatch(*entry)) catch_up_.push_back(Prepare(std::move(entry)));
          return bytes < kCatchUpChunkBytes;
        }));
    RETURN_IF_ERROR(parse_status);
    return true;
  }

  // Moves past entries through `through` that held nothing the filter
  // selects (the rest of a read); the stream's turn holder only, with
  // nothing pending.
  void PassThrough(uint64_t through) {
    if (through < next_id_) return;
    next_id_ = through + 1;
    stats_->position.store(through);
  }

  void Consume(const FanOutEntryPtr& entry) {
    std::vector<OutgoingEvent> selected;
    core_->visibility().Select(principal_, filter_, entry->entry, &selected);
    next_id_ = entry->event_id() + 1;
    if (selected.empty()) {
      stats_->position.store(entry->event_id());
      return;
    }
    stats_->working_on_received_at_ms.store(entry->entry->received_at());
    for (const OutgoingEvent& event : selected) {
      OutgoingWrite write;
      write.event_id = entry->event_id();
      write.event = event;
      if (event.own == nullptr && event.index >= 0) {
        write.message = grpc::ByteBuffer(&entry->encoded[static_cast<size_t>(event.index)], 1);
      } else {
        const grpc::Slice own = Encode(event.event());  // e.g. a dm_invite with its token
        write.message = grpc::ByteBuffer(&own, 1);
      }
      pending_.push_back(std::move(write));
    }
    pending_.back().last_of_entry = true;
  }

  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    current_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    TransportWrite(current_);
  }

  const std::shared_ptr<DeliveryCore> core_;
  const Principal principal_;
  const EventFilter filter_;
  const std::shared_ptr<IdentityStats> stats_;
  std::shared_ptr<SubscriberStream> self_;  // the transport's reference, dropped in Done
  SubscriberInfo info_;  // set before Join, then read-only

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
  void Begin(grpc::CallbackServerContext* context, uint64_t start_after) {
    context->AddInitialMetadata("x-fedrelay-subscriber", principal().identity);
    context->AddInitialMetadata("x-fedrelay-start-after", absl::StrCat(start_after));
    StartSendInitialMetadata();
    Join();
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled: the subscriber went away"));
  }
  void OnDone() override { Done(); }

 private:
  void TransportWrite(OutgoingWrite& write) override { StartWrite(&write.message); }
  void TransportFinish(const grpc::Status& status) override { Finish(status); }
};

// A subscriber on another transport (EventSubscriber, e.g. an integration WebSocket).
class ExternalSubscriberStream final : public SubscriberStream, public EventSubscription {
 public:
  ExternalSubscriberStream(std::shared_ptr<DeliveryCore> core, Principal principal,
                           EventFilter filter, uint64_t start_after,
                           std::shared_ptr<IdentityStats> stats,
                           std::shared_ptr<EventSubscriber> subscriber)
      : SubscriberStream(std::move(core), std::move(principal), std::move(filter), start_after,
                         std::move(stats)),
        subscriber_(std::move(subscriber)) {}

  void Cancel() override {
    cancelled_.store(true);
    End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled: the subscriber went away"));
  }

 private:
  void TransportWrite(OutgoingWrite& write) override {
    std::weak_ptr<SubscriberStream> weak = weak_from_this();
    subscriber_->Deliver(write.event.event(), [weak](bool written) {
      if (auto stream = weak.lock()) stream->WriteDone(written);
    });
  }
  void TransportFinish(const grpc::Status&) override {}
  void AfterFinish(const grpc::Status& status) override {
    if (!cancelled_.load()) {
      subscriber_->Ended(absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                      status.error_message()));
    }
    Done();
  }

  const std::shared_ptr<EventSubscriber> subscriber_;
  std::atomic<bool> cancelled_{false};
};

void WorkPool::Run() {
  for (;;) {
    std::shared_ptr<SubscriberStream> stream;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WorkPool::HasWorkOrStopped));
      if (stopped_) return;
      stream = std::move(queue_.front());
      queue_.pop_front();
    }
    stream->Turn();
  }
}

void DeliveryCore::Start(const federation::Federation* federation) {
  auth_ = std::make_unique<DownstreamAuthenticator>(
      federation, options_.api_keys,
      DownstreamAuthenticator::Options{options_.server_id, options_.max_clock_skew_ms,
                                       options_.clock});
  visibility_ = std::make_unique<Visibility>(federation);
  if (options_.api_keys != nullptr) {
    std::weak_ptr<DeliveryCore> weak = weak_from_this();
    options_.api_keys->AddRevocationListener([weak](const std::string& key_id) {
      if (auto core = weak.lock()) {
        core->EndStreams([&](const Principal& p) { return p.key_id == key_id; },
                         grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                      "unauthenticated: the API key was revoked"));
      }
    });
  }
  LoadKnownSubscribers();
  fan_out_thread_ = std::thread([this] { RunFanOut(); });
  started_.store(true);
}

// Every identity with a durable cursor gets its metrics at start, so the
// acked cursor survives a restart on /metrics and a peer that went away
// shows its lag (from its acknowledged cursor) before it reconnects.
void DeliveryCore::LoadKnownSubscribers() {
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> known = cursors_.List();
  if (!known.ok()) {
    spdlog::warn("cannot load subscriber cursors for the metrics: {}", known.status().ToString());
    return;
  }
  for (const auto& [identity, cursor] : *known) {
    std::shared_ptr<IdentityStats> stats = StatsFor(identity);
    stats->acked->Set(static_cast<double>(cursor));
    stats->position.store(cursor);
  }
}

void DeliveryCore::Shutdown() {
  if (stopped_.exchange(true)) return;
  EndStreams([](const Principal&) { return true; },
             grpc::Status(grpc::StatusCode::UNAVAILABLE, "unavailable: the relay is shutting down"));
  {
    absl::MutexLock lock(&ring_mu_);
    fan_out_stopping_ = true;
  }
  if (fan_out_thread_.joinable()) fan_out_thread_.join();
  pool_.Stop();
  MetricsRegistry::Default().RemoveCallbacks(kLagEventsMetric);
  MetricsRegistry::Default().RemoveCallbacks(kLagSecondsMetric);
}

void DeliveryCore::EndStreams(const std::function<bool(const Principal&)>& match,
                              const grpc::Status& status) {
  std::vector<std::shared_ptr<SubscriberStream>> streams;
  {
    absl::MutexLock lock(&subscribers_mu_);
    for (const auto& [raw, stream] : subscribers_) {
      if (match(stream->principal())) streams.push_back(stream);
    }
  }
  for (const auto& stream : streams) stream->End(status);
}

void DeliveryCore::OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  if (entries.empty()) return;
  std::vector<std::pair<std::string, absl::string_view>> unpinned;
  for (const auto& entry : entries) {
    if (!entry->has_operator_action()) continue;
    const std::string& action = entry->operator_action().action();
    if (action == federation::rules::kPeerRemove) {
      unpinned.emplace_back(entry->operator_action().server_id(), "the peer was removed");
    } else if (action == federation::rules::kPeerRotate) {
      unpinned.emplace_back(entry->operator_action().server_id(), "the peer's key was rotated");
    }
  }
  std::vector<std::shared_ptr<FanOutEntry>> published;
  published.reserve(entries.size());
  for (const auto& entry : entries) {
    auto slot = std::make_shared<FanOutEntry>();
    slot->entry = entry;
    published.push_back(std::move(slot));
  }
  absl::MutexLock lock(&ring_mu_);  // unlocking it wakes the fan-out thread
  if (!ring_.empty() && ring_.back()->event_id() + 1 != published.front()->event_id()) {
    ring_.clear();  // keep the ids consecutive
  }
  for (auto& slot : published) ring_.push_back(std::move(slot));
  while (ring_.size() > options_.recent_entries) ring_.pop_front();
  published_ = entries.back()->event_id();
  for (auto& peer : unpinned) unpinned_peers_.push_back(std::move(peer));
}

void DeliveryCore::RunFanOut() {
  for (;;) {
    std::vector<std::shared_ptr<FanOutEntry>> batch;
    std::vector<std::pair<std::string, absl::string_view>> unpinned;
    uint64_t through = 0;
    {
      absl::MutexLock lock(&ring_mu_);
      ring_mu_.Await(absl::Condition(this, &DeliveryCore::HasFanOutWork));
      if (fan_out_stopping_) return;
      through = published_;
      // The entries handed in since the last round that are still in the
      // ring; older ones were pushed out already and are read from the log.
      for (auto it = ring_.rbegin(); it != ring_.rend() && (*it)->event_id() > prepared_; ++it) {
        batch.push_back(*it);
      }
      unpinned.swap(unpinned_peers_);
    }
    std::reverse(batch.begin(), batch.end());
    // No stream reads these until they are marked ready below.
    for (const auto& slot : batch) Prepare(*slot);
    {
      absl::MutexLock lock(&ring_mu_);
      prepared_ = through;
      ready_->store(through);
    }
    WakeStreams({batch.begin(), batch.end()}, through);
    for (const auto& [server_id, why] : unpinned) {
      EndStreams([&](const Principal& p) { return p.is_peer() && p.peer_server_id == server_id; },
                 grpc::Status(grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("unauthenticated: ", why)));
    }
  }
}

void DeliveryCore::WakeStreams(const std::vector<FanOutEntryPtr>& batch, uint64_t ready) {
  std::vector<std::shared_ptr<SubscriberStream>> streams;
  {
    absl::MutexLock lock(&subscribers_mu_);
    streams.reserve(subscribers_.size());
    for (const auto& [raw, stream] : subscribers_) streams.push_back(stream);
  }
  std::vector<std::shared_ptr<SubscriberStream>> to_post;
  for (auto& stream : streams) {
    if (stream->Wake(batch, ready, options_.behind_limit)) to_post.push_back(std::move(stream));
  }
  if (!to_post.empty()) pool_.PostAll(std::move(to_post));
}

DeliveryCore::RingRead DeliveryCore::ReadRecent(uint64_t from_id, uint64_t max,
                                                const EventFilter& filter,
                                                std::deque<FanOutEntryPtr>* out,
                                                uint64_t* through) const {
  absl::MutexLock lock(&ring_mu_);
  if (from_id > prepared_) return RingRead::kNothingReady;
  if (ring_.empty() || from_id < ring_.front()->event_id()) return RingRead::kNotInRing;
  const uint64_t first = ring_.front()->event_id();
  const uint64_t end = std::min(prepared_, from_id + max - 1);
  for (uint64_t id = from_id; id <= end; ++id) {
    const std::shared_ptr<FanOutEntry>& entry = ring_[id - first];
    if (filter.MayMatch(*entry->entry)) out->push_back(entry);
  }
  *through = end;
  return RingRead::kRead;
}

void DeliveryCore::Register(const std::shared_ptr<SubscriberStream>& stream) {
  absl::MutexLock lock(&subscribers_mu_);
  subscribers_[stream.get()] = stream;
}

void DeliveryCore::Unregister(SubscriberStream* stream) {
  std::shared_ptr<SubscriberStream> removed;  // released after the lock
  absl::MutexLock lock(&subscribers_mu_);
  if (auto it = subscribers_.find(stream); it != subscribers_.end()) {
    removed = std::move(it->second);
    subscribers_.erase(it);
  }
}

std::shared_ptr<IdentityStats> DeliveryCore::StatsFor(const std::string& identity) {
  absl::MutexLock lock(&stats_mu_);
  std::shared_ptr<IdentityStats>& stats = stats_[identity];
  if (stats != nullptr) return stats;
  stats = std::make_shared<IdentityStats>();
  MetricsRegistry& registry = MetricsRegistry::Default();
  const MetricLabels labels = {{"subscriber", identity}};
  stats->delivered = &registry.GetCounter("fedrelay_delivered_events_total",
                                          "Events written to downstream subscribers.", labels);
  stats->acks = &registry.GetCounter("fedrelay_acks_total", "Acknowledge calls accepted.", labels);
  stats->catch_ups = &registry.GetCounter(
      "fedrelay_subscriber_catchups_total",
      "Times a live stream overflowed its queue and continued by reading: the recent entries in "
      "memory, then the log on disk.",
      labels);
  stats->acked = &registry.GetGauge("fedrelay_subscriber_acked_event_id",
                                    "The subscriber's durable (acknowledged) cursor.", labels);
  std::shared_ptr<const std::atomic<uint64_t>> head = ready_;
  std::shared_ptr<const IdentityStats> view = stats;
  const Clock* clock = options_.clock;
  registry.AddCallbackGauge(kLagEventsMetric,
                            "Events durable in the log but not yet written to the subscriber.",
                            labels, [head, view]() {
                              return static_cast<double>(LagEvents(head->load(), *view));
                            });
  registry.AddCallbackGauge(
      kLagSecondsMetric,
      "Age of the event the subscriber is being sent, while it is behind (0 when caught up).",
      labels, [head, view, clock]() { return LagSeconds(head->load(), *view, clock->NowMs()); });
  return stats;
}

absl::StatusOr<uint64_t> DeliveryCore::StartPosition(const Principal& principal,
                                                     const v1::SubscribeRequest& request) {
  const std::string& resume = request.resume_from_event_id();
  // Every subscriber is identified, so "empty" always means its acked cursor
  // (0, the start of the log, when it never acknowledged anything).
  if (resume.empty()) return cursors_.Load(principal.identity);
  const std::optional<uint64_t> after = ParseDecimalU64(resume);
  if (!after.has_value()) {
    return MakeError(ErrorCode::kInvalidCursor,
                     "resume_from_event_id must be a decimal event id, \"0\" or empty");
  }
  const uint64_t size = options_.store->Size();
  if (*after > size) {
    return MakeError(ErrorCode::kInvalidCursor,
                     absl::StrCat("resume_from_event_id ", *after, " is beyond the log (", size,
                                  " events)"));
  }
  return *after;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* DeliveryCore::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer& raw_request) {
  if (!started_.load() || stopped_.load()) {
    return RefuseStream<grpc::ByteBuffer>(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "unavailable: delivery is not running"));
  }
  // Credentials first (metadata only): a caller without them learns nothing
  // about its request (SPEC 4: others get UNAUTHENTICATED).
  absl::StatusOr<Principal> principal =
      auth_->Authenticate(DownstreamCredentials::FromGrpc(*context), kSubscribeMethod);
  if (!principal.ok()) return RefuseStream<grpc::ByteBuffer>(ToGrpcStatus(principal.status()));
  v1::SubscribeRequest request;
  if (grpc::ByteBuffer copy = raw_request;
      !grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(&copy, &request).ok()) {
    return RefuseStream<grpc::ByteBuffer>(ToGrpcStatus(
        MakeError(ErrorCode::kMalformed, "the SubscribeRequest does not parse")));
  }
  absl::StatusOr<StreamStart> start = PrepareStream(*principal, request);
  if (!start.ok()) return RefuseStream<grpc::ByteBuffer>(ToGrpcStatus(start.status()));
  auto stream = std::make_shared<GrpcSubscriberStream>(shared_from_this(), *std::move(principal),
                                                       std::move(start->filter), start->after,
                                                       std::move(start->stats));
  start->info.transport = "grpc";
  stream->SetInfo(std::move(start->info));
  stream->Begin(context, start->after);
  return stream.get();
}

absl::StatusOr<DeliveryCore::StreamStart> DeliveryCore::PrepareStream(
    const Principal& principal, const v1::SubscribeRequest& request) {
  ASSIGN_OR_RETURN(EventFilter filter, EventFilter::FromRequest(request));
  ASSIGN_OR_RETURN(const uint64_t start_after, StartPosition(principal, request));
  spdlog::info("subscriber {} connected: after event {}{}{}", principal.identity, start_after,
               request.guild_ids().empty()
                   ? ""
                   : absl::StrCat(", guilds [", absl::StrJoin(request.guild_ids(), ","), "]"),
               request.kinds().empty()
                   ? ""
                   : absl::StrCat(", kinds [", absl::StrJoin(request.kinds(), ","), "]"));
  SubscriberInfo info;
  info.identity = principal.identity;
  info.guild_ids.assign(request.guild_ids().begin(), request.guild_ids().end());
  info.kinds.assign(request.kinds().begin(), request.kinds().end());
  info.connected_since_ms = options_.clock->NowMs();
  return StreamStart{std::move(filter), start_after, StatsFor(principal.identity), std::move(info)};
}

absl::StatusOr<std::shared_ptr<EventSubscription>> DeliveryCore::SubscribeEvents(
    const Principal& principal, const v1::SubscribeRequest& request,
    std::shared_ptr<EventSubscriber> subscriber) {
  if (!started_.load() || stopped_.load()) {
    return MakeError(ErrorCode::kUnavailable, "delivery is not running");
  }
  ASSIGN_OR_RETURN(StreamStart start, PrepareStream(principal, request));
  auto stream = std::make_shared<ExternalSubscriberStream>(
      shared_from_this(), principal, std::move(start.filter), start.after, std::move(start.stats),
      std::move(subscriber));
  start.info.transport = "websocket";
  stream->SetInfo(std::move(start.info));
  stream->Join();
  return stream;
}

absl::StatusOr<uint64_t> DeliveryCore::AcknowledgeFor(const Principal& principal,
                                                      uint64_t event_id) {
  if (!started_.load() || stopped_.load()) {
    return MakeError(ErrorCode::kUnavailable, "delivery is not running");
  }
  const uint64_t size = options_.store->Size();
  if (event_id > size) {
    return MakeError(ErrorCode::kInvalidCursor,
                     absl::StrCat("event ", event_id, " is beyond the log (", size, " events)"));
  }
  ASSIGN_OR_RETURN(const uint64_t cursor, cursors_.Advance(principal.identity, event_id));
  std::shared_ptr<IdentityStats> stats = StatsFor(principal.identity);
  stats->acks->Increment();
  stats->acked->Set(static_cast<double>(cursor));
  return cursor;
}

grpc::ServerUnaryReactor* DeliveryCore::Acknowledge(grpc::CallbackServerContext* context,
                                                    const v1::AcknowledgeRequest& request,
                                                    v1::AcknowledgeResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto run = [&]() -> absl::Status {
    if (!started_.load() || stopped_.load()) {
      return MakeError(ErrorCode::kUnavailable, "delivery is not running");
    }
    ASSIGN_OR_RETURN(Principal principal,
                     auth_->Authenticate(DownstreamCredentials::FromGrpc(*context),
                                         kAcknowledgeMethod));
    ASSIGN_OR_RETURN(const uint64_t cursor, AcknowledgeFor(principal, request.event_id()));
    response->set_event_id(cursor);
    return absl::OkStatus();
  };
  reactor->Finish(ToGrpcStatus(run(), context));
  return reactor;
}

std::vector<SubscriberInfo> DeliveryCore::Subscribers() {
  std::vector<SubscriberInfo> out;
  {
    absl::MutexLock lock(&subscribers_mu_);
    const uint64_t head = ready_->load();
    const uint64_t now = options_.clock->NowMs();
    for (const auto& [raw, stream] : subscribers_) {
      SubscriberInfo info = stream->info();
      info.sent_through = stream->stats().position.load();
      info.lag_events = LagEvents(head, stream->stats());
      info.lag_seconds = LagSeconds(head, stream->stats(), now);
      out.push_back(std::move(info));
    }
  }
  for (SubscriberInfo& info : out) {  // the cursor book may read the store: no lock held
    if (auto cursor = cursors_.Load(info.identity); cursor.ok()) info.acked_event_id = *cursor;
  }
  std::sort(out.begin(), out.end(), [](const SubscriberInfo& a, const SubscriberInfo& b) {
    return std::tie(a.identity, a.connected_since_ms) < std::tie(b.identity, b.connected_since_ms);
  });
  return out;
}

// The owner handed out by Delivery::Create.
class DeliveryImpl final : public Delivery {
 public:
  explicit DeliveryImpl(const DeliveryOptions& options)
      : core_(std::make_shared<DeliveryCore>(options)) {}
  ~DeliveryImpl() override { core_->Shutdown(); }

  void Start(const federation::Federation* federation) override { core_->Start(federation); }
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override {
    core_->OnDurable(entries);
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override {
    return core_->Subscribe(context, *request);
  }
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const v1::AcknowledgeRequest* request,
                                        v1::AcknowledgeResponse* response) override {
    return core_->Acknowledge(context, *request, response);
  }
  absl::StatusOr<std::shared_ptr<EventSubscription>> SubscribeEvents(
      const Principal& principal, const v1::SubscribeRequest& request,
      std::shared_ptr<EventSubscriber> subscriber) override {
    return core_->SubscribeEvents(principal, request, std::move(subscriber));
  }
  absl::StatusOr<uint64_t> AcknowledgeEvent(const Principal& principal,
                                            uint64_t event_id) override {
    return core_->AcknowledgeFor(principal, event_id);
  }
  void Shutdown() override { core_->Shutdown(); }
  size_t subscriber_count() const override { return core_->subscriber_count(); }
  std::vector<SubscriberInfo> Subscribers() const override { return core_->Subscribers(); }

 private:
  const std::shared_ptr<DeliveryCore> core_;
};

}  // namespace

std::unique_ptr<Delivery> Delivery::Create(const DeliveryOptions& options) {
  return std::make_unique<DeliveryImpl>(options);
}

}  // namespace fedrelay::relay
