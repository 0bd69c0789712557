// Direct tests of each kind's Decide half (federation/rules/<kind>.cc): the
// rules are pure functions of a state and a verified request, so each test
// constructs the state it needs, calls rules::Decide and checks the decision.
// The end-to-end versions through the writer are in rules_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "base/crypto.h"
#include "base/errors.h"
#include "federation/federation_test_util.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "federation/state.h"

namespace fedrelay::federation {
namespace {

using testing::kAlpha;
using testing::kBeta;
using testing::kSkewMs;
using testing::kStartMs;
using testing::MakeAccept;
using testing::MakeBan;
using testing::MakeInvite;
using testing::MakeJoin;
using testing::MakeMigration;
using testing::MakeProfile;
using testing::MakeReject;
using testing::TestKeys;

constexpr uint64_t kEventId = 7;

class DecideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    state_.Apply(op::PutPeer{kAlpha, PeerRecord{TestKeys().alpha.PublicKeyHex(), {"*"}, {}}});
    state_.Apply(op::PutPeer{kBeta, PeerRecord{TestKeys().beta.PublicKeyHex(), {"guild-b"}, {}}});
  }

  // Validates without state hints, so Decide does every state check itself.
  rules::Verified Verify(const Submission& submission) {
    rules::Context ctx;
    ctx.now_ms = kStartMs;
    ctx.max_clock_skew_ms = kSkewMs;
    absl::StatusOr<rules::Verified> verified = rules::Validate(submission, ctx);
    EXPECT_TRUE(verified.ok()) << verified.status();
    return verified.ok() ? *std::move(verified) : rules::Verified();
  }

  absl::Status Decide(const Submission& submission) {
    decision_ = rules::Decision();
    return rules::Decide(state_, Verify(submission), kEventId, &decision_);
  }

  // Applies the last decision's ops, as the accept step would.
  void ApplyDecision() {
    for (const StateOp& state_op : decision_.ops) state_.Apply(state_op);
  }

  DerivedState state_;
  rules::Decision decision_;
};

std::string Code(const absl::Status& status) { return std::string(MachineCode(status)); }

TEST_F(DecideTest, AJoinSetsTheHomeserverAndDerivesMemberJoined) {
  const Ed25519PrivateKey& alice = TestKeys().alice_id;
  ASSERT_TRUE(Decide(MakeJoin(TestKeys().alpha, kAlpha, alice, "guild-a")).ok());
  ASSERT_EQ(decision_.events.size(), 1u);
  ASSERT_TRUE(decision_.events[0].has_member_joined());
  EXPECT_EQ(decision_.events[0].member_joined().guild_id(), "guild-a");
  EXPECT_EQ(decision_.events[0].member_joined().user().homeserver(), kAlpha);
  ApplyDecision();
  EXPECT_EQ(state_.FindHomeserver(alice.PublicKeyHex()), std::optional<std::string>(kAlpha));
}

TEST_F(DecideTest, AJoinOfABannedUserOrFromAnUnknownPeerIsRefused) {
  const Ed25519PrivateKey& alice = TestKeys().alice_id;
  state_.Apply(op::AddBan{"guild-a", alice.PublicKeyHex()});
  EXPECT_EQ(Code(Decide(MakeJoin(TestKeys().alpha, kAlpha, alice, "guild-a"))), "banned");
  EXPECT_TRUE(Decide(MakeJoin(TestKeys().alpha, kAlpha, alice, "guild-other")).ok());
  state_.Apply(op::RemovePeer{kAlpha});
  EXPECT_EQ(Code(Decide(MakeJoin(TestKeys().alpha, kAlpha, alice, "guild-other"))), "unknown_peer");
  EXPECT_TRUE(decision_.ops.empty());
}

