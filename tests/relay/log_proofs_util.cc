#include "relay/log_proofs_util.h"

#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "store/merkle.h"

namespace fedrelay::testing {

absl::Status CheckIncluded(v1::AuditLog::Stub& audit, const v1::RelayReceipt& receipt,
                           const v1::Checkpoint& checkpoint) {
  if (receipt.event_id() == 0 || receipt.event_id() > checkpoint.tree_size()) {
    return absl::NotFoundError(absl::StrCat("event ", receipt.event_id(), " is beyond tree size ",
                                            checkpoint.tree_size()));
  }
  grpc::ClientContext context;
  v1::InclusionProofRequest request;
  request.set_leaf_index(receipt.event_id() - 1);
  request.set_tree_size(checkpoint.tree_size());
  v1::InclusionProof proof;
  if (const grpc::Status status = audit.GetInclusionProof(&context, request, &proof); !status.ok()) {
    return absl::UnavailableError(status.error_message());
  }
  if (proof.leaf_hash() != receipt.leaf_hash()) {
    return absl::DataLossError(absl::StrCat("event ", receipt.event_id(), ": leaf hash differs"));
  }
  const std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  return store::VerifyInclusion(receipt.leaf_hash(), receipt.event_id() - 1,
                                checkpoint.tree_size(), hashes, checkpoint.root_hash());
}

absl::Status CheckConsistent(v1::AuditLog::Stub& audit, const v1::Checkpoint& before,
                             const v1::Checkpoint& after) {
  if (before.tree_size() > after.tree_size()) {
    return absl::DataLossError(
        absl::StrCat("tree shrank: ", before.tree_size(), " -> ", after.tree_size()));
  }
  grpc::ClientContext context;
  v1::ConsistencyProofRequest request;
  request.set_first_tree_size(before.tree_size());
  request.set_second_tree_size(after.tree_size());
  v1::ConsistencyProof proof;
  if (const grpc::Status status = audit.GetConsistencyProof(&context, request, &proof); !status.ok()) {
    return absl::UnavailableError(status.error_message());
  }
  const std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  return store::VerifyConsistency(before.tree_size(), after.tree_size(), hashes,
                                  before.root_hash(), after.root_hash());
}

}  // namespace fedrelay::testing
