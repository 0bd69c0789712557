// The writer prepares a batch while the one before it is being written
// (store/log_writer.h). These hold the first batch's write open and check that
// the federation core decides the next batch on what the first decided, answers
// an identical resubmission of an entry still being written with the original's
// receipt, and that a failed write takes the batch prepared on top of it along.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "federation/federation.h"
#include "federation/federation_test_util.h"
#include "base/errors.h"

namespace fedrelay::federation {
namespace {

using testing::Harness;
using testing::kAlpha;
using testing::MakeBan;
using testing::MakeJoin;
using testing::TestKeys;

// One submission's outcome, waited for by the test.
class Outcome {
 public:
  DoneFn Done() {
    return [this](absl::StatusOr<Accepted> outcome) {
      result_ = std::move(outcome);
      answered_.Notify();
    };
  }
  bool answered() const { return answered_.HasBeenNotified(); }
  const absl::StatusOr<Accepted>& Wait() {
    answered_.WaitForNotification();
    return *result_;
  }

 private:
  absl::Notification answered_;
  std::optional<absl::StatusOr<Accepted>> result_;
};

TEST(PipelinedBatchesTest, ABatchPreparedDuringAWriteDecidesOnWhatThatWriteHolds) {
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  const uint64_t size = harness.store().Size();
  const v1::BanNotification ban = MakeBan(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a");

  harness.appends().Hold();
  Outcome banned;
  harness.federation().Submit(ban, banned.Done());
  harness.appends().WaitUntilHolding();  // the ban's batch is being written, and stays so

  // The next batch: the same ban byte for byte, then bob joining the guild.
  Outcome again;
  Outcome join;
  harness.federation().Submit(ban, again.Done());
  harness.federation().Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a"),
                              join.Done());
  // The join is refused on the ban that is not durable yet.
  ASSERT_FALSE(join.Wait().ok());
  EXPECT_EQ(MachineCode(join.Wait().status()), "banned");
  EXPECT_FALSE(banned.answered()) << "no receipt before the entry is durable";
  EXPECT_FALSE(again.answered());

  harness.appends().Release();
  ASSERT_TRUE(banned.Wait().ok()) << banned.Wait().status();
  ASSERT_TRUE(again.Wait().ok()) << again.Wait().status();
  EXPECT_EQ(banned.Wait()->receipt.event_id(), size + 1);
  EXPECT_EQ(again.Wait()->receipt.SerializeAsString(), banned.Wait()->receipt.SerializeAsString());
  EXPECT_EQ(harness.store().Size(), size + 1);
  EXPECT_TRUE(harness.federation().IsBanned("guild-a", TestKeys().bob_id.PublicKeyHex()));
}

TEST(PipelinedBatchesTest, AFailedWriteFailsTheBatchPreparedOnTopOfIt) {
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  const uint64_t size = harness.store().Size();
  harness.appends().fail = true;
  harness.appends().Hold();
  Outcome banned;
  harness.federation().Submit(MakeBan(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a"),
                              banned.Done());
  harness.appends().WaitUntilHolding();

  const v1::FederationRequest alice_joins =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  Outcome joined;
  harness.federation().Submit(alice_joins, joined.Done());
  // Refused at once on the pending ban; once answered, the join before it is prepared too.
  Outcome marker;
  harness.federation().Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a"),
                              marker.Done());
  ASSERT_FALSE(marker.Wait().ok());

  harness.appends().Release();
  ASSERT_FALSE(banned.Wait().ok());
  ASSERT_FALSE(joined.Wait().ok()) << "decided on top of a batch that failed";
  EXPECT_EQ(joined.Wait().status().message(), banned.Wait().status().message());
  EXPECT_EQ(harness.store().Size(), size);
  EXPECT_FALSE(harness.federation().IsBanned("guild-a", TestKeys().bob_id.PublicKeyHex()));

  // Neither batch left a trace: the same join is accepted as the next entry.
  harness.appends().fail = false;
  absl::StatusOr<Accepted> accepted = harness.federation().SubmitAndWait(alice_joins);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->receipt.event_id(), size + 1);
}

}  // namespace
}  // namespace fedrelay::federation
