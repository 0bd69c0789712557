// The accept step (federation/accept.h) that the relay's writer and the
// auditor's RederiveLog share: direct tests of its rules against a constructed
// state, and end to end that the relay's durable state and a re-derivation of
// its log agree after the same entries, seen-request memory included.
#include "federation/accept.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "federation/federation_test_util.h"
#include "federation/rules/rules.h"
#include "federation/state.h"
#include "store/log_store.h"

namespace fedrelay::federation {
namespace {

using testing::Harness;
using testing::kAlpha;
using testing::kSkewMs;
using testing::kStartMs;
using testing::MakeJoin;
using testing::TestKeys;

class AcceptStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    state_.Apply(op::PutPeer{kAlpha, PeerRecord{TestKeys().alpha.PublicKeyHex(), {"*"}, {}}});
  }

  rules::Verified Verify(const Submission& submission, uint64_t now_ms) {
    rules::Context ctx;
    ctx.now_ms = now_ms;
    ctx.max_clock_skew_ms = kSkewMs;
    absl::StatusOr<rules::Verified> verified = rules::Validate(submission, ctx);
    EXPECT_TRUE(verified.ok()) << verified.status();
    return verified.ok() ? *std::move(verified) : rules::Verified();
  }

  // Admits a join into state_ at `now_ms` as event `event_id`.
  Admission Admit(const v1::FederationRequest& join, uint64_t event_id, uint64_t now_ms) {
    AcceptOutcome outcome =
        AcceptStep(state_, Verify(join, now_ms), EntryPlace{event_id, now_ms, kSkewMs});
    EXPECT_TRUE(std::holds_alternative<Admission>(outcome));
    if (!std::holds_alternative<Admission>(outcome)) return Admission();
    Admission admission = std::get<Admission>(std::move(outcome));
    for (const StateOp& state_op : admission.ops) state_.Apply(state_op);
    return admission;
  }

  DerivedState state_;
};

TEST_F(AcceptStepTest, AKnownSignatureIsReportedNotDecided) {
  const v1::FederationRequest join = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g");
  const Admission first = Admit(join, 1, kStartMs);
  EXPECT_EQ(first.signature_hash, Sha256(join.signature()));
  EXPECT_EQ(state_.SeenRequestExpiry(first.signature_hash), kStartMs + kSkewMs);

  AcceptOutcome again = AcceptStep(state_, Verify(join, kStartMs + 5),
                                   EntryPlace{2, kStartMs + 5, kSkewMs});
  ASSERT_TRUE(std::holds_alternative<SeenSignature>(again));
  EXPECT_EQ(std::get<SeenSignature>(again).signature_hash, first.signature_hash);
}

TEST_F(AcceptStepTest, ARequestOlderThanTheForgetHorizonIsStale) {
  // A later entry moved the horizon past this request's expiry: its record
  // could already be forgotten, so it is refused whatever the memory holds.
  state_.Apply(op::SetForgetHorizon{kStartMs + kSkewMs + 1});
  const v1::FederationRequest join = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g");
  AcceptOutcome outcome =
      AcceptStep(state_, Verify(join, kStartMs), EntryPlace{1, kStartMs, kSkewMs});
  ASSERT_TRUE(std::holds_alternative<Refusal>(outcome));
  EXPECT_EQ(MachineCode(std::get<Refusal>(outcome).status), "stale_timestamp");

  // One millisecond younger is inside the horizon.
  state_.Apply(op::SetForgetHorizon{kStartMs + kSkewMs});
  EXPECT_TRUE(std::holds_alternative<Admission>(
      AcceptStep(state_, Verify(join, kStartMs), EntryPlace{1, kStartMs, kSkewMs})));
}

TEST_F(AcceptStepTest, AnEntryTheLogCannotHoldIsPayloadTooLarge) {
  // The display name is logged twice (request and member_joined event).
  const v1::FederationRequest join = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g",
                                              kStartMs, std::string(store::kMaxLeafBytes / 2, 'n'));
  AcceptOutcome outcome =
      AcceptStep(state_, Verify(join, kStartMs), EntryPlace{1, kStartMs, kSkewMs});
  ASSERT_TRUE(std::holds_alternative<Refusal>(outcome));
  EXPECT_EQ(MachineCode(std::get<Refusal>(outcome).status), "payload_too_large");

  // Just under the limit is admitted.
  const v1::FederationRequest fits = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g",
                                              kStartMs, std::string(store::kMaxLeafBytes / 2 - 400, 'n'));
  AcceptOutcome admitted =
      AcceptStep(state_, Verify(fits, kStartMs), EntryPlace{1, kStartMs, kSkewMs});
  ASSERT_TRUE(std::holds_alternative<Admission>(admitted));
  EXPECT_LE(std::get<Admission>(admitted).leaf.size(), store::kMaxLeafBytes);
}

