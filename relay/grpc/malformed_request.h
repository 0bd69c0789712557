// Typed answers to request bytes that are not the method's message.
//
// gRPC's callback API answers a unary or server-streaming call whose request
// does not parse with a bare UNIMPLEMENTED (it never reaches the handler).
// The protocol says unparsable input is INVALID_ARGUMENT with the machine
// code `malformed` (protocol section 5). This interceptor notices that the
// request could not be deserialized (gRPC hands interceptors no message) and
// rewrites the status that call ends with. Calls whose request parsed are not
// touched, nor are client- and bidi-streaming methods (the Submit stream parses
// each frame itself: relay/grpc/federation_service.cc).
//
// Thread-safety: gRPC creates one interceptor per call; the factory is stateless.
#ifndef FEDRELAY_RELAY_GRPC_MALFORMED_REQUEST_H_
#define FEDRELAY_RELAY_GRPC_MALFORMED_REQUEST_H_

#include <memory>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

namespace fedrelay::relay {

// The interceptor creators to pass to ServerBuilder::experimental().SetInterceptorCreators.
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MalformedRequestInterceptors();

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_MALFORMED_REQUEST_H_
