#include "relay/grpc/audit_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "relay/grpc/grpc_status.h"

namespace fedrelay::relay {
namespace {

constexpr uint64_t kEntriesWindow = 64;

// Proofs default to the latest published checkpoint: that is the tree an
// auditor can check them against.
absl::StatusOr<uint64_t> ResolveTreeSize(const store::LogReader& log,
                                         const store::CheckpointStore& checkpoints,
                                         uint64_t requested) {
  if (requested != 0) {
    if (requested > log.Size()) {
      return MakeError(ErrorCode::kMalformed,
                       absl::StrCat("tree_size ", requested, " is beyond the log size ", log.Size()));
    }
    return requested;
  }
  auto checkpoint = checkpoints.LatestCheckpoint();
  if (!checkpoint.has_value()) return MakeError(ErrorCode::kUnavailable, "no checkpoint published yet");
  return checkpoint->tree_size;
}

absl::Status FillInclusion(const store::LogReader& log, const store::CheckpointStore& checkpoints,
                           const v1::InclusionProofRequest& request,
                           v1::InclusionProof& response) {
  ASSIGN_OR_RETURN(const uint64_t tree_size, ResolveTreeSize(log, checkpoints, request.tree_size()));
  if (request.leaf_index() >= tree_size) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat("leaf_index ", request.leaf_index(),
                                                         " is not below tree_size ", tree_size));
  }
  ASSIGN_OR_RETURN(auto proof, log.InclusionProof(request.leaf_index(), tree_size));
  ASSIGN_OR_RETURN(auto leaf_hash, log.Nodes().GetNode(0, request.leaf_index()));
  response.set_leaf_index(request.leaf_index());
  response.set_tree_size(tree_size);
  response.set_leaf_hash(leaf_hash);
  for (auto& hash : proof) response.add_hashes(std::move(hash));
  return absl::OkStatus();
}

absl::Status FillConsistency(const store::LogReader& log, const store::CheckpointStore& checkpoints,
                             const v1::ConsistencyProofRequest& request,
                             v1::ConsistencyProof& response) {
  ASSIGN_OR_RETURN(const uint64_t second, ResolveTreeSize(log, checkpoints, request.second_tree_size()));
  if (request.first_tree_size() > second) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("first_tree_size ", request.first_tree_size(),
                                  " is larger than second_tree_size ", second));
  }
  ASSIGN_OR_RETURN(auto proof, log.ConsistencyProof(request.first_tree_size(), second));
  response.set_first_tree_size(request.first_tree_size());
  response.set_second_tree_size(second);
  for (auto& hash : proof) response.add_hashes(std::move(hash));
  return absl::OkStatus();
}

class EntriesWriter final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  EntriesWriter(grpc::CallbackServerContext* context, const store::LogReader* log, uint64_t start,
                uint64_t end)
      : context_(context), log_(log), next_(start), end_(std::min(end, log->Size())) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    WriteNext();
  }
  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (window_.empty() && next_ < end_) {
      const uint64_t window_end = std::min(end_, next_ + kEntriesWindow);
      absl::Status status = log_->ScanLeaves(next_, window_end, [&](uint64_t, absl::string_view leaf) {
        window_.emplace_back(leaf);
        return true;
      });
      if (status.ok() && window_.size() != window_end - next_) {
        status = MakeError(ErrorCode::kInternal, "log shorter than its recorded size");
      }
      if (!status.ok()) {
        Finish(ToGrpcStatus(status, context_));
        return;
      }
      next_ = window_end;
    }
    if (window_.empty()) {
      Finish(grpc::Status::OK);
      return;
    }
    // The leaf as stored: the bytes its Merkle leaf hash covers.
    grpc::Slice leaf(window_.front());
    entry_ = grpc::ByteBuffer(&leaf, 1);
    window_.pop_front();
    StartWrite(&entry_);
  }

  grpc::CallbackServerContext* const context_;
  const store::LogReader* const log_;
  uint64_t next_;
  const uint64_t end_;
  std::deque<std::string> window_;
  grpc::ByteBuffer entry_;
};

}  // namespace

grpc::ServerUnaryReactor* AuditService::GetCheckpoint(grpc::CallbackServerContext* context,
                                                      const v1::GetCheckpointRequest*,
                                                      v1::Checkpoint* response) {
  auto* reactor = context->DefaultReactor();
  auto checkpoint = checkpoints_->LatestCheckpoint();
  if (!checkpoint.has_value()) {
    reactor->Finish(
        ToGrpcStatus(MakeError(ErrorCode::kUnavailable, "no checkpoint published yet"), context));
    return reactor;
  }
  response->set_note(checkpoint->note);
  response->set_tree_size(checkpoint->tree_size);
  response->set_root_hash(checkpoint->root_hash);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AuditService::GetEntries(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  v1::GetEntriesRequest request;
  if (grpc::ByteBuffer copy = *raw_request;
      !grpc::SerializationTraits<v1::GetEntriesRequest>::Deserialize(&copy, &request).ok()) {
    return RefuseStream<grpc::ByteBuffer>(ToGrpcStatus(
        MakeError(ErrorCode::kMalformed, "the GetEntriesRequest does not parse")));
  }
  return new EntriesWriter(context, log_, request.start(), request.end());
}

grpc::ServerUnaryReactor* AuditService::GetInclusionProof(grpc::CallbackServerContext* context,
                                                          const v1::InclusionProofRequest* request,
                                                          v1::InclusionProof* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(FillInclusion(*log_, *checkpoints_, *request, *response), context));
  return reactor;
}

grpc::ServerUnaryReactor* AuditService::GetConsistencyProof(
    grpc::CallbackServerContext* context, const v1::ConsistencyProofRequest* request,
    v1::ConsistencyProof* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(FillConsistency(*log_, *checkpoints_, *request, *response), context));
  return reactor;
}

}  // namespace fedrelay::relay