TEST_F(DecideTest, AJoinSignedWithAnotherKeyThanThePinnedOneIsKeyMismatch) {
  state_.Apply(op::PutPeer{kAlpha, PeerRecord{TestKeys().beta.PublicKeyHex(), {"*"}, {}}});
  EXPECT_EQ(Code(Decide(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"))),
            "key_mismatch");
}

TEST_F(DecideTest, ABanNeedsMayBanForItsGuildAndDerivesBanAndMemberRemoved) {
  const Ed25519PrivateKey& bob = TestKeys().bob_id;
  EXPECT_EQ(Code(Decide(MakeBan(TestKeys().beta, kBeta, bob, "guild-a"))), "not_authorized");
  ASSERT_TRUE(Decide(MakeBan(TestKeys().beta, kBeta, bob, "guild-b")).ok());
  ASSERT_EQ(decision_.events.size(), 2u);
  EXPECT_TRUE(decision_.events[0].has_ban());
  ASSERT_TRUE(decision_.events[1].has_member_removed());
  EXPECT_EQ(decision_.events[1].member_removed().user_id(), bob.PublicKeyHex());
  ApplyDecision();
  EXPECT_TRUE(state_.IsBanned("guild-b", bob.PublicKeyHex()));
  EXPECT_FALSE(state_.IsBanned("guild-a", bob.PublicKeyHex()));
}

TEST_F(DecideTest, AMigrationMovesTheHomeserverForwardOnly) {
  const Ed25519PrivateKey& alice = TestKeys().alice_id;
  ASSERT_TRUE(Decide(MakeMigration(alice, "https://beta.example", kStartMs)).ok());
  ASSERT_EQ(decision_.events.size(), 1u);
  EXPECT_EQ(decision_.events[0].user_updated().user().homeserver(), "https://beta.example");
  ApplyDecision();
  EXPECT_EQ(state_.FindHomeserver(alice.PublicKeyHex()),
            std::optional<std::string>("https://beta.example"));
  EXPECT_EQ(Code(Decide(MakeMigration(alice, "https://gamma.example", kStartMs - 1))),
            "stale_migration");
  EXPECT_TRUE(Decide(MakeMigration(alice, "https://gamma.example", kStartMs + 1)).ok());
}

TEST_F(DecideTest, ASecondTargetAtTheSameTimestampIsEquivocationWithWhatToFlag) {
  const Ed25519PrivateKey& alice = TestKeys().alice_id;
  ASSERT_TRUE(Decide(MakeMigration(alice, "https://beta.example", kStartMs)).ok());
  ApplyDecision();
  EXPECT_EQ(Code(Decide(MakeMigration(alice, "https://gamma.example", kStartMs))), "equivocation");
  ASSERT_TRUE(decision_.equivocation.has_value());
  EXPECT_EQ(decision_.equivocation->user_id, alice.PublicKeyHex());
  EXPECT_EQ(decision_.equivocation->logged_target, "https://beta.example");
  EXPECT_EQ(decision_.equivocation->rejected_target, "https://gamma.example");
  EXPECT_TRUE(decision_.ops.empty());
}

TEST_F(DecideTest, AProfileUpdateMustMoveForwardAndCarriesTheHomeserver) {
  const Ed25519PrivateKey& alice = TestKeys().alice_id;
  state_.Apply(op::SetHomeserver{alice.PublicKeyHex(), kAlpha});
  ASSERT_TRUE(Decide(MakeProfile(alice, TestKeys().alice_dev, "Alice", kStartMs)).ok());
  ASSERT_EQ(decision_.events.size(), 1u);
  EXPECT_EQ(decision_.events[0].user_updated().user().name(), "Alice");
  EXPECT_EQ(decision_.events[0].user_updated().user().homeserver(), kAlpha);
  ApplyDecision();
  EXPECT_EQ(Code(Decide(MakeProfile(alice, TestKeys().alice_dev, "Old", kStartMs))),
            "stale_update");
}

TEST_F(DecideTest, AnInviteIsRecordedPendingWithItsTokenAndItsIdIsUsedOnce) {
  ASSERT_TRUE(Decide(MakeInvite("inv-1")).ok());
  ASSERT_EQ(decision_.events.size(), 1u);
  EXPECT_TRUE(decision_.events[0].has_dm_invite());
  bool token_written = false;
  for (const StateOp& state_op : decision_.ops) {
    if (std::holds_alternative<op::PutInviteToken>(state_op)) token_written = true;
  }
  EXPECT_TRUE(token_written);
  ApplyDecision();
  std::optional<InviteRecord> invite = state_.FindInvite("inv-1");
  ASSERT_TRUE(invite.has_value());
  EXPECT_EQ(invite->status, InviteStatus::kPending);
  EXPECT_EQ(invite->event_id, kEventId);
  EXPECT_EQ(invite->target_user_id, TestKeys().bob_id.PublicKeyHex());
  // The same invite again is a replay; another invite under its id a duplicate.
  EXPECT_EQ(Code(Decide(MakeInvite("inv-1"))), "replayed");
  EXPECT_EQ(Code(Decide(MakeInvite("inv-1", kStartMs + 1))), "duplicate_invite");
}

TEST_F(DecideTest, TheTargetDecidesAPendingInviteOnce) {
  EXPECT_EQ(Code(Decide(MakeAccept("inv-1"))), "unknown_invite");
  ASSERT_TRUE(Decide(MakeInvite("inv-1")).ok());
  ApplyDecision();
  ASSERT_TRUE(Decide(MakeAccept("inv-1")).ok());
  EXPECT_EQ(decision_.invite_event_id, kEventId);
  ASSERT_EQ(decision_.events.size(), 1u);
  EXPECT_EQ(decision_.events[0].dm_invite_status().status(), "accepted");
  ApplyDecision();
  EXPECT_EQ(state_.FindInvite("inv-1")->status, InviteStatus::kAccepted);
  EXPECT_EQ(Code(Decide(MakeReject("inv-1", kStartMs + 1))), "already_decided");
}

TEST_F(DecideTest, ARejectionMarksTheInviteRejected) {
  ASSERT_TRUE(Decide(MakeInvite("inv-2")).ok());
  ApplyDecision();
  ASSERT_TRUE(Decide(MakeReject("inv-2")).ok());
  EXPECT_EQ(decision_.events[0].dm_invite_status().status(), "rejected");
  ApplyDecision();
  EXPECT_EQ(state_.FindInvite("inv-2")->status, InviteStatus::kRejected);
}

// Signs and validates a relay operator action, then decides it.
class OperatorActionDecideTest : public DecideTest {
 protected:
  absl::Status DecideAction(absl::string_view name, const std::string& server_id,
                            const std::string& pubkey_hex, std::vector<std::string> may_ban) {
    v1::OperatorAction action;
    action.set_action(std::string(name));
    action.set_server_id(server_id);
    action.set_pubkey(pubkey_hex);
    for (const std::string& guild : may_ban) action.add_may_ban(guild);
    action.set_timestamp(kStartMs);
    SignOperatorAction(&action, TestKeys().relay);
    absl::StatusOr<rules::Verified> verified =
        rules::ValidateOperatorAction(action, TestKeys().relay.PublicKey());
    EXPECT_TRUE(verified.ok()) << verified.status();
    if (!verified.ok()) return verified.status();
    decision_ = rules::Decision();
    return rules::Decide(state_, *verified, kEventId, &decision_);
  }
};

TEST_F(OperatorActionDecideTest, PeerChangesThatChangeNothingAreConflictsAndUnknownPeersNotFound) {
  const std::string gamma_key = TestKeys().bob_id.PublicKeyHex();
  EXPECT_EQ(Code(DecideAction(rules::kPeerAdd, kAlpha, gamma_key, {})), "conflict");
  ASSERT_TRUE(DecideAction(rules::kPeerAdd, "gamma.example", gamma_key, {"g"}).ok());
  ApplyDecision();
  EXPECT_EQ(state_.FindPeer("gamma.example")->pubkey_hex, gamma_key);
  EXPECT_EQ(Code(DecideAction(rules::kPeerRotate, "gamma.example", gamma_key, {})), "conflict");
  EXPECT_EQ(Code(DecideAction(rules::kPeerMayBan, "gamma.example", "", {"g"})), "conflict");
  ASSERT_TRUE(DecideAction(rules::kPeerMayBan, "gamma.example", "", {"g", "h"}).ok());
  ApplyDecision();
  EXPECT_EQ(state_.FindPeer("gamma.example")->may_ban, (std::vector<std::string>{"g", "h"}));
  ASSERT_TRUE(DecideAction(rules::kPeerRemove, "gamma.example", "", {}).ok());
  ApplyDecision();
  EXPECT_FALSE(state_.FindPeer("gamma.example").has_value());
  EXPECT_EQ(Code(DecideAction(rules::kPeerRemove, "gamma.example", "", {})), "not_found");
  EXPECT_TRUE(decision_.events.empty());
}

}  // namespace
}  // namespace fedrelay::federation
