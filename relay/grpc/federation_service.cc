#include "relay/grpc/federation_service.h"

#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/errors.h"
#include "relay/disk_space.h"
#include "federation/kinds.h"
#include "relay/downstream/delivery.h"
#include "relay/grpc/grpc_status.h"
#include "relay/grpc/recent_rejections.h"
#include "relay/grpc/verify_pool.h"

namespace fedrelay::relay {
namespace {

// Enough to keep every verifying core and the writer's batches full; small
// enough that a burst waits in the sender (flow control), not in the relay.
constexpr size_t kMaxInFlightPerStream = 256;
// Checks queued for the verify pool across all streams before a stream's
// reader waits for room (each stream is bounded by its window first).
constexpr size_t kVerifyQueueCapacity = 16384;

// Who an unsigned call (Ping, GetServerInfo) is charged to: the client's
// address without its port ("ipv4:127.0.0.1:5151" -> "ipv4:127.0.0.1"), so
// opening more connections buys no more calls.
std::string ClientAddress(const std::string& peer) {
  if (!absl::StartsWith(peer, "ipv4:") && !absl::StartsWith(peer, "ipv6:")) return peer;
  const size_t colon = peer.rfind(':');
  return colon > 5 ? peer.substr(0, colon) : peer;
}

// rate_limits.max_message_length on the kind's free-text fields (federation/kinds.h
// says which). Like the rate limits this is the relay's edge policy, not an
// acceptance rule: what is already logged stays valid when the limit changes.
absl::Status CheckTextLengths(const federation::Submission& submission, uint32_t max_length) {
  if (max_length == 0) return absl::OkStatus();
  for (const auto& [name, value] : federation::CappedTexts(submission)) {
    if (value.size() > max_length) {
      return MakeError(ErrorCode::kPayloadTooLarge,
                       absl::StrCat(name, " is ", value.size(),
                                    " bytes, more than rate_limits.max_message_length (",
                                    max_length, ")"));
    }
  }
  return absl::OkStatus();
}

// rate_limits.max_upload_size for a submission, as a typed, counted refusal.
// gRPC's own receive limit sits above it (relay.cc) only as a backstop.
absl::Status CheckUploadSize(const federation::Submission& submission, uint32_t max_bytes) {
  if (max_bytes == 0) return absl::OkStatus();
  const size_t size = std::visit([](const auto& message) { return message.ByteSizeLong(); },
                                 submission);
  if (size <= max_bytes) return absl::OkStatus();
  return MakeError(ErrorCode::kPayloadTooLarge,
                   absl::StrCat("the request is ", size,
                                " bytes, more than rate_limits.max_upload_size (", max_bytes, ")"));
}

// Refusals made here, before the federation core, are counted with its own.
absl::StatusOr<federation::Submission> FromProto(const v1::Submission& in) {
  std::optional<federation::Submission> submission = federation::SubmissionFromProto(in);
  if (!submission.has_value()) return MakeError(ErrorCode::kMalformed, "submission carries no item");
  return *std::move(submission);
}

void FillError(const absl::Status& status, v1::SubmissionError* error) {
  error->set_code(MachineCode(status));
  error->set_message(WireMessage(status));
  error->set_grpc_code(static_cast<int32_t>(status.code()));
  if (const auto retry_after = RetryAfterMs(status)) error->set_retry_after_ms(*retry_after);
}

// One Submit stream. Results are written one at a time in completion order.
// Reading pauses while kMaxInFlightPerStream submissions are unanswered, so a
// fast sender cannot make the relay buffer without bound. The reactor deletes
// itself once gRPC is done with it and every submission has been answered.
// Frames arrive as bytes: one that is not a v1::Submission is answered
// `malformed` (with no correlation id to echo) and the stream goes on.
class SubmitStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  SubmitStream(grpc::CallbackServerContext* context, FederationService* service)
      : context_(context), service_(service), submitter_(service->NewStreamSubmitter()) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    v1::Submission frame;
    absl::StatusOr<federation::Submission> submission =
        ParseFrame(incoming_, frame) ? FromProto(frame)
                                     : MakeError(ErrorCode::kMalformed,
                                                 "the frame is not a valid fedrelay.v1.Submission");
    incoming_.Clear();
    const std::string correlation_id = frame.correlation_id();
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    auto done = [this, correlation_id](absl::StatusOr<federation::Accepted> result) {
      v1::SubmissionResult out;
      out.set_correlation_id(correlation_id);
      if (result.ok()) {
        *out.mutable_receipt() = result->receipt;
      } else {
        FillError(result.status(), out.mutable_error());
      }
      Deliver(std::move(out));
    };
    if (!submission.ok()) {
      federation::CountRejection(submission.status());
      RecentRejections::Default().Record(submission.status(), "", "", SystemClock().NowMs());
      done(submission.status());
    } else {
      service_->SubmitInStreamOrder(*submitter_, *std::move(submission), std::move(done));
    }
    absl::MutexLock lock(&mu_);
    if (in_flight_ < kMaxInFlightPerStream) {
      StartRead(&incoming_);
    } else {
      read_paused_ = true;
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    outgoing_.pop_front();
    --in_flight_;
    if (!ok) broken_ = true;
    if (read_paused_ && in_flight_ < kMaxInFlightPerStream && !broken_) {
      read_paused_ = false;
      StartRead(&incoming_);
    }
    writing_ = false;
    WriteNextLocked();
    MaybeFinishLocked();
  }

