// The Delivery: the streams' shared context (relay/downstream/subscriber_stream.h),
// the ring the writer publishes to (relay/downstream/fan_out_ring.h), the
// fan-out thread between them, and the requests that open streams and move
// cursors. The thread picture is in subscriber_stream.h and fan_out_ring.h.
#include "relay/downstream/delivery.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "relay/downstream/store_cursor_book.h"
#include "relay/downstream/subscriber_stats.h"
#include "relay/downstream/subscriber_stream.h"
#include "relay/downstream/visibility.h"
#include "relay/grpc/grpc_status.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {

using downstream::ExternalSubscriberStream;
using downstream::GrpcSubscriberStream;
using downstream::IdentityStats;

struct Delivery::StreamStart {
  EventFilter filter;
  uint64_t after = 0;
  std::shared_ptr<IdentityStats> stats;
  SubscriberInfo info;  // the operator's view: filters and connection time
};

std::unique_ptr<Delivery> Delivery::Create(const DeliveryOptions& options) {
  return std::make_unique<Delivery>(options);
}

Delivery::Delivery(const DeliveryOptions& options)
    : options_(options),
      context_(std::make_shared<downstream::StreamContext>(options.store, options.recent_entries,
                                                           options.threads, options.behind_limit)),
      own_cursors_(options.cursors != nullptr ? nullptr
                                              : std::make_unique<StoreCursorBook>(options.store)),
      cursors_(options.cursors != nullptr ? *options.cursors : *own_cursors_),
      stats_(std::make_unique<downstream::SubscriberStats>(context_->ring.ready_counter(),
                                                           options.clock)) {}

Delivery::~Delivery() { Shutdown(); }

