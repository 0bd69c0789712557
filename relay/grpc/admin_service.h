// Operator commands for fedrelay-ctl, served on <data_dir>/admin.sock only.
// Peer changes go through the federation core, so each is a relay-signed log entry.
//
// No handler waits on a synced write on a gRPC callback thread: peer changes
// finish from the federation core's completion (its completer thread), and
// the other writes (API keys, access requests, bridge bindings, tickets) run
// on the service's own worker thread, which finishes the call. Reads answer
// inline.
#ifndef FEDRELAY_RELAY_GRPC_ADMIN_SERVICE_H_
#define FEDRELAY_RELAY_GRPC_ADMIN_SERVICE_H_

#include <functional>
#include <string>

#include "base/serial_worker.h"
#include "federation/federation.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "relay/auth/api_keys.h"
#include "relay/downstream/bridge_outbox.h"
#include "relay/member/member_tickets.h"
#include "relay/http/access_requests.h"
#include "store/log_store.h"

namespace fedrelay::relay {

// Where fedrelayd listens for fedrelay-ctl.
std::string AdminSocketPath(const std::string& data_dir);

class AdminService final : public v1::Admin::CallbackService {
 public:
  // `api_keys` may be null: the API key commands then answer UNAVAILABLE;
  // so may `access_requests`, for the access request commands.
  AdminService(federation::Federation* federation, const store::LogStore* store,
               std::string verifier_key, std::string relay_pubkey_hex,
               ApiKeys* api_keys = nullptr, AccessRequests* access_requests = nullptr);

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const v1::AdminStatusRequest* request,
                                   v1::AdminStatusResponse* response) override;
  grpc::ServerUnaryReactor* ListPeers(grpc::CallbackServerContext* context,
                                      const v1::ListPeersRequest* request,
                                      v1::ListPeersResponse* response) override;
  grpc::ServerUnaryReactor* AddPeer(grpc::CallbackServerContext* context,
                                    const v1::AddPeerRequest* request,
                                    v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* RemovePeer(grpc::CallbackServerContext* context,
                                       const v1::RemovePeerRequest* request,
                                       v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* RotatePeerKey(grpc::CallbackServerContext* context,
                                          const v1::RotatePeerKeyRequest* request,
                                          v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* SetPeerMayBan(grpc::CallbackServerContext* context,
                                          const v1::SetPeerMayBanRequest* request,
                                          v1::RelayReceipt* response) override;
  grpc::ServerUnaryReactor* ListEquivocations(grpc::CallbackServerContext* context,
                                              const v1::ListEquivocationsRequest* request,
                                              v1::ListEquivocationsResponse* response) override;
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* context,
                                         const v1::CreateApiKeyRequest* request,
                                         v1::CreateApiKeyResponse* response) override;
  grpc::ServerUnaryReactor* ListApiKeys(grpc::CallbackServerContext* context,
                                        const v1::ListApiKeysRequest* request,
                                        v1::ListApiKeysResponse* response) override;
  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* context,
                                         const v1::RevokeApiKeyRequest* request,
                                         v1::AdminApiKey* response) override;
  // Integration access requests (relay/http/access_requests.h).
  grpc::ServerUnaryReactor* ListAccessRequests(grpc::CallbackServerContext* context,
                                               const v1::ListAccessRequestsRequest* request,
                                               v1::ListAccessRequestsResponse* response) override;
  grpc::ServerUnaryReactor* ApproveAccessRequest(grpc::CallbackServerContext* context,
                                                 const v1::ApproveAccessRequestRequest* request,
                                                 v1::AdminApiKey* response) override;
  grpc::ServerUnaryReactor* DenyAccessRequest(grpc::CallbackServerContext* context,
                                              const v1::DenyAccessRequestRequest* request,
                                              v1::DenyAccessRequestResponse* response) override;

  // The messaging bridge's commands (relay/grpc/admin_bridge.cc); without a
  // bridge outbox they answer UNAVAILABLE. Set before serving.
  void set_bridge(BridgeOutbox* bridge) { bridge_ = bridge; }
  grpc::ServerUnaryReactor* BindBridge(grpc::CallbackServerContext* context,
                                       const v1::BindBridgeRequest* request,
                                       v1::AdminBridgeBinding* response) override;
  grpc::ServerUnaryReactor* ListBridge(grpc::CallbackServerContext* context,
                                       const v1::ListBridgeRequest* request,
                                       v1::ListBridgeResponse* response) override;
  grpc::ServerUnaryReactor* UnbindBridge(grpc::CallbackServerContext* context,
                                         const v1::UnbindBridgeRequest* request,
                                         v1::UnbindBridgeResponse* response) override;
  grpc::ServerUnaryReactor* BridgeConversations(grpc::CallbackServerContext* context,
                                                const v1::BridgeConversationsRequest* request,
                                                v1::BridgeConversationsResponse* response) override;
  // Member channel tickets (admin_tickets.cc); UNAVAILABLE until SetTickets.
  void SetTickets(MemberTickets* tickets) { tickets_ = tickets; }
  grpc::ServerUnaryReactor* ListTickets(grpc::CallbackServerContext* context,
                                        const v1::ListTicketsRequest* request,
                                        v1::ListTicketsResponse* response) override;
  grpc::ServerUnaryReactor* GetTicket(grpc::CallbackServerContext* context,
                                      const v1::GetTicketRequest* request,
                                      v1::AdminTicket* response) override;
  grpc::ServerUnaryReactor* CloseTicket(grpc::CallbackServerContext* context,
                                        const v1::CloseTicketRequest* request,
                                        v1::AdminTicket* response) override;

 private:
  federation::Federation* const federation_;
  const store::LogStore* const store_;
  const std::string verifier_key_;
  const std::string relay_pubkey_hex_;
  ApiKeys* const api_keys_;
  BridgeOutbox* bridge_ = nullptr;
  MemberTickets* tickets_ = nullptr;
  AccessRequests* const access_requests_;

  // Runs `write` (which may wait on a synced write) on worker_ and finishes
  // the call with its status there; `write` fills the response first.
  grpc::ServerUnaryReactor* FinishOnWorker(grpc::CallbackServerContext* context,
                                           std::function<absl::Status()> write);
  // Last: destroyed first, finishing what was posted while the rest is alive.
  SerialWorker worker_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_ADMIN_SERVICE_H_