  void OnDone() override {
    bool destroy;
    {
      absl::MutexLock lock(&mu_);
      grpc_done_ = true;
      destroy = in_flight_ == 0;
    }
    if (destroy) delete this;
  }

 private:
  // A frame that does not parse is left empty: nothing read from it (not
  // even a correlation id) is echoed back.
  static bool ParseFrame(grpc::ByteBuffer& bytes, v1::Submission& frame) {
    if (grpc::SerializationTraits<v1::Submission>::Deserialize(&bytes, &frame).ok()) return true;
    frame.Clear();
    return false;
  }

  void Deliver(const v1::SubmissionResult& result) {
    // Serializing a message we built only fails past protobuf's 2 GiB limit,
    // which a result never nears.
    grpc::ByteBuffer encoded;
    bool own_buffer = false;
    (void)grpc::SerializationTraits<v1::SubmissionResult>::Serialize(result, &encoded, &own_buffer);
    bool destroy = false;
    {
      absl::MutexLock lock(&mu_);
      if (broken_ || finished_) {
        // Nobody to tell; the entry (if accepted) is in the log regardless.
        --in_flight_;
        destroy = grpc_done_ && in_flight_ == 0;
      } else {
        outgoing_.push_back(std::move(encoded));
        WriteNextLocked();
      }
    }
    if (destroy) delete this;
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || outgoing_.empty() || broken_) return;
    writing_ = true;
    StartWrite(&outgoing_.front());
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (broken_ && !writing_) {
      finished_ = true;
      // Results still queued are dropped; account for them.
      in_flight_ -= outgoing_.size();
      outgoing_.clear();
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client stopped reading"));
      return;
    }
    if (reads_done_ && in_flight_ == 0 && !writing_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  grpc::CallbackServerContext* const context_;
  FederationService* const service_;
  const std::shared_ptr<OrderedSubmitter> submitter_;
  grpc::ByteBuffer incoming_;
  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> outgoing_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool grpc_done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

FederationService::FederationService(federation::Federation* federation, Delivery* delivery,
                                     Info info, const config::RateLimits& limits,
                                     const Clock* clock)
    : federation_(federation),
      delivery_(delivery),
      info_(std::move(info)),
      limits_(limits),
      clock_(clock),
      message_limiter_("message_rate_limit", limits.message_rate_limit, clock),
      invite_limiter_("invite_rate_limit", limits.invite_rate_limit, clock),
      ping_limiter_("ping_rate_limit", limits.ping_rate_limit, clock),
      discovery_limiter_("discovery_rate_limit", limits.discovery_rate_limit, clock),
      verify_pool_(std::make_unique<VerifyPool>(/*threads=*/0, kVerifyQueueCapacity)) {}

FederationService::~FederationService() { verify_pool_->Stop(); }

absl::Status FederationService::CheckAtEdge(const federation::Submission& submission) {
  RateLimiter& limiter = federation::RateLimitOf(submission) == federation::RateLimit::kInvite
                             ? invite_limiter_
                             : message_limiter_;
  // Too large or too long is refused before the rate limiter: a refusal uses up no quota.
  absl::Status allowed = CheckUploadSize(submission, limits_.max_upload_size);
  if (allowed.ok()) allowed = CheckTextLengths(submission, limits_.max_message_length);
  if (allowed.ok()) allowed = limiter.Allow(federation::RateKey(submission));
  if (allowed.ok() && disk_space_ != nullptr) allowed = disk_space_->Check();
  if (!allowed.ok()) federation::CountRejection(allowed);
  return allowed;
}

federation::DoneFn FederationService::RecordingRefusals(const federation::Submission& submission,
                                                        federation::DoneFn done) const {
  // Every refusal, here or in the federation core, reaches the operator's ring.
  return [done = std::move(done), peer = federation::RateKey(submission),
          kind = std::string(federation::KindName(submission)),
          clock = clock_](absl::StatusOr<federation::Accepted> result) {
    if (!result.ok()) RecentRejections::Default().Record(result.status(), peer, kind, clock->NowMs());
    done(std::move(result));
  };
}

void FederationService::SubmitLimited(federation::Submission submission, federation::DoneFn done) {
  done = RecordingRefusals(submission, std::move(done));
  if (absl::Status allowed = CheckAtEdge(submission); !allowed.ok()) {
    done(allowed);
    return;
  }
  federation_->Submit(std::move(submission), std::move(done));
}

std::shared_ptr<OrderedSubmitter> FederationService::NewStreamSubmitter() {
  return std::make_shared<OrderedSubmitter>(verify_pool_.get(), federation_);
}

void FederationService::SubmitInStreamOrder(OrderedSubmitter& submitter,
                                            federation::Submission submission,
                                            federation::DoneFn done) {
  done = RecordingRefusals(submission, std::move(done));
  if (absl::Status allowed = CheckAtEdge(submission); !allowed.ok()) {
    done(allowed);
    return;
  }
  submitter.Submit(std::move(submission), std::move(done));
}

template <typename Response>
grpc::ServerUnaryReactor* FederationService::SubmitUnary(
    grpc::CallbackServerContext* context, federation::Submission submission, Response* response,
    std::function<void(const federation::Accepted&, Response*)> fill) {
  auto* reactor = context->DefaultReactor();
  SubmitLimited(std::move(submission),
                [context, reactor, response, fill = std::move(fill)](
                    absl::StatusOr<federation::Accepted> result) {
                  if (!result.ok()) {
                    reactor->Finish(ToGrpcStatus(result.status(), context));
                    return;
                  }
                  fill(*result, response);
                  reactor->Finish(grpc::Status::OK);
                });
  return reactor;
}

namespace {
void FillReceipt(const federation::Accepted& accepted, v1::RelayReceipt* response) {
  *response = accepted.receipt;
}
}  // namespace

grpc::ServerUnaryReactor* FederationService::Federate(grpc::CallbackServerContext* context,
                                                      const v1::FederationRequest* request,
                                                      v1::FederationResponse* response) {
  return SubmitUnary<v1::FederationResponse>(
      context, *request, response,
      [](const federation::Accepted& accepted, v1::FederationResponse* out) {
        out->set_accepted(true);
        out->set_message("accepted");
        *out->mutable_receipt() = accepted.receipt;
        for (const auto& event : accepted.entry->events()) {
          if (event.has_member_joined()) *out->mutable_user() = event.member_joined().user();
        }
      });
}

grpc::ServerUnaryReactor* FederationService::PropagateBan(grpc::CallbackServerContext* context,
                                                          const v1::BanNotification* request,
                                                          v1::RelayReceipt* response) {
  return SubmitUnary<v1::RelayReceipt>(context, *request, response, FillReceipt);
}

grpc::ServerUnaryReactor* FederationService::ReceiveDMInvite(
    grpc::CallbackServerContext* context, const v1::ReceiveDMInviteRequest* request,
    v1::RelayReceipt* response) {
  return SubmitUnary<v1::RelayReceipt>(context, request->invite(), response, FillReceipt);
}

grpc::ServerUnaryReactor* FederationService::AcceptDMInvite(
    grpc::CallbackServerContext* context, const v1::AcceptDMInviteRequest* request,
    v1::AcceptDMInviteResponse* response) {
  return SubmitUnary<v1::AcceptDMInviteResponse>(
      context, *request, response,
      [](const federation::Accepted& accepted, v1::AcceptDMInviteResponse* out) {
        *out->mutable_receipt() = accepted.receipt;
        if (accepted.invite.has_value()) {
          out->set_token(accepted.invite->token());
          out->set_host_server_url(accepted.invite->host_server_url());
          out->set_guild_id(accepted.invite->guild_id());
        }
      });
}

grpc::ServerUnaryReactor* FederationService::RejectDMInvite(
    grpc::CallbackServerContext* context, const v1::RejectDMInviteRequest* request,
    v1::RelayReceipt* response) {
  return SubmitUnary<v1::RelayReceipt>(context, *request, response, FillReceipt);
}

grpc::ServerUnaryReactor* FederationService::UpdateHomeServer(
    grpc::CallbackServerContext* context, const v1::UpdateHomeServerRequest* request,
    v1::RelayReceipt* response) {
  return SubmitUnary<v1::RelayReceipt>(context, *request, response, FillReceipt);
}

grpc::ServerUnaryReactor* FederationService::UpdateFederatedProfile(
    grpc::CallbackServerContext* context, const v1::UpdateFederatedProfileRequest* request,
    v1::RelayReceipt* response) {
  return SubmitUnary<v1::RelayReceipt>(context, *request, response, FillReceipt);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* FederationService::Submit(
    grpc::CallbackServerContext* context) {
  return new SubmitStream(context, this);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FederationService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  if (delivery_ != nullptr) return delivery_->Subscribe(context, request);
  return RefuseStream<grpc::ByteBuffer>(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "unavailable: no delivery"));
}

grpc::ServerUnaryReactor* FederationService::Acknowledge(grpc::CallbackServerContext* context,
                                                         const v1::AcknowledgeRequest* request,
                                                         v1::AcknowledgeResponse* response) {
  if (delivery_ != nullptr) return delivery_->Acknowledge(context, request, response);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "unavailable: no delivery"));
  return reactor;
}

grpc::ServerUnaryReactor* FederationService::Ping(grpc::CallbackServerContext* context,
                                                  const v1::PingRequest*,
                                                  v1::PongResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status allowed = ping_limiter_.Allow(ClientAddress(context->peer())); !allowed.ok()) {
    federation::CountRejection(allowed);
    RecentRejections::Default().Record(allowed, ClientAddress(context->peer()), "ping", clock_->NowMs());
    reactor->Finish(ToGrpcStatus(allowed, context));
    return reactor;
  }
  // Pong carries the relay's clock so peers can see their skew against it.
  response->set_timestamp(clock_->NowMs());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* FederationService::GetServerInfo(grpc::CallbackServerContext* context,
                                                           const v1::ServerInfoRequest*,
                                                           v1::ServerInfoResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status allowed = discovery_limiter_.Allow(ClientAddress(context->peer())); !allowed.ok()) {
    federation::CountRejection(allowed);
    RecentRejections::Default().Record(allowed, ClientAddress(context->peer()), "server_info",
                                       clock_->NowMs());
    reactor->Finish(ToGrpcStatus(allowed, context));
    return reactor;
  }
  response->set_canonical_address(info_.server_id);
  response->set_server_id(info_.server_id);
  response->set_relay_pubkey(info_.relay_pubkey_hex);
  response->set_log_origin(info_.log_origin);
  response->set_verifier_key(info_.verifier_key);
  response->set_max_clock_skew_ms(info_.max_clock_skew_ms);
  response->set_version(FEDRELAY_VERSION);
  auto* settings = response->mutable_settings();
  settings->set_max_upload_size(limits_.max_upload_size);
  settings->set_message_rate_limit(limits_.message_rate_limit);
  settings->set_max_message_length(limits_.max_message_length);
  settings->set_register_rate_limit(limits_.register_rate_limit);
  settings->set_login_rate_limit(limits_.login_rate_limit);
  settings->set_invite_rate_limit(limits_.invite_rate_limit);
  settings->set_discovery_rate_limit(limits_.discovery_rate_limit);
  settings->set_sync_mailbox_rate_limit(limits_.sync_mailbox_rate_limit);
  settings->set_ping_rate_limit(limits_.ping_rate_limit);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace fedrelay::relay
