// Operator actions through the federation core's asynchronous API (what the
// admin service calls on gRPC callback threads): the call returns at once and
// the answer comes once the entry is durable, never blocking the caller on
// the writer.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/errors.h"
#include "federation/federation_test_util.h"

namespace fedrelay::federation {
namespace {

using testing::Harness;
using testing::kAlpha;
using testing::kStartMs;
using testing::MakeJoin;
using testing::TestKeys;

TEST(OperatorActionTest, APeerChangeReturnsBeforeItsEntryIsDurableAndIsAnsweredAfter) {
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  Federation& federation = harness.federation();

  // Hold the writer thread inside a batch, so nothing queued behind it can
  // become durable until Release.
  harness.sink().HoldNextBatch();
  absl::Notification join_done;
  federation.Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"),
                    [&](absl::StatusOr<Accepted>) { join_done.Notify(); });
  harness.sink().WaitUntilHeld();

  absl::Mutex mu;
  std::optional<absl::StatusOr<Accepted>> answer;
  absl::Notification answered;
  absl::Notification returned;
  std::thread caller([&] {
    federation.AddPeer({"gamma.example", TestKeys().bob_id.PublicKeyHex(), {}},
                       [&](absl::StatusOr<Accepted> outcome) {
                         absl::MutexLock lock(&mu);
                         answer = std::move(outcome);
                         answered.Notify();
                       });
    returned.Notify();
  });
  // A blocking AddPeer would wait for the held writer and never return.
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(answered.HasBeenNotified());

  harness.sink().Release();
  caller.join();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(join_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_TRUE((*answer)->entry->has_operator_action());
  EXPECT_TRUE(federation.Peer("gamma.example").has_value());
}

TEST(OperatorActionTest, ARefusedPeerChangeIsAnsweredOnTheCallersThread) {
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  std::optional<absl::Status> status;
  // A peer key that is not an Ed25519 key is refused before anything is queued.
  harness.federation().AddPeer({"x", "ABC", {}}, [&](absl::StatusOr<Accepted> outcome) {
    status = outcome.status();
  });
  ASSERT_TRUE(status.has_value());  // set before AddPeer returned
  EXPECT_EQ(MachineCode(*status), "malformed");
}

}  // namespace
}  // namespace fedrelay::federation
