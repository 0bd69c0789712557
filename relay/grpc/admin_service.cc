#include "relay/grpc/admin_service.h"

#include "base/errors.h"
#include "relay/grpc/grpc_status.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

// A peer change is answered once it is durable: the federation core calls
// this on its completer thread (or at once, refused before queueing).
federation::DoneFn FinishWithReceipt(grpc::CallbackServerContext* context,
                                     grpc::ServerUnaryReactor* reactor, v1::RelayReceipt* response,
                                     std::string what) {
  return [context, reactor, response,
          what = std::move(what)](absl::StatusOr<federation::Accepted> result) {
    if (result.ok()) {
      *response = result->receipt;
      spdlog::info("operator: {} (event {})", what, result->receipt.event_id());
    } else {
      spdlog::warn("operator: {} refused: {}", what, std::string(result.status().message()));
    }
    reactor->Finish(ToGrpcStatus(result.status(), context));
  };
}

void FillApiKey(const ApiKeyInfo& info, v1::AdminApiKey* out) {
  out->set_key_id(info.key_id);
  out->set_name(info.name);
  for (const auto& scope : info.scopes) out->add_scopes(scope);
  out->set_created_at(info.created_at_ms);
  out->set_revoked(info.revoked);
  out->set_revoked_at(info.revoked_at_ms);
}

absl::Status NoApiKeys() { return MakeError(ErrorCode::kUnavailable, "API keys are not enabled"); }

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& field) {
  return {field.begin(), field.end()};
}

}  // namespace

std::string AdminSocketPath(const std::string& data_dir) { return data_dir + "/admin.sock"; }

AdminService::AdminService(federation::Federation* federation, const store::LogStore* store,
                           std::string verifier_key, std::string relay_pubkey_hex,
                           ApiKeys* api_keys, AccessRequests* access_requests)
    : federation_(federation),
      store_(store),
      verifier_key_(std::move(verifier_key)),
      relay_pubkey_hex_(std::move(relay_pubkey_hex)),
      api_keys_(api_keys),
      access_requests_(access_requests) {}

