// The relay's wall clock jumping forwards and backwards (issue 12): freshness
// follows the clock, but the replay memory forgets by the log's own horizon,
// never by the clock, so no message is ever logged twice, and the durable
// state stays what the auditor re-derives.
#include <string>

#include "base/errors.h"
#include "federation/federation_test_util.h"
#include "gtest/gtest.h"

namespace fedrelay::federation::testing {
namespace {

constexpr uint64_t kHourMs = 3'600'000;

TEST(ClockJumpTest, ForwardAndBackwardJumpsNeverLogAMessageTwice) {
  ASSERT_TRUE(InitCrypto().ok());
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  FakeClock& clock = harness.clock();
  Federation& federation = harness.federation();

  const Submission first = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g1");
  const auto accepted = federation.SubmitAndWait(first);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  uint64_t size = harness.store().Size();

  // Forwards an hour: the old message is stale now; a new one is accepted.
  clock.AdvanceMs(kHourMs);
  const auto stale = federation.SubmitAndWait(first);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(MachineCode(stale.status()), "stale_timestamp");
  EXPECT_EQ(harness.store().Size(), size);
  const auto later = federation.SubmitAndWait(
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "g1", clock.NowMs()));
  ASSERT_TRUE(later.ok()) << later.status();
  size = harness.store().Size();

  // Back again by the hour. The first message is within the clock's window
  // once more, and its replay record was forgotten when the log moved past
  // it; the log's horizon still refuses it, so it is not logged a second time.
  clock.SetMs(kStartMs);
  const auto again = federation.SubmitAndWait(first);
  ASSERT_FALSE(again.ok()) << "logged twice at event " << again->receipt.event_id();
  EXPECT_EQ(MachineCode(again.status()), "stale_timestamp");
  EXPECT_EQ(harness.store().Size(), size);
  // A message signed at the stepped-back time is older than what the log has
  // already accepted and forgotten, so it is refused the same way, typed.
  const auto behind = federation.SubmitAndWait(
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "g2", clock.NowMs()));
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(MachineCode(behind.status()), "stale_timestamp");
  EXPECT_EQ(harness.store().Size(), size);

  // When the clock is right again, traffic flows and the later message is
  // still recognised as already logged (its original receipt comes back).
  clock.SetMs(kStartMs + kHourMs + 1000);
  const auto resent = federation.SubmitAndWait(
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "g1", kStartMs + kHourMs));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->receipt.event_id(), later->receipt.event_id());
  EXPECT_EQ(harness.store().Size(), size);
  const auto fresh = federation.SubmitAndWait(
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "g3", clock.NowMs()));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(harness.store().Size(), size + 1);
}

}  // namespace
}  // namespace fedrelay::federation::testing
