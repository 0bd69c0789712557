// The operator's read-only views (fedrelay-ctl tail, subscribers, bans, user,
// rejections): the AdminViews service, served beside Admin on the unix socket
// <data_dir>/admin.sock only. Nothing here changes state or returns a secret
// (DM invite tokens and API keys never leave the relay through it).
//
// Bans, users and their pending invites are read from the member index
// (relay/member/member_index.h), which trails the log by moments: each view
// first waits briefly (at most kIndexWait) for it to cover the log.
//
// Thread-safety: the service is thread-safe; every call reads only.
#ifndef FEDRELAY_RELAY_GRPC_ADMIN_VIEWS_H_
#define FEDRELAY_RELAY_GRPC_ADMIN_VIEWS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "federation/federation.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "relay/downstream/delivery.h"
#include "relay/member/member_index.h"
#include "store/log_store.h"

namespace fedrelay::relay {

class AdminViewsService final : public v1::AdminViews::CallbackService {
 public:
  // Entries one TailLog call looks at (and answers with) at most.
  static constexpr uint32_t kMaxTailEntries = 256;
  static constexpr uint64_t kMaxTailScan = 65536;
  static constexpr absl::Duration kIndexWait = absl::Milliseconds(500);

  // Everything must outlive the service.
  AdminViewsService(const store::LogStore* store, const federation::Federation* federation,
                    const Delivery* delivery, const MemberIndex* member_index);

  grpc::ServerUnaryReactor* TailLog(grpc::CallbackServerContext* context,
                                    const v1::TailLogRequest* request,
                                    v1::TailLogResponse* response) override;
  grpc::ServerUnaryReactor* ListSubscribers(grpc::CallbackServerContext* context,
                                            const v1::ListSubscribersRequest* request,
                                            v1::ListSubscribersResponse* response) override;
  grpc::ServerUnaryReactor* ListBans(grpc::CallbackServerContext* context,
                                     const v1::ListBansRequest* request,
                                     v1::ListBansResponse* response) override;
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const v1::GetUserRequest* request,
                                    v1::AdminUser* response) override;
  grpc::ServerUnaryReactor* ListRejections(grpc::CallbackServerContext* context,
                                           const v1::ListRejectionsRequest* request,
                                           v1::ListRejectionsResponse* response) override;

 private:
  absl::Status Tail(const v1::TailLogRequest& request, v1::TailLogResponse* response) const;
  absl::Status Bans(const std::string& guild_id, const std::string& user_id,
                    google::protobuf::RepeatedPtrField<v1::AdminBan>* out) const;
  absl::Status User(const std::string& user_id, v1::AdminUser* response) const;
  absl::StatusOr<v1::LogEntry> Entry(uint64_t event_id) const;
  void WaitForIndex() const;

  const store::LogStore* const store_;
  const federation::Federation* const federation_;
  const Delivery* const delivery_;
  const MemberIndex* const member_index_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_ADMIN_VIEWS_H_
