// AuditLog gRPC service (SPEC sections 4 and 7): public, no credentials.
#ifndef FEDRELAY_RELAY_GRPC_AUDIT_SERVICE_H_
#define FEDRELAY_RELAY_GRPC_AUDIT_SERVICE_H_

#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "store/log_store.h"

namespace fedrelay::relay {

// GetEntries is registered raw (grpc::ByteBuffer in and out): it sends each
// leaf exactly as stored, the bytes the Merkle tree hashes, never a parse and
// re-serialization of them. The wire format is unchanged (a LogEntry stream).
class AuditService final
    : public v1::AuditLog::WithRawCallbackMethod_GetEntries<v1::AuditLog::CallbackService> {
 public:
  // `log` and `checkpoints` (usually one LogStore) must outlive the service.
  AuditService(const store::LogReader* log, const store::CheckpointStore* checkpoints)
      : log_(log), checkpoints_(checkpoints) {}
  explicit AuditService(const store::LogStore* store) : AuditService(store, store) {}

  grpc::ServerUnaryReactor* GetCheckpoint(grpc::CallbackServerContext* context,
                                          const v1::GetCheckpointRequest* request,
                                          v1::Checkpoint* response) override;
  // Streams [start, end) clamped to the log size, reading a small window of
  // leaves at a time so memory stays bounded whatever the range. The request
  // is a v1::GetEntriesRequest (`malformed` if it does not parse); each
  // message written is a stored leaf's bytes.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* GetEntries(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetInclusionProof(grpc::CallbackServerContext* context,
                                              const v1::InclusionProofRequest* request,
                                              v1::InclusionProof* response) override;
  grpc::ServerUnaryReactor* GetConsistencyProof(grpc::CallbackServerContext* context,
                                                const v1::ConsistencyProofRequest* request,
                                                v1::ConsistencyProof* response) override;

 private:
  const store::LogReader* const log_;
  const store::CheckpointStore* const checkpoints_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_AUDIT_SERVICE_H_
