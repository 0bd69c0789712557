#include "relay/downstream/subscriber_stream.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay::downstream {
namespace {

// A catch-up read takes at most this many entries (or bytes) from the log,
// or this many from the ring in memory.
constexpr uint64_t kCatchUpChunkEntries = 64;
constexpr uint64_t kRecentChunkEntries = 512;
constexpr size_t kCatchUpChunkBytes = 1 << 20;
// Entries one turn may look at before it yields the thread to other streams.
constexpr int kEntriesPerTurn = 256;

}  // namespace

StreamPool::StreamPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
}

void StreamPool::Post(std::shared_ptr<SubscriberStream> stream) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  queue_.push_back(std::move(stream));
}

void StreamPool::PostAll(std::vector<std::shared_ptr<SubscriberStream>> streams) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  for (auto& stream : streams) queue_.push_back(std::move(stream));
}

void StreamPool::Stop() {
  std::deque<std::shared_ptr<SubscriberStream>> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    dropped.swap(queue_);
  }
  for (std::thread& thread : threads_) thread.join();
}

void StreamPool::Run() {
  for (;;) {
    std::shared_ptr<SubscriberStream> stream;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &StreamPool::HasWorkOrStopped));
      if (stopped_) return;
      stream = std::move(queue_.front());
      queue_.pop_front();
    }
    stream->Turn();
  }
}

StreamContext::StreamContext(store::LogStore* store, size_t ring_capacity, int threads,
                             size_t behind_limit)
    : store(store),
      ring(ring_capacity, store->Size()),
      pool(threads),
      behind_limit(behind_limit),
      subscribers_gauge(MetricsRegistry::Default().GetGauge(
          "fedrelay_subscribers", "Open downstream Subscribe streams.")) {}

void StreamContext::Register(const std::shared_ptr<SubscriberStream>& stream) {
  absl::MutexLock lock(&mu_);
  streams_[stream.get()] = stream;
}

void StreamContext::Unregister(SubscriberStream* stream) {
  std::shared_ptr<SubscriberStream> removed;  // released after the lock
  absl::MutexLock lock(&mu_);
  if (auto it = streams_.find(stream); it != streams_.end()) {
    removed = std::move(it->second);
    streams_.erase(it);
  }
}

size_t StreamContext::stream_count() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

std::vector<std::shared_ptr<SubscriberStream>> StreamContext::Streams() const {
  std::vector<std::shared_ptr<SubscriberStream>> streams;
  absl::MutexLock lock(&mu_);
  streams.reserve(streams_.size());
  for (const auto& [raw, stream] : streams_) streams.push_back(stream);
  return streams;
}

void StreamContext::EndStreams(const std::function<bool(const Principal&)>& match,
                               const grpc::Status& status) {
  for (const auto& stream : Streams()) {
    if (match(stream->principal())) stream->End(status);
  }
}

void StreamContext::WakeStreams(const ReadyBatch& batch) {
  std::vector<std::shared_ptr<SubscriberStream>> to_post;
  for (auto& stream : Streams()) {
    if (stream->Wake(batch)) to_post.push_back(std::move(stream));
  }
  if (!to_post.empty()) pool.PostAll(std::move(to_post));
}

SubscriberStream::SubscriberStream(std::shared_ptr<StreamContext> context, Principal principal,
                                   EventFilter filter, uint64_t start_after,
                                   std::shared_ptr<IdentityStats> stats)
    : context_(std::move(context)),
      principal_(std::move(principal)),
      filter_(std::move(filter)),
      stats_(std::move(stats)),
      progress_(stats_->OpenStream(start_after)),
      next_id_(start_after + 1) {}

void SubscriberStream::Join() {
  self_ = shared_from_this();
  context_->subscribers_gauge.Add(1);
  {
    absl::MutexLock lock(&mu_);
    scheduled_ = true;
  }
  context_->Register(self_);
  context_->pool.Post(self_);
}

bool SubscriberStream::Wake(const ReadyBatch& batch) {
  const uint64_t ready = batch.through;
  absl::MutexLock lock(&mu_);
  if (finished_) return false;
  if (live_ && ready > progress_->position.load() + context_->behind_limit) {
    // Too far behind to count as live: it continues by reading.
    live_ = false;
    stats_->catch_ups->Increment();
  }
  if (scheduled_ || writing_ || next_id_ > ready) return false;
  // Idle: next_id_ is ours while we hold mu_.
  const std::vector<FanOutEntryPtr>& entries = batch.entries;
  if (!entries.empty() && next_id_ >= entries.front()->event_id() &&
      entries.back()->event_id() == ready) {
    const bool may_select = std::any_of(entries.begin(), entries.end(), [&](const FanOutEntryPtr& e) {
      return e->event_id() >= next_id_ && filter_.MayMatch(*e->entry);
    });
    if (!may_select) {
      next_id_ = ready + 1;
      progress_->position.store(ready);
      return false;
    }
  }
  scheduled_ = true;
  return true;
}

