// The Admin service's messaging bridge commands (fedrelay-ctl bridge ...).
#include <chrono>

#include "base/errors.h"
#include "relay/grpc/admin_service.h"
#include "relay/grpc/grpc_status.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

// How long `bridge conversations` waits for the bridge's report.
constexpr std::chrono::milliseconds kConversationsWait{5000};

absl::Status NoBridge() { return MakeError(ErrorCode::kUnavailable, "the messaging bridge is not enabled"); }

void FillBinding(const BridgeBinding& binding, v1::AdminBridgeBinding* out) {
  out->set_user_id(binding.user_id);
  out->set_key_id(binding.key_id);
  out->set_recipient(binding.recipient);
  out->set_created_at(binding.created_at_ms);
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::BindBridge(grpc::CallbackServerContext* context,
                                                   const v1::BindBridgeRequest* request,
                                                   v1::AdminBridgeBinding* response) {
  return FinishOnWorker(context, [this, request, response]() -> absl::Status {
    if (bridge_ == nullptr) return NoBridge();
    auto binding = bridge_->Bind(request->user_id(), request->key_id(), request->recipient());
    if (binding.ok()) {
      FillBinding(*binding, response);
      spdlog::info("operator: user {} bound to bridge key {}", binding->user_id, binding->key_id);
    }
    return binding.status();
  });
}

grpc::ServerUnaryReactor* AdminService::ListBridge(grpc::CallbackServerContext* context,
                                                   const v1::ListBridgeRequest*,
                                                   v1::ListBridgeResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (bridge_ == nullptr) {
    reactor->Finish(ToGrpcStatus(NoBridge()));
    return reactor;
  }
  for (const auto& binding : bridge_->Bindings()) FillBinding(binding, response->add_bindings());
  auto notifications = bridge_->Notifications();
  if (notifications.ok()) {
    for (const auto& n : *notifications) {
      auto* out = response->add_notifications();
      out->set_token(n.token);
      out->set_kind(n.kind);
      out->set_user_id(n.user_id);
      out->set_key_id(n.key_id);
      out->set_event_id(n.event_id);
      out->set_state(n.state);
      out->set_attempts(n.attempts);
      out->set_last_code(n.last_code);
      out->set_read(n.read);
    }
  }
  reactor->Finish(ToGrpcStatus(notifications.status()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::UnbindBridge(grpc::CallbackServerContext* context,
                                                     const v1::UnbindBridgeRequest* request,
                                                     v1::UnbindBridgeResponse*) {
  return FinishOnWorker(context, [this, request]() -> absl::Status {
    absl::Status status = bridge_ == nullptr ? NoBridge() : bridge_->Unbind(request->user_id());
    if (status.ok()) spdlog::info("operator: user {} unbound from its bridge", request->user_id());
    return status;
  });
}

grpc::ServerUnaryReactor* AdminService::BridgeConversations(grpc::CallbackServerContext* context,
                                                            const v1::BridgeConversationsRequest* request,
                                                            v1::BridgeConversationsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (bridge_ == nullptr) {
    reactor->Finish(ToGrpcStatus(NoBridge()));
    return reactor;
  }
  // Waits (bounded) for the bridge's answer on a gRPC thread: operator
  // commands are rare and the admin socket serves nothing else.
  auto report = bridge_->Conversations(request->key_id(), request->refresh(), kConversationsWait);
  if (report.ok() && report->has_value()) {
    response->set_found(true);
    response->set_token((*report)->token);
    response->set_conversations((*report)->conversations);
    response->set_received_at((*report)->received_at_ms);
  }
  reactor->Finish(ToGrpcStatus(report.status()));
  return reactor;
}

}  // namespace fedrelay::relay
