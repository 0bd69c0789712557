// RederiveLog checks signatures a chunk ahead on every core while the accept
// step runs in log order. Over a log of several chunks, with a peer re-keyed
// part-way (so the early checks see a pinned key that is out of date) and
// invites decided across chunk boundaries, it must re-derive exactly the
// relay's state, and name the first bad entry even when later ones are bad too.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "federation/federation.h"
#include "federation/federation_test_util.h"
#include "federation/rules/rules.h"
#include "federation/state.h"

namespace fedrelay::federation {
namespace {

using testing::Harness;
using testing::kAlpha;
using testing::kStartMs;
using testing::kSkewMs;
using testing::MakeAccept;
using testing::MakeBan;
using testing::MakeInvite;
using testing::MakeJoin;
using testing::TestKeys;

Ed25519PrivateKey UserKey(int i) { return *Ed25519PrivateKey::FromSeed(Sha256(absl::StrCat("audit user ", i))); }

// Submits everything at once and waits for every answer; all must be accepted.
void SubmitAll(Federation& federation, std::vector<Submission> submissions) {
  absl::Mutex mu;
  size_t remaining = submissions.size();
  std::vector<std::string> failures;
  for (Submission& submission : submissions) {
    federation.Submit(std::move(submission), [&](absl::StatusOr<Accepted> result) {
      absl::MutexLock lock(&mu);
      if (!result.ok()) failures.push_back(std::string(result.status().message()));
      --remaining;
    });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(+[](size_t* left) { return *left == 0; }, &remaining));
  EXPECT_TRUE(failures.empty()) << failures.size() << " refused, first: " << failures.front();
}

TEST(ParallelAuditTest, ALogOfManyChunksWithARekeyedPeerRederivesTheRelaysState) {
  ASSERT_TRUE(InitCrypto().ok());
  Harness harness;
  ASSERT_TRUE(harness.Open().ok());
  Federation& federation = harness.federation();
  constexpr int kUsers = 3000;
  std::vector<Ed25519PrivateKey> users;
  for (int i = 0; i < kUsers; ++i) users.push_back(UserKey(i));

  std::vector<Submission> before;
  for (int i = 0; i < kUsers; ++i) before.push_back(MakeJoin(TestKeys().alpha, kAlpha, users[i], "guild-a"));
  for (int i = 0; i < 40; ++i) before.push_back(MakeInvite(absl::StrCat("inv-", i)));
  SubmitAll(federation, std::move(before));

  // alpha's new key: bans carry no key of their own, so an early check that
  // still sees the old pinned key fails and the entry is judged again in order.
  const Ed25519PrivateKey rekeyed = UserKey(-1);
  ASSERT_TRUE(federation.RotatePeerKey(kAlpha, rekeyed.PublicKeyHex()).ok());
  std::vector<Submission> after;
  for (int i = 0; i < 40; ++i) after.push_back(MakeAccept(absl::StrCat("inv-", i), kStartMs + 1));
  for (int i = 0; i < 300; ++i) after.push_back(MakeBan(rekeyed, kAlpha, users[i], "guild-a"));
  for (int i = 0; i < 1500; ++i) {
    after.push_back(MakeJoin(rekeyed, kAlpha, users[i], "guild-c", kStartMs + 2));
  }
  SubmitAll(federation, std::move(after));
  federation.Stop();
  ASSERT_GT(harness.store().Size(), 2u * 2048u) << "the log must span three chunks";

  absl::StatusOr<DerivedState> loaded = DerivedState::Load(harness.store());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  DerivedState replayed;
  absl::StatusOr<RederiveReport> report = RederiveLog(harness.store(), TestKeys().relay.PublicKeyHex(),
                                                  "relay.example", kSkewMs, nullptr, &replayed);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, harness.store().Size());
  EXPECT_EQ(report->bans, 300u);
  EXPECT_EQ(replayed.Describe(kStartMs, /*with_peer_source=*/false),
            loaded->Describe(kStartMs, /*with_peer_source=*/false));

  // Two forged entries behind the relay's back (the old key signs for alpha):
  // the report names the first.
  const uint64_t size = harness.store().Size();
  for (uint64_t id = size + 1; id <= size + 2; ++id) {
    v1::LogEntry forged;
    forged.set_event_id(id);
    forged.set_received_at(kStartMs + 3);
    *forged.mutable_federation_request() =
        MakeJoin(TestKeys().alpha, kAlpha, users[static_cast<int>(id % kUsers)], "guild-z", kStartMs + 3);
    ASSERT_TRUE(harness.store().Append({rules::SerializeDeterministic(forged)}, store::WriteSet()).ok());
  }
  report = RederiveLog(harness.store(), TestKeys().relay.PublicKeyHex(), "relay.example", kSkewMs);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StartsWith(report.status().message(), absl::StrCat("event ", size + 1, ": ")))
      << report.status();
}

}  // namespace
}  // namespace fedrelay::federation
