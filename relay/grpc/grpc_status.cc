#include "relay/grpc/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/errors.h"

namespace fedrelay::relay {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::CallbackServerContext* context) {
  if (status.ok()) return grpc::Status::OK;
  if (context != nullptr) {
    if (auto retry_after = RetryAfterMs(status)) {
      context->AddTrailingMetadata("retry-after-ms", absl::StrCat(*retry_after));
    }
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), WireMessage(status));
}

}  // namespace fedrelay::relay
