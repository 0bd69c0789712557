// The one place an absl::Status becomes a gRPC status (STYLE 1).
#ifndef FEDRELAY_RELAY_GRPC_GRPC_STATUS_H_
#define FEDRELAY_RELAY_GRPC_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace fedrelay::relay {

// Same canonical code; the message starts with its machine code
// ("stale_timestamp: ...", see WireMessage). A rate-limit error also sets the trailing metadata
// `retry-after-ms` on `context` when one is given.
grpc::Status ToGrpcStatus(const absl::Status& status,
                          grpc::CallbackServerContext* context = nullptr);

// A server-streaming call refused before it started: finishes with `status`
// and deletes itself once gRPC is done with it.
template <typename Message>
grpc::ServerWriteReactor<Message>* RefuseStream(const grpc::Status& status) {
  class Refused final : public grpc::ServerWriteReactor<Message> {
   public:
    explicit Refused(const grpc::Status& status) { this->Finish(status); }
    void OnDone() override { delete this; }
  };
  return new Refused(status);
}

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_GRPC_STATUS_H_