void Delivery::Start(const federation::Federation* federation) {
  auth_ = std::make_unique<DownstreamAuthenticator>(
      federation, options_.api_keys,
      DownstreamAuthenticator::Options{options_.server_id, options_.max_clock_skew_ms,
                                       options_.clock});
  context_->visibility = std::make_unique<Visibility>(federation);
  if (options_.api_keys != nullptr) {
    std::weak_ptr<downstream::StreamContext> weak = context_;
    options_.api_keys->AddRevocationListener([weak](const std::string& key_id) {
      if (auto context = weak.lock()) {
        context->EndStreams([&](const Principal& p) { return p.key_id == key_id; },
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
void Delivery::LoadKnownSubscribers() {
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> known = cursors_.List();
  if (!known.ok()) {
    spdlog::warn("cannot load subscriber cursors for the metrics: {}", known.status().ToString());
    return;
  }
  for (const auto& [identity, cursor] : *known) {
    std::shared_ptr<IdentityStats> stats = stats_->For(identity);
    stats->acked->Set(static_cast<double>(cursor));
    stats->SetIdlePosition(cursor);
  }
}

void Delivery::Shutdown() {
  if (stopped_.exchange(true)) return;
  context_->EndStreams(
      [](const Principal&) { return true; },
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "unavailable: the relay is shutting down"));
  context_->ring.Stop();
  if (fan_out_thread_.joinable()) fan_out_thread_.join();
  context_->pool.Stop();
  stats_->RemoveCallbacks();
}

size_t Delivery::subscriber_count() const { return context_->stream_count(); }

std::vector<SubscriberInfo> Delivery::Subscribers() const {
  std::vector<SubscriberInfo> out;
  const uint64_t head = context_->ring.ready();
  const uint64_t now = options_.clock->NowMs();
  for (const auto& stream : context_->Streams()) {
    SubscriberInfo info = stream->info();
    info.sent_through = stream->progress().position.load();
    info.lag_events = stream->progress().LagEvents(head);
    info.lag_seconds = stream->progress().LagSeconds(head, now);
    out.push_back(std::move(info));
  }
  for (SubscriberInfo& info : out) {  // the cursor book may read the store
    if (auto cursor = cursors_.Load(info.identity); cursor.ok()) info.acked_event_id = *cursor;
  }
  std::sort(out.begin(), out.end(), [](const SubscriberInfo& a, const SubscriberInfo& b) {
    return std::tie(a.identity, a.connected_since_ms) < std::tie(b.identity, b.connected_since_ms);
  });
  return out;
}

void Delivery::OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  context_->ring.Publish(entries);
}

void Delivery::RunFanOut() {
  while (std::optional<downstream::ReadyBatch> batch = context_->ring.NextBatch(*context_->visibility)) {
    context_->WakeStreams(*batch);
    for (const downstream::UnpinnedPeer& peer : batch->unpinned) {
      context_->EndStreams(
          [&](const Principal& p) { return p.is_peer() && p.peer_server_id == peer.server_id; },
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                       absl::StrCat("unauthenticated: ", peer.why)));
    }
  }
}

absl::Status Delivery::CheckRunning() const {
  if (!started_.load() || stopped_.load()) {
    return MakeError(ErrorCode::kUnavailable, "delivery is not running");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Delivery::StartPosition(const Principal& principal,
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

grpc::ServerWriteReactor<grpc::ByteBuffer>* Delivery::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
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
  if (grpc::ByteBuffer copy = *raw_request;
      !grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(&copy, &request).ok()) {
    return RefuseStream<grpc::ByteBuffer>(ToGrpcStatus(
        MakeError(ErrorCode::kMalformed, "the SubscribeRequest does not parse")));
  }
  absl::StatusOr<StreamStart> start = ResolveStreamStart(*principal, request);
  if (!start.ok()) return RefuseStream<grpc::ByteBuffer>(ToGrpcStatus(start.status()));
  auto stream = std::make_shared<GrpcSubscriberStream>(context_, *std::move(principal),
                                                       std::move(start->filter), start->after,
                                                       std::move(start->stats));
  start->info.transport = "grpc";
  stream->SetInfo(std::move(start->info));
  stream->Begin(context, start->after);
  return stream.get();
}

absl::StatusOr<Delivery::StreamStart> Delivery::ResolveStreamStart(const Principal& principal,
                                                                   const v1::SubscribeRequest& request) {
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
  return StreamStart{std::move(filter), start_after, stats_->For(principal.identity),
                     std::move(info)};
}

absl::StatusOr<std::shared_ptr<EventSubscription>> Delivery::SubscribeEvents(
    const Principal& principal, const v1::SubscribeRequest& request,
    std::shared_ptr<EventSubscriber> subscriber) {
  RETURN_IF_ERROR(CheckRunning());
  ASSIGN_OR_RETURN(StreamStart start, ResolveStreamStart(principal, request));
  auto stream = std::make_shared<ExternalSubscriberStream>(
      context_, principal, std::move(start.filter), start.after, std::move(start.stats),
      std::move(subscriber));
  start.info.transport = "websocket";
  stream->SetInfo(std::move(start.info));
  stream->Join();
  return stream;
}

absl::StatusOr<uint64_t> Delivery::AcknowledgeEvent(const Principal& principal,
                                                    uint64_t event_id) {
  RETURN_IF_ERROR(CheckRunning());
  const uint64_t size = options_.store->Size();
  if (event_id > size) {
    return MakeError(ErrorCode::kInvalidCursor,
                     absl::StrCat("event ", event_id, " is beyond the log (", size, " events)"));
  }
  ASSIGN_OR_RETURN(const uint64_t cursor, cursors_.Advance(principal.identity, event_id));
  std::shared_ptr<IdentityStats> stats = stats_->For(principal.identity);
  stats->acks->Increment();
  stats->acked->Set(static_cast<double>(cursor));
  return cursor;
}

grpc::ServerUnaryReactor* Delivery::Acknowledge(grpc::CallbackServerContext* context,
                                                const v1::AcknowledgeRequest* request,
                                                v1::AcknowledgeResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto run = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckRunning());
    ASSIGN_OR_RETURN(Principal principal,
                     auth_->Authenticate(DownstreamCredentials::FromGrpc(*context),
                                         kAcknowledgeMethod));
    ASSIGN_OR_RETURN(const uint64_t cursor, AcknowledgeEvent(principal, request->event_id()));
    response->set_event_id(cursor);
    return absl::OkStatus();
  };
  reactor->Finish(ToGrpcStatus(run(), context));
  return reactor;
}

}  // namespace fedrelay::relay
