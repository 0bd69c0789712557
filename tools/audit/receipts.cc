#include "tools/audit/receipts.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/status_macros.h"
#include "federation/signing.h"
#include "nlohmann/json.hpp"
#include "store/merkle.h"

namespace fedrelay::audit {
namespace {

// One receipt as the file gives it.
struct KeptReceipt {
  uint64_t event_id = 0;
  std::string leaf_hash;  // raw
  uint64_t timestamp = 0;
  std::string signature;  // raw
};

absl::StatusOr<KeptReceipt> ParseReceipt(const std::string& line) {
  const nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return absl::InvalidArgumentError("not a JSON object");
  const nlohmann::json& r = doc.contains("receipt") ? doc["receipt"] : doc;
  if (!r.is_object() || !r.contains("event_id") || !r["event_id"].is_number_unsigned() ||
      !r.contains("timestamp") || !r["timestamp"].is_number_unsigned() ||
      !r.contains("leaf_hash") || !r["leaf_hash"].is_string() || !r.contains("signature") ||
      !r["signature"].is_string()) {
    return absl::InvalidArgumentError(
        "no receipt with event_id, leaf_hash, timestamp and signature");
  }
  KeptReceipt receipt;
  receipt.event_id = r["event_id"].get<uint64_t>();
  receipt.timestamp = r["timestamp"].get<uint64_t>();
  ASSIGN_OR_RETURN(receipt.leaf_hash, HexDecode(r["leaf_hash"].get<std::string>(), "leaf_hash", 32));
  ASSIGN_OR_RETURN(receipt.signature, HexDecode(r["signature"].get<std::string>(), "signature", 64));
  if (receipt.event_id == 0) return absl::InvalidArgumentError("event_id 0 names no entry");
  return receipt;
}

absl::Status CheckReceipt(const store::LogStore& store, const std::string& relay_public_key,
                          const KeptReceipt& receipt) {
  if (!Ed25519Verify(relay_public_key,
                     federation::ReceiptSigningBytes(receipt.event_id, receipt.leaf_hash,
                                                     receipt.timestamp),
                     receipt.signature)) {
    return absl::DataLossError("the signature does not verify under the relay key");
  }
  const uint64_t size = store.Size();
  if (receipt.event_id > size) {
    return absl::DataLossError(absl::StrCat("event ", receipt.event_id,
                                            " is beyond the audited log (", size,
                                            " entries): the relay signed a receipt for an entry "
                                            "its checkpoint does not cover (retry once a newer "
                                            "checkpoint is published)"));
  }
  ASSIGN_OR_RETURN(const std::string leaf, store.GetLeaf(receipt.event_id - 1));
  const std::string leaf_hash = store::HashLeaf(leaf);
  if (leaf_hash != receipt.leaf_hash) {
    return absl::DataLossError(absl::StrCat("the log's entry ", receipt.event_id, " has leaf hash ",
                                            HexEncode(leaf_hash), ", not the receipt's ",
                                            HexEncode(receipt.leaf_hash)));
  }
  ASSIGN_OR_RETURN(const auto proof, store.InclusionProof(receipt.event_id - 1, size));
  ASSIGN_OR_RETURN(const std::string root, store.RootHash(size));
  return store::VerifyInclusion(leaf_hash, receipt.event_id - 1, size, proof, root);
}

}  // namespace

absl::StatusOr<uint64_t> CheckReceiptsFile(const store::LogStore& store,
                                           const std::string& relay_public_key,
                                           const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  uint64_t checked = 0, line_number = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto receipt = ParseReceipt(line);
    absl::Status status = receipt.ok() ? CheckReceipt(store, relay_public_key, *receipt)
                                       : receipt.status();
    if (!status.ok()) {
      return absl::DataLossError(absl::StrCat(path, ":", line_number, ": receipt",
                                              receipt.ok() ? absl::StrCat(" for event ", receipt->event_id) : "",
                                              ": ", status.message()));
    }
    ++checked;
  }
  return checked;
}

}  // namespace fedrelay::audit
