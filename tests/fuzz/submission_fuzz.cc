// Every message kind's stateless request validator (federation/rules), fed
// the bytes of a v1::Submission as a peer or client could send them: shape,
// strict encodings, freshness, device certificates and signatures.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "base/crypto.h"
#include "federation/federation.h"
#include "federation/rules/rules.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace {

// The signing vectors' timestamps are around 1.79e12 ms; with this clock and
// a wide skew their signed messages pass freshness and reach every check.
constexpr uint64_t kNowMs = 1790000000000;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fedrelay::InitCrypto().ok()) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fedrelay::v1::Submission in;
  if (!in.ParseFromArray(data, static_cast<int>(size))) return 0;
  using fedrelay::federation::Submission;
  Submission submission;
  switch (in.item_case()) {
    case fedrelay::v1::Submission::kFederationRequest: submission = in.federation_request(); break;
    case fedrelay::v1::Submission::kBan: submission = in.ban(); break;
    case fedrelay::v1::Submission::kDmInvite: submission = in.dm_invite().invite(); break;
    case fedrelay::v1::Submission::kDmAccept: submission = in.dm_accept(); break;
    case fedrelay::v1::Submission::kDmReject: submission = in.dm_reject(); break;
    case fedrelay::v1::Submission::kMigration: submission = in.migration(); break;
    case fedrelay::v1::Submission::kProfile: submission = in.profile(); break;
    case fedrelay::v1::Submission::ITEM_NOT_SET: return 0;
  }
  fedrelay::federation::rules::Context ctx;
  ctx.now_ms = kNowMs;
  ctx.max_clock_skew_ms = 10ull * 365 * 24 * 3600 * 1000;
  auto verified = fedrelay::federation::rules::Validate(submission, ctx);
  if (verified.ok() && verified->entry.request_case() == fedrelay::v1::LogEntry::REQUEST_NOT_SET) {
    std::abort();  // an accepted request always becomes a log entry with its request
  }
  return 0;
}
