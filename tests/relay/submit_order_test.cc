// A Submit stream's items are checked on every core (relay/grpc/verify_pool.h)
// but reach the log in the order the stream carried them, so a peer may
// pipeline an invite and its decision on one stream without waiting.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::AsSubmission;
using testing::NowMs;
using testing::RelayProcess;
using testing::SignedAccept;
using testing::SignedInvite;
using testing::SignedProfile;
using testing::SignedReject;

TEST(SubmitOrderTest, ItemsOfOneStreamAreLoggedInTheOrderSent) {
  ASSERT_TRUE(InitCrypto().ok());
  auto relay = RelayProcess::Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());

  // Each invite is followed at once by its decision, and each user's profile
  // updates come in timestamp order: any reordering is refused (unknown
  // invite, stale profile) or logs a decision before its invite.
  constexpr int kPairs = 150;
  const uint64_t now = NowMs();
  std::vector<v1::Submission> items;
  for (int i = 0; i < kPairs; ++i) {
    const std::string invite_id = absl::StrCat("order-", i);
    const std::string inviter = absl::StrCat("order-inviter-", i % 7);
    const std::string target = absl::StrCat("order-target-", i % 5);
    items.push_back(AsSubmission(absl::StrCat("invite ", i), SignedInvite(invite_id, inviter, target, now)));
    if (i % 3 == 0) {
      items.push_back(AsSubmission(absl::StrCat("reject ", i), SignedReject(invite_id, target, now + 1)));
    } else {
      items.push_back(AsSubmission(absl::StrCat("accept ", i), SignedAccept(invite_id, target, now + 1)));
    }
    items.push_back(AsSubmission(absl::StrCat("profile ", i),
                                 SignedProfile("order-profile", absl::StrCat("name ", i), now + i)));
  }

  grpc::ClientContext context;
  auto stream = stub->Submit(&context);
  for (const auto& item : items) ASSERT_TRUE(stream->Write(item));
  ASSERT_TRUE(stream->WritesDone());
  std::map<std::string, uint64_t> event_ids;
  v1::SubmissionResult result;
  while (stream->Read(&result)) {
    EXPECT_TRUE(result.has_receipt()) << result.correlation_id() << ": " << result.error().code() << " "
                                      << result.error().message();
    event_ids[result.correlation_id()] = result.receipt().event_id();
  }
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(event_ids.size(), items.size());
  uint64_t previous = 0;
  for (const auto& item : items) {
    const uint64_t id = event_ids[item.correlation_id()];
    EXPECT_GT(id, previous) << item.correlation_id() << " was logged before the item sent ahead of it";
    previous = id;
  }
}

}  // namespace
}  // namespace fedrelay