void SubscriberStream::Turn(bool may_read_log) {
  for (int budget = kEntriesPerTurn;;) {
    if (!pending_.empty()) {
      absl::MutexLock lock(&mu_);
      scheduled_ = false;
      if (!finished_) StartNextWriteLocked();
      return;
    }
    if (budget-- == 0) {
      context_->pool.Post(shared_from_this());  // still scheduled_: yield to other streams
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
        context_->pool.Post(shared_from_this());  // still scheduled_: the pool reads the log
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

void SubscriberStream::End(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    TransportFinish(status);
  }
  AfterFinish(status);
}

void SubscriberStream::WriteDone(bool ok) {
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
      if (done.last_of_entry) progress_->position.store(done.event_id);
      if (finished_) return;
      if (!pending_.empty()) {
        StartNextWriteLocked();
        return;
      }
      if (!catch_up_.empty() || context_->ring.ready() >= next_id_) {
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

void SubscriberStream::Done() {
  std::shared_ptr<SubscriberStream> self = std::move(self_);
  context_->Unregister(this);
  stats_->CloseStream(progress_);
  context_->subscribers_gauge.Add(-1);
  spdlog::info("subscriber {} disconnected at event {}", principal_.identity,
               progress_->position.load());
  // `self` may be the last reference: this object goes away on return.
}

// Under mu_ the turn ends if nothing ready lies at or after next_id_ (the
// fan-out thread marks entries ready before it takes mu_ to wake us, so
// either we see them here or it sees us idle). True when the turn ended.
bool SubscriberStream::GoIdleIfCaughtUp() {
  absl::MutexLock lock(&mu_);
  if (context_->ring.ready() >= next_id_) return false;
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
absl::StatusOr<bool> SubscriberStream::ReadChunk(bool may_read_log) {
  switch (context_->ring.Read(next_id_, kRecentChunkEntries, filter_, &catch_up_,
                            &catch_up_through_)) {
    case FanOutRing::ReadResult::kRead:
    case FanOutRing::ReadResult::kNothingReady:
      return true;
    case FanOutRing::ReadResult::kNotInRing:
      break;
  }
  if (!may_read_log) return false;
  const uint64_t begin = next_id_ - 1;  // leaf index of event next_id_
  // Never past what the fan-out thread marked ready: the log's size moves
  // first, and the federation state (invites, homeservers) that Select
  // consults only knows an entry once OnDurable has run for it.
  const uint64_t end = std::min(begin + kCatchUpChunkEntries, context_->ring.ready());
  size_t bytes = 0;
  absl::Status parse_status;
  RETURN_IF_ERROR(context_->store->ScanLeaves(
      begin, end, [&](uint64_t index, absl::string_view leaf) {
        auto entry = std::make_shared<v1::LogEntry>();
        if (!entry->ParseFromArray(leaf.data(), static_cast<int>(leaf.size())) ||
            entry->event_id() != index + 1) {
          parse_status = absl::DataLossError(absl::StrCat("leaf ", index, " is not a LogEntry"));
          return false;
        }
        bytes += leaf.size();
        catch_up_through_ = index + 1;
        if (filter_.MayMatch(*entry)) catch_up_.push_back(MakeFanOutEntry(std::move(entry), *context_->visibility));
        return bytes < kCatchUpChunkBytes;
      }));
  RETURN_IF_ERROR(parse_status);
  return true;
}

// Moves past entries through `through` that held nothing the filter
// selects (the rest of a read); the stream's turn holder only, with
// nothing pending.
void SubscriberStream::PassThrough(uint64_t through) {
  if (through < next_id_) return;
  next_id_ = through + 1;
  progress_->position.store(through);
}

void SubscriberStream::Consume(const FanOutEntryPtr& entry) {
  std::vector<OutgoingEvent> selected;
  context_->visibility->Select(principal_, filter_, entry->entry, *entry->facts,
                               context_->ring.ready(), &selected);
  next_id_ = entry->event_id() + 1;
  if (selected.empty()) {
    progress_->position.store(entry->event_id());
    return;
  }
  progress_->working_on_received_at_ms.store(entry->entry->received_at());
  for (const OutgoingEvent& event : selected) {
    OutgoingWrite write;
    write.event_id = entry->event_id();
    write.event = event;
    // Every subscriber of the event (or of its recipients-only copy) writes
    // the same encoded bytes.
    const size_t index = static_cast<size_t>(event.index);
    const grpc::Slice& encoded = event.own != nullptr ? entry->encoded_own[index] : entry->encoded[index];
    write.message = grpc::ByteBuffer(&encoded, 1);
    pending_.push_back(std::move(write));
  }
  pending_.back().last_of_entry = true;
}

void SubscriberStream::StartNextWriteLocked() {
  current_ = std::move(pending_.front());
  pending_.pop_front();
  writing_ = true;
  TransportWrite(current_);
}

void GrpcSubscriberStream::Begin(grpc::CallbackServerContext* context, uint64_t start_after) {
  context->AddInitialMetadata("x-fedrelay-subscriber", principal().identity);
  context->AddInitialMetadata("x-fedrelay-start-after", absl::StrCat(start_after));
  StartSendInitialMetadata();
  Join();
}

void GrpcSubscriberStream::OnCancel() {
  End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled: the subscriber went away"));
}

ExternalSubscriberStream::ExternalSubscriberStream(std::shared_ptr<StreamContext> context,
                                                   Principal principal, EventFilter filter,
                                                   uint64_t start_after,
                                                   std::shared_ptr<IdentityStats> stats,
                                                   std::shared_ptr<EventSubscriber> subscriber)
    : SubscriberStream(std::move(context), std::move(principal), std::move(filter), start_after,
                       std::move(stats)),
      subscriber_(std::move(subscriber)) {}

void ExternalSubscriberStream::Cancel() {
  cancelled_.store(true);
  End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled: the subscriber went away"));
}

void ExternalSubscriberStream::TransportWrite(OutgoingWrite& write) {
  std::weak_ptr<SubscriberStream> weak = weak_from_this();
  subscriber_->Deliver(write.event.event(), [weak](bool written) {
    if (auto stream = weak.lock()) stream->WriteDone(written);
  });
}

void ExternalSubscriberStream::AfterFinish(const grpc::Status& status) {
  if (!cancelled_.load()) {
    subscriber_->Ended(absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                    status.error_message()));
  }
  Done();
}

}  // namespace fedrelay::relay::downstream