TEST_F(AcceptStepTest, EachEntryPurgesAtMostSixteenExpiredRecordsOldestFirst) {
  std::vector<std::pair<uint64_t, std::string>> records;  // (expiry, hash)
  for (int i = 0; i < 20; ++i) {
    const uint64_t at = kStartMs + static_cast<uint64_t>(i % 3);
    const Admission admission =
        Admit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, absl::StrCat("g", i), at),
              static_cast<uint64_t>(i) + 1, at);
    records.emplace_back(at + kSkewMs, admission.signature_hash);
  }
  std::sort(records.begin(), records.end());

  // Two windows later every record is behind the horizon.
  const uint64_t later = kStartMs + 2 * kSkewMs + 10;
  const Admission admission =
      Admit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "late", later), 21, later);
  std::vector<std::string> purged;
  for (const StateOp& state_op : admission.ops) {
    if (const auto* purge = std::get_if<op::ForgetRequest>(&state_op)) {
      purged.push_back(purge->signature_hash);
    }
  }
  ASSERT_EQ(purged.size(), kMaxForgottenPerEntry);
  for (size_t i = 0; i < purged.size(); ++i) EXPECT_EQ(purged[i], records[i].second) << i;
  EXPECT_EQ(state_.ForgetHorizon(), later - kSkewMs);
  EXPECT_EQ(state_.seen_request_count(), 20u - kMaxForgottenPerEntry + 1);
}

// An entry the log cannot hold is refused on its own; the rest of its writer
// batch is logged (the store would refuse the whole batch's write).
TEST(RelayAndAuditorTest, AnOversizedEntryIsRefusedAloneNotWithItsBatch) {
  ASSERT_TRUE(InitCrypto().ok());
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  std::vector<Submission> batch;
  batch.push_back(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "before"));
  batch.push_back(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "big", kStartMs,
                           std::string(store::kMaxLeafBytes, 'n')));
  batch.push_back(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "after"));
  const auto outcomes = harness.SubmitInOneBatch(batch);
  ASSERT_EQ(outcomes.size(), 3u);
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].status();
  ASSERT_FALSE(outcomes[1].ok());
  EXPECT_EQ(MachineCode(outcomes[1].status()), "payload_too_large");
  ASSERT_TRUE(outcomes[2].ok()) << outcomes[2].status();
  EXPECT_EQ(outcomes[2]->receipt.event_id(), outcomes[0]->receipt.event_id() + 1);
  EXPECT_EQ(harness.store().Size(), outcomes[2]->receipt.event_id());
  // Nothing of it was remembered: sent again, it is judged again (not a duplicate).
  EXPECT_EQ(MachineCode(harness.federation().SubmitAndWait(batch[1]).status()),
            "payload_too_large");
}

// Callers are answered (and receipts signed) on the core's completer thread:
// a caller whose callback is slow holds up the answers behind it, never the
// writer, which goes on making later entries durable.
TEST(WriterThreadTest, ASlowCallerDoesNotHoldUpTheWriter) {
  ASSERT_TRUE(InitCrypto().ok());
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  absl::Notification answering_first;
  absl::Notification release_first;
  harness.federation().Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "slow"),
                              [&](absl::StatusOr<Accepted> outcome) {
                                EXPECT_TRUE(outcome.ok()) << outcome.status();
                                answering_first.Notify();
                                release_first.WaitForNotification();
                              });
  answering_first.WaitForNotification();
  const uint64_t size = harness.store().Size();

  absl::Notification second_answered;
  harness.federation().Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "next"),
                              [&](absl::StatusOr<Accepted> outcome) {
                                EXPECT_TRUE(outcome.ok()) << outcome.status();
                                second_answered.Notify();
                              });
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (harness.store().Size() == size && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(harness.store().Size(), size + 1) << "the writer waited for a caller's callback";
  EXPECT_FALSE(second_answered.HasBeenNotified()) << "answers overtook each other";
  release_first.Notify();
  second_answered.WaitForNotification();
}