grpc::ServerUnaryReactor* AdminService::FinishOnWorker(grpc::CallbackServerContext* context,
                                                       std::function<absl::Status()> write) {
  auto* reactor = context->DefaultReactor();
  worker_.Post([context, reactor, write = std::move(write)] {
    reactor->Finish(ToGrpcStatus(write(), context));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Status(grpc::CallbackServerContext* context,
                                               const v1::AdminStatusRequest*,
                                               v1::AdminStatusResponse* response) {
  response->set_log_size(store_->Size());
  if (auto checkpoint = store_->LatestCheckpoint()) {
    response->set_checkpoint_size(checkpoint->tree_size);
    response->set_checkpoint_note(checkpoint->note);
  }
  response->set_relay_pubkey(relay_pubkey_hex_);
  response->set_verifier_key(verifier_key_);
  response->set_peers(federation_->Peers().size());
  response->set_equivocations(federation_->Equivocations().size());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListPeers(grpc::CallbackServerContext* context,
                                                  const v1::ListPeersRequest*,
                                                  v1::ListPeersResponse* response) {
  for (const auto& peer : federation_->Peers()) {
    auto* out = response->add_peers();
    out->set_server_id(peer.server_id);
    out->set_pubkey(peer.pubkey_hex);
    for (const auto& guild : peer.may_ban) out->add_may_ban(guild);
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::AddPeer(grpc::CallbackServerContext* context,
                                                const v1::AddPeerRequest* request,
                                                v1::RelayReceipt* response) {
  const auto& peer = request->peer();
  auto* reactor = context->DefaultReactor();
  federation_->AddPeer({peer.server_id(), peer.pubkey(), ToVector(peer.may_ban())},
                       FinishWithReceipt(context, reactor, response, "peer add " + peer.server_id()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::RemovePeer(grpc::CallbackServerContext* context,
                                                   const v1::RemovePeerRequest* request,
                                                   v1::RelayReceipt* response) {
  auto* reactor = context->DefaultReactor();
  federation_->RemovePeer(request->server_id(),
                          FinishWithReceipt(context, reactor, response,
                                            "peer remove " + request->server_id()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::RotatePeerKey(grpc::CallbackServerContext* context,
                                                      const v1::RotatePeerKeyRequest* request,
                                                      v1::RelayReceipt* response) {
  auto* reactor = context->DefaultReactor();
  federation_->RotatePeerKey(request->server_id(), request->new_pubkey(),
                             FinishWithReceipt(context, reactor, response,
                                               "peer rotate " + request->server_id()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::SetPeerMayBan(grpc::CallbackServerContext* context,
                                                      const v1::SetPeerMayBanRequest* request,
                                                      v1::RelayReceipt* response) {
  auto* reactor = context->DefaultReactor();
  federation_->SetPeerMayBan(request->server_id(), ToVector(request->may_ban()),
                             FinishWithReceipt(context, reactor, response,
                                               "peer may-ban " + request->server_id()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListEquivocations(
    grpc::CallbackServerContext* context, const v1::ListEquivocationsRequest*,
    v1::ListEquivocationsResponse* response) {
  for (const auto& seen : federation_->Equivocations()) {
    auto* out = response->add_equivocations();
    out->set_user_id(seen.user_id);
    out->set_timestamp(seen.timestamp);
    out->set_logged_target(seen.logged_target);
    out->set_rejected_target(seen.rejected_target);
    out->set_seen_at_ms(seen.seen_at_ms);
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::CreateApiKey(grpc::CallbackServerContext* context,
                                                     const v1::CreateApiKeyRequest* request,
                                                     v1::CreateApiKeyResponse* response) {
  return FinishOnWorker(context, [this, request, response]() -> absl::Status {
    if (api_keys_ == nullptr) return NoApiKeys();
    std::vector<std::string> scopes = ToVector(request->scopes());
    if (scopes.empty()) scopes.emplace_back(kScopeRestFull);
    auto created = api_keys_->Create(request->name(), scopes);
    if (created.ok()) {
      FillApiKey(created->info, response->mutable_key());
      response->set_api_key(created->key);  // the only copy; never logged
      spdlog::info("operator: API key {} created ('{}')", created->info.key_id, created->info.name);
    }
    return created.status();
  });
}

grpc::ServerUnaryReactor* AdminService::ListApiKeys(grpc::CallbackServerContext* context,
                                                    const v1::ListApiKeysRequest*,
                                                    v1::ListApiKeysResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (api_keys_ == nullptr) {
    reactor->Finish(ToGrpcStatus(NoApiKeys()));
    return reactor;
  }
  auto keys = api_keys_->List();
  if (keys.ok()) {
    for (const auto& info : *keys) FillApiKey(info, response->add_keys());
  }
  reactor->Finish(ToGrpcStatus(keys.status()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::RevokeApiKey(grpc::CallbackServerContext* context,
                                                     const v1::RevokeApiKeyRequest* request,
                                                     v1::AdminApiKey* response) {
  return FinishOnWorker(context, [this, request, response]() -> absl::Status {
    if (api_keys_ == nullptr) return NoApiKeys();
    auto revoked = api_keys_->Revoke(request->key_id());
    if (revoked.ok()) {
      FillApiKey(*revoked, response);
      spdlog::info("operator: API key {} revoked", revoked->key_id);
    }
    return revoked.status();
  });
}

}  // namespace fedrelay::relay

namespace fedrelay::relay {

grpc::ServerUnaryReactor* AdminService::ListAccessRequests(
    grpc::CallbackServerContext* context, const v1::ListAccessRequestsRequest*,
    v1::ListAccessRequestsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (access_requests_ == nullptr) {
    reactor->Finish(ToGrpcStatus(
        MakeError(ErrorCode::kUnavailable, "integration access requests are not enabled")));
    return reactor;
  }
  const uint64_t now = SystemClock().NowMs();
  for (const AccessRequestInfo& info : access_requests_->List()) {
    auto* out = response->add_requests();
    out->set_request_id(info.request_id);
    out->set_client_id(info.client_id);
    out->set_display_name(info.display_name);
    for (const auto& scope : info.scopes) out->add_scopes(scope);
    out->set_remote_address(info.remote_address);
    out->set_created_at(info.created_at_ms);
    out->set_age_ms(now > info.created_at_ms ? now - info.created_at_ms : 0);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ApproveAccessRequest(
    grpc::CallbackServerContext* context, const v1::ApproveAccessRequestRequest* request,
    v1::AdminApiKey* response) {
  return FinishOnWorker(context, [this, request, response]() -> absl::Status {
    if (access_requests_ == nullptr) {
      return MakeError(ErrorCode::kUnavailable, "integration access requests are not enabled");
    }
    absl::StatusOr<ApiKeyInfo> key = access_requests_->Approve(request->request_id());
    if (key.ok()) {
      FillApiKey(*key, response);
      spdlog::info("operator: approved access request {} (key {})", request->request_id(),
                   key->key_id);
    }
    return key.status();
  });
}

grpc::ServerUnaryReactor* AdminService::DenyAccessRequest(
    grpc::CallbackServerContext* context, const v1::DenyAccessRequestRequest* request,
    v1::DenyAccessRequestResponse*) {
  return FinishOnWorker(context, [this, request]() -> absl::Status {
    absl::Status status =
        access_requests_ == nullptr
            ? MakeError(ErrorCode::kUnavailable, "integration access requests are not enabled")
            : access_requests_->Deny(request->request_id());
    if (status.ok()) spdlog::info("operator: denied access request {}", request->request_id());
    return status;
  });
}

}  // namespace fedrelay::relay
