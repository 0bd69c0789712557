#include "tools/ctl/common.h"

#include <chrono>
#include <iostream>

#include "google/protobuf/util/json_util.h"

namespace fedrelay::ctl {

uint64_t g_timeout_ms = 10000;
bool g_json = false;

int Usage(const std::string& message) {
  std::cerr << "fedrelay-ctl: " << message << "\n(see fedrelay-ctl --help)\n";
  return 2;
}

int Fail(const std::string& message) {
  std::cerr << "fedrelay-ctl: " << message << "\n";
  return 1;
}

void Bound(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(g_timeout_ms));
}

int FailRpc(const grpc::Status& status, const std::string& socket) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Fail("cannot reach fedrelayd at " + socket + " (is it running? " + status.error_message() + ")");
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Fail("fedrelayd at " + socket + " did not answer within " + std::to_string(g_timeout_ms) +
                " ms (--timeout-ms); a peer change may still be logged: check with peer list");
  }
  return Fail(status.error_message());
}

std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Our messages always convert (no Any, no unknown types).
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

int PrintJson(const google::protobuf::Message& message) {
  std::cout << ProtoJson(message) << "\n" << std::flush;
  return 0;
}

int PrintJson(const nlohmann::json& value) {
  // Text from the relay is valid UTF-8 (proto3 strings); replace rather than throw regardless.
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
            << std::flush;
  return 0;
}

}  // namespace fedrelay::ctl
