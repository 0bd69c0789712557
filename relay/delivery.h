// Downstream delivery to peer homeservers (FederationRelay.Subscribe and
// Acknowledge, SPEC section 4): receives every durable entry from the
// federation core and serves subscribers from memory when they keep up and
// from the log on disk when they fall behind.
#ifndef FEDRELAY_RELAY_DELIVERY_H_
#define FEDRELAY_RELAY_DELIVERY_H_

#include <grpcpp/grpcpp.h>

#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"

namespace fedrelay::relay {

class Delivery : public federation::EventSink {
 public:
  ~Delivery() override = default;
  virtual grpc::ServerWriteReactor<v1::StreamResponse>* Subscribe(
      grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) = 0;
  virtual grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                                const v1::AcknowledgeRequest* request,
                                                v1::AcknowledgeResponse* response) = 0;
  // Ends every stream (UNAVAILABLE) for shutdown.
  virtual void Shutdown() = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DELIVERY_H_