// The relay decides batch by batch against its durable state plus the batch's
// overlay; RederiveLog decides entry by entry. After the same entries both hold
// the same state, fact for fact: bans, peers, ..., every seen-request record (live
// or not), the forget horizon and the log size. The traffic makes purges hit
// records of earlier batches and of the same batch.
TEST(RelayAndAuditorTest, AgreeOnDerivedStateAndSeenRequests) {
  ASSERT_TRUE(InitCrypto().ok());
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  FakeClock& clock = harness.clock();

  std::vector<Submission> first;
  for (int i = 0; i < 20; ++i) {
    first.push_back(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, absl::StrCat("a", i)));
  }
  for (const auto& outcome : harness.SubmitInOneBatch(first)) ASSERT_TRUE(outcome.ok()) << outcome.status();

  // Two windows on: the gate entry and the first ones purge batch one's records;
  // then, inside the same batch, the clock moves on again and the last entries
  // purge records this very batch added.
  clock.AdvanceMs(2 * kSkewMs + 1);
  const uint64_t t1 = clock.NowMs();
  const uint64_t t2 = t1 + 2 * kSkewMs + 1;
  std::vector<Submission> second;
  for (int i = 0; i < 18; ++i) {
    second.push_back(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, absl::StrCat("b", i), t1));
  }
  for (int i = 0; i < 3; ++i) {
    second.push_back(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, absl::StrCat("c", i), t2));
  }
  const auto outcomes = harness.SubmitInOneBatch(second, [&](size_t i) {
    if (i == 18) clock.SetMs(t2);
  });
  for (const auto& outcome : outcomes) ASSERT_TRUE(outcome.ok()) << outcome.status();
  // A resubmission is still recognised after all that purging.
  ASSERT_TRUE(harness.federation().SubmitAndWait(second.back()).ok());
  const uint64_t size = harness.store().Size();
  harness.Close();

  absl::StatusOr<std::unique_ptr<store::LogStore>> store =
      store::LogStore::Open(harness.dir(), store::LogStoreOptions{/*sync=*/false});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ((*store)->Size(), size);
  absl::StatusOr<DerivedState> relay_state = DerivedState::Load(**store);
  ASSERT_TRUE(relay_state.ok()) << relay_state.status();
  DerivedState audit_state;
  absl::StatusOr<RederiveReport> report =
      RederiveLog(**store, TestKeys().relay.PublicKeyHex(), "relay.example", kSkewMs, nullptr,
                &audit_state);
  ASSERT_TRUE(report.ok()) << report.status();

  EXPECT_EQ(relay_state->Describe(0, /*with_peer_source=*/false),
            audit_state.Describe(0, /*with_peer_source=*/false));
  EXPECT_EQ(relay_state->ForgetHorizon(), t2 - kSkewMs);
  // 20 + gate at t0 purged in batch two; 18 + gate at t1 purged by the t2
  // entries (16 + 3), leaving the three t2 joins.
  EXPECT_EQ(relay_state->seen_request_count(), 3u);
  EXPECT_EQ(audit_state.seen_request_count(), 3u);

  // The stored records are what the log implies: each names its entry and the
  // body hash a re-validation of that entry gives.
  // The expiry index beside them names exactly the live records.
  size_t stored = 0;
  std::vector<std::string> expected_index;
  ASSERT_TRUE((*store)
                  ->Scan(store::Table::kSeenRequests, SeenRequestKey(""),
                         [&](absl::string_view key, absl::string_view value) {
                           absl::StatusOr<SeenRequest> record = ParseSeenRequest(value);
                           EXPECT_TRUE(record.ok());
                           if (!record.ok()) return false;
                           ++stored;
                           key.remove_prefix(SeenRequestKey("").size());
                           expected_index.push_back(SeenExpiryIndexKey(record->expiry_ms, key));
                           absl::StatusOr<std::string> leaf = (*store)->GetLeaf(record->event_id - 1);
                           EXPECT_TRUE(leaf.ok());
                           v1::LogEntry entry;
                           EXPECT_TRUE(entry.ParseFromString(*leaf));
                           rules::Context ctx;
                           ctx.now_ms = entry.received_at();
                           ctx.max_clock_skew_ms = kSkewMs;
                           ctx.from_log = true;
                           absl::StatusOr<rules::Verified> verified = rules::ValidateLogged(
                               entry, TestKeys().relay.PublicKey(), ctx);
                           EXPECT_TRUE(verified.ok());
                           if (verified.ok()) {
                             EXPECT_EQ(record->body_hash, verified->body_hash);
                           }
                           return true;
                         })
                  .ok());
  EXPECT_EQ(stored, 3u);
  std::vector<std::string> index;
  ASSERT_TRUE((*store)
                  ->Scan(store::Table::kSeenRequests, "exp/",
                         [&](absl::string_view key, absl::string_view) {
                           index.emplace_back(key);
                           return true;
                         })
                  .ok());
  std::sort(expected_index.begin(), expected_index.end());
  EXPECT_EQ(index, expected_index);
}

}  // namespace
}  // namespace fedrelay::federation
