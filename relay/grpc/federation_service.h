// FederationRelay gRPC service: the write RPCs (unary and the Submit stream),
// Ping and GetServerInfo. Subscribe and Acknowledge are delegated to the
// downstream Delivery component (relay/delivery.h).
#ifndef FEDRELAY_RELAY_GRPC_FEDERATION_SERVICE_H_
#define FEDRELAY_RELAY_GRPC_FEDERATION_SERVICE_H_

#include <memory>
#include <string>

#include "config/config.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "relay/auth/rate_limiter.h"

namespace fedrelay::relay {

class Delivery;

// Subscribe is registered raw (grpc::ByteBuffer in and out) so the fan-out
// can write one encoding of an event to every subscriber; Submit is raw so an
// unparsable frame gets its own `malformed` SubmissionError and the stream
// goes on. The wire format is unchanged.
// (A raw bidi method cannot sit on top of its typed version, whose override
// differs only in the return type, so the chain is spelled out here.)
using FederationServiceBase = v1::FederationRelay::WithCallbackMethod_Federate<
    v1::FederationRelay::WithCallbackMethod_PropagateBan<
        v1::FederationRelay::WithCallbackMethod_ReceiveDMInvite<
            v1::FederationRelay::WithCallbackMethod_AcceptDMInvite<
                v1::FederationRelay::WithCallbackMethod_RejectDMInvite<
                    v1::FederationRelay::WithCallbackMethod_UpdateHomeServer<
                        v1::FederationRelay::WithCallbackMethod_UpdateFederatedProfile<
                            v1::FederationRelay::WithRawCallbackMethod_Submit<
                                v1::FederationRelay::WithRawCallbackMethod_Subscribe<
                                    v1::FederationRelay::WithCallbackMethod_Acknowledge<
                                        v1::FederationRelay::WithCallbackMethod_Ping<
                                            v1::FederationRelay::WithCallbackMethod_GetServerInfo<
                                                v1::FederationRelay::Service>>>>>>>>>>>>;

class FederationService final : public FederationServiceBase {
 public:
  struct Info {
    std::string server_id;
    std::string relay_pubkey_hex;
    std::string log_origin;
    std::string verifier_key;
    uint64_t max_clock_skew_ms = 0;
  };
  // `delivery` may be null only in tests of the write path.
  FederationService(federation::Federation* federation, Delivery* delivery, Info info,
                    const config::RateLimits& limits, const Clock* clock = &SystemClock());

  grpc::ServerUnaryReactor* Federate(grpc::CallbackServerContext* context,
                                     const v1::FederationRequest* request,
                                     v1::FederationResponse* response) override;
  grpc::ServerUnaryReactor* PropagateBan(grpc::CallbackServerContext* context,
                                         const v1::BanNotification* request,
                                         v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* ReceiveDMInvite(grpc::CallbackServerContext* context,
                                            const v1::ReceiveDMInviteRequest* request,
                                            v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* AcceptDMInvite(grpc::CallbackServerContext* context,
                                           const v1::AcceptDMInviteRequest* request,
                                           v1::AcceptDMInviteResponse* response) override;
  grpc::ServerUnaryReactor* RejectDMInvite(grpc::CallbackServerContext* context,
                                           const v1::RejectDMInviteRequest* request,
                                           v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* UpdateHomeServer(grpc::CallbackServerContext* context,
                                             const v1::UpdateHomeServerRequest* request,
                                             v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* UpdateFederatedProfile(grpc::CallbackServerContext* context,
                                                   const v1::UpdateFederatedProfileRequest* request,
                                                   v1::RelayReceipt* response) override;
  // Frames are v1::Submission in, v1::SubmissionResult out.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Submit(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const v1::AcknowledgeRequest* request,
                                        v1::AcknowledgeResponse* response) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const v1::PingRequest* request,
                                 v1::PongResponse* response) override;
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const v1::ServerInfoRequest* request,
                                          v1::ServerInfoResponse* response) override;

  // Applies the rate limit for `submission` and rate_limits.max_message_length
  // (payload_too_large), then hands it to the federation core.
  void SubmitLimited(federation::Submission submission, federation::DoneFn done);

 private:
  template <typename Response>
  grpc::ServerUnaryReactor* SubmitUnary(
      grpc::CallbackServerContext* context, federation::Submission submission, Response* response,
      std::function<void(const federation::Accepted&, Response*)> fill);

  federation::Federation* const federation_;
  Delivery* const delivery_;
  const Info info_;
  const config::RateLimits limits_;
  const Clock* const clock_;
  RateLimiter message_limiter_;
  RateLimiter invite_limiter_;
  RateLimiter ping_limiter_;
  RateLimiter discovery_limiter_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_FEDERATION_SERVICE_H_
