// What every fedrelay-ctl command shares: exit statuses, the per-call
// deadline, the one way an RPC failure is reported, and --json output.
#ifndef FEDRELAY_TOOLS_CTL_COMMON_H_
#define FEDRELAY_TOOLS_CTL_COMMON_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace fedrelay::ctl {

// --timeout-ms: every call's deadline (default 10000).
extern uint64_t g_timeout_ms;
// --json: commands print one JSON document (or JSON lines for streams) on
// stdout instead of their human output; errors still go to stderr.
extern bool g_json;

// Prints "fedrelay-ctl: <message>" and the --help hint on stderr; returns 2.
int Usage(const std::string& message);
// Prints "fedrelay-ctl: <message>" on stderr; returns 1.
int Fail(const std::string& message);
// Gives `context` the per-call deadline.
void Bound(grpc::ClientContext& context);
// Reports a failed call to the relay at `socket`; returns 1.
int FailRpc(const grpc::Status& status, const std::string& socket);

// `message` as one line of proto3 JSON: proto field names, every field
// (defaults too), 64-bit integers as strings (the proto3 JSON mapping).
std::string ProtoJson(const google::protobuf::Message& message);
// One JSON document (one line) on stdout; returns 0.
int PrintJson(const google::protobuf::Message& message);
int PrintJson(const nlohmann::json& value);

}  // namespace fedrelay::ctl

#endif  // FEDRELAY_TOOLS_CTL_COMMON_H_
