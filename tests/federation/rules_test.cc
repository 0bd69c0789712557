// Every acceptance and rejection path of SPEC section 3, against a real
// RocksDB log: what is accepted is logged with its derived events and a
// receipt that verifies; what is rejected carries its machine code and leaves
// the log and the downstream sink untouched.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "base/errors.h"
#include "federation/federation.h"
#include "federation/federation_test_util.h"
#include "federation/signing.h"
#include "store/merkle.h"

namespace fedrelay::federation {
namespace {

using testing::Harness;
using testing::kAlpha;
using testing::kBeta;
using testing::kSkewMs;
using testing::kStartMs;
using testing::MakeAccept;
using testing::MakeBan;
using testing::MakeCert;
using testing::MakeInvite;
using testing::MakeJoin;
using testing::MakeMigration;
using testing::MakeProfile;
using testing::MakeReject;
using testing::TestKeys;

class RulesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(harness_.Open().ok()); }

  absl::StatusOr<Accepted> Submit(Submission submission) {
    return harness_.federation().SubmitAndWait(std::move(submission));
  }

  // Submits and asserts acceptance; returns what was accepted.
  Accepted MustAccept(Submission submission) {
    absl::StatusOr<Accepted> accepted = Submit(std::move(submission));
    EXPECT_TRUE(accepted.ok()) << accepted.status();
    return accepted.ok() ? *accepted : Accepted{};
  }

  // Asserts `submission` is rejected with machine code `code` and that
  // nothing reached the log or the sink.
  void ExpectRejected(Submission submission, const std::string& code) {
    const uint64_t size = harness_.store().Size();
    const size_t delivered = harness_.sink().entries().size();
    absl::StatusOr<Accepted> result = Submit(std::move(submission));
    ASSERT_FALSE(result.ok()) << "accepted as event " << result->receipt.event_id()
                              << ", expected " << code;
    EXPECT_EQ(MachineCode(result.status()), code) << result.status();
    EXPECT_EQ(harness_.store().Size(), size);
    EXPECT_EQ(harness_.sink().entries().size(), delivered);
  }

  // The receipt is the relay's signature over the durable leaf.
  void ExpectValidReceipt(const Accepted& accepted) {
    const v1::RelayReceipt& receipt = accepted.receipt;
    ASSERT_GE(receipt.event_id(), 1u);
    EXPECT_TRUE(VerifyOrReject(TestKeys().relay.PublicKey(), ReceiptSigningBytes(receipt),
                               receipt.signature(), "receipt")
                    .ok());
    absl::StatusOr<std::string> leaf = harness_.store().GetLeaf(receipt.event_id() - 1);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    EXPECT_EQ(receipt.leaf_hash(), store::HashLeaf(*leaf));
    v1::LogEntry logged;
    ASSERT_TRUE(logged.ParseFromString(*leaf));
    EXPECT_EQ(logged.SerializeAsString(), accepted.entry->SerializeAsString());
    EXPECT_EQ(logged.event_id(), receipt.event_id());
  }

  Harness harness_;
};

// --- FederationRequest -------------------------------------------------------

TEST_F(RulesTest, JoinIsLoggedWithMemberJoinedAndSetsHomeserver) {
  const uint64_t size = harness_.store().Size();
  harness_.clock().AdvanceMs(1234);
  Accepted accepted = MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
  ExpectValidReceipt(accepted);
  EXPECT_EQ(accepted.receipt.event_id(), size + 1);
  EXPECT_EQ(harness_.store().Size(), size + 1);

  const v1::LogEntry& entry = *accepted.entry;
  EXPECT_EQ(entry.kind(), "federation_request");
  EXPECT_EQ(entry.received_at(), kStartMs + 1234);
  ASSERT_EQ(entry.events_size(), 1);
  const v1::StreamResponse& event = entry.events(0);
  EXPECT_EQ(event.event_id(), entry.event_id());
  EXPECT_EQ(event.timestamp().seconds() * 1000 + event.timestamp().nanos() / 1000000,
            static_cast<int64_t>(entry.received_at()));
  ASSERT_TRUE(event.has_member_joined());
  EXPECT_EQ(event.member_joined().guild_id(), "guild-a");
  const v1::User& user = event.member_joined().user();
  EXPECT_EQ(user.id(), TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(user.id_pubkey(), TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(user.name(), "Alice");
  EXPECT_EQ(user.homeserver(), kAlpha);

  EXPECT_EQ(harness_.federation().HomeserverOf(TestKeys().alice_id.PublicKeyHex()), kAlpha);
  ASSERT_FALSE(harness_.sink().entries().empty());
  EXPECT_EQ(harness_.sink().entries().back()->event_id(), entry.event_id());

  // The latest accepted join names the homeserver.
  MustAccept(MakeJoin(TestKeys().beta, kBeta, TestKeys().alice_id, "guild-b", kStartMs + 1));
  EXPECT_EQ(harness_.federation().HomeserverOf(TestKeys().alice_id.PublicKeyHex()), kBeta);
}

TEST_F(RulesTest, JoinWithBadSignatureIsRejected) {
  v1::FederationRequest join = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  join.set_user_display_name("Mallory");  // not what the server signed
  ExpectRejected(join, "bad_signature");
}

TEST_F(RulesTest, JoinSignedWithAnotherKeyThanThePeersIsKeyMismatch) {
  // beta's key claimed for alpha: the signature is fine, the key is not alpha's.
  v1::FederationRequest join = MakeJoin(TestKeys().beta, kAlpha, TestKeys().alice_id, "guild-a");
  ExpectRejected(join, "key_mismatch");
}

TEST_F(RulesTest, JoinFromUnknownPeerIsRejected) {
  ExpectRejected(MakeJoin(TestKeys().alpha, "gamma.example", TestKeys().alice_id, "guild-a"),
                 "unknown_peer");
}

TEST_F(RulesTest, MalformedEncodingsAreRejectedNotFixedUp) {
  v1::FederationRequest upper = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  std::string key = upper.user_pubkey();
  for (char& c : key) c = static_cast<char>(std::toupper(c));
  upper.set_user_pubkey(key);
  ExpectRejected(upper, "malformed");

  v1::FederationRequest short_signature =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  short_signature.set_signature(short_signature.signature().substr(0, 63));
  ExpectRejected(short_signature, "malformed");
}

TEST_F(RulesTest, FreshnessWindowIsInclusiveAndBothWays) {
  ExpectRejected(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g", kStartMs - kSkewMs - 1),
                 "stale_timestamp");
  ExpectRejected(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g", kStartMs + kSkewMs + 1),
                 "stale_timestamp");
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g", kStartMs - kSkewMs));
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g", kStartMs + kSkewMs));
}

// --- Replay --------------------------------------------------------------------

TEST_F(RulesTest, IdenticalResubmissionGetsTheOriginalReceipt) {
  const v1::FederationRequest join =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  Accepted first = MustAccept(join);
  const uint64_t size = harness_.store().Size();
  harness_.clock().AdvanceMs(1000);
  Accepted again = MustAccept(join);
  EXPECT_EQ(again.receipt.SerializeAsString(), first.receipt.SerializeAsString());
  EXPECT_EQ(again.entry->SerializeAsString(), first.entry->SerializeAsString());
  EXPECT_EQ(harness_.store().Size(), size);
}

TEST_F(RulesTest, IdenticalResubmissionsInOneBatchShareOneEntry) {
  const v1::FederationRequest join =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  v1::DMInvite invite = MakeInvite("inv-1");
  v1::DMInvite restated = invite;
  restated.set_status("pending");
  const uint64_t size = harness_.store().Size();
  std::vector<absl::StatusOr<Accepted>> results =
      harness_.SubmitInOneBatch({join, join, invite, restated, join});
  ASSERT_EQ(results.size(), 5u);
  for (int i : {0, 1, 2, 4}) ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
  EXPECT_EQ(results[1]->receipt.SerializeAsString(), results[0]->receipt.SerializeAsString());
  EXPECT_EQ(results[4]->receipt.SerializeAsString(), results[0]->receipt.SerializeAsString());
  EXPECT_EQ(results[1]->entry->SerializeAsString(), results[0]->entry->SerializeAsString());
  ASSERT_FALSE(results[3].ok());
  EXPECT_EQ(MachineCode(results[3].status()), "replayed");
  EXPECT_EQ(harness_.store().Size(), size + 3);  // gate, join, invite
  ExpectValidReceipt(*results[1]);
}

TEST_F(RulesTest, SameSignatureWithDifferentBytesIsReplayed) {
  v1::DMInvite invite = MakeInvite("inv-1");
  MustAccept(invite);
  invite.set_status("pending");  // unsigned field: same signature, different bytes
  ExpectRejected(invite, "replayed");
}

TEST_F(RulesTest, ResubmissionAfterTheWindowIsStale) {
  const v1::FederationRequest join =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  MustAccept(join);
  harness_.clock().AdvanceMs(kSkewMs + 1);
  ExpectRejected(join, "stale_timestamp");
}

// --- Bans ----------------------------------------------------------------------

TEST_F(RulesTest, BanYieldsBanAndMemberRemovedAndBlocksLaterJoins) {
  Accepted accepted = MustAccept(MakeBan(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
  ExpectValidReceipt(accepted);
  ASSERT_EQ(accepted.entry->events_size(), 2);
  EXPECT_TRUE(accepted.entry->events(0).has_ban());
  EXPECT_EQ(accepted.entry->events(0).ban().reason(), "spam");
  ASSERT_TRUE(accepted.entry->events(1).has_member_removed());
  EXPECT_EQ(accepted.entry->events(1).member_removed().guild_id(), "guild-a");
  EXPECT_EQ(accepted.entry->events(1).member_removed().user_id(),
            TestKeys().alice_id.PublicKeyHex());
  EXPECT_TRUE(harness_.federation().IsBanned("guild-a", TestKeys().alice_id.PublicKeyHex()));

  ExpectRejected(MakeJoin(TestKeys().beta, kBeta, TestKeys().alice_id, "guild-a", kStartMs + 1),
                 "banned");
  // Other guilds and other users are unaffected.
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-other"));
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a"));
}

TEST_F(RulesTest, LaterItemsOfABatchSeeTheEarlierOnes) {
  const std::string alice = TestKeys().alice_id.PublicKeyHex();
  std::vector<absl::StatusOr<Accepted>> results = harness_.SubmitInOneBatch({
      MakeBan(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"),
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"),
      MakeMigration(TestKeys().alice_id, "a.example", kStartMs),
      MakeMigration(TestKeys().alice_id, "b.example", kStartMs),
      MakeMigration(TestKeys().alice_id, "c.example", kStartMs - 1),
      MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "A", kStartMs),
      MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "B", kStartMs),
      MakeInvite("inv-1"),
      MakeAccept("inv-1", kStartMs + 1),
      MakeReject("inv-1", kStartMs + 2),
      MakeInvite("inv-1", kStartMs, "other-guild"),
  });
  const std::vector<std::string> expected = {
      "ok",           "banned", "ok", "equivocation",    "stale_migration", "ok",
      "stale_update", "ok",     "ok", "already_decided", "duplicate_invite"};
  ASSERT_EQ(results.size(), expected.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].ok() ? "ok" : MachineCode(results[i].status()), expected[i]) << "item " << i;
  }
  EXPECT_TRUE(harness_.federation().IsBanned("guild-a", alice));
  EXPECT_EQ(harness_.federation().HomeserverOf(alice), "a.example");
  ASSERT_TRUE(results[8].ok());
  ASSERT_TRUE(results[8]->invite.has_value());
  EXPECT_EQ(results[8]->invite->token(), MakeInvite("inv-1").token());
}

TEST_F(RulesTest, BanNeedsMayBanForThatGuild) {
  // beta may ban in guild-b only.
  ExpectRejected(MakeBan(TestKeys().beta, kBeta, TestKeys().alice_id, "guild-a"), "not_authorized");
  MustAccept(MakeBan(TestKeys().beta, kBeta, TestKeys().alice_id, "guild-b"));

  // A peer without may_ban may not ban at all.
  ASSERT_TRUE(harness_.federation().AddPeer({"gamma.example", TestKeys().bob_id.PublicKeyHex(), {}}).ok());
  ExpectRejected(MakeBan(TestKeys().bob_id, "gamma.example", TestKeys().alice_id, "guild-b"),
                 "not_authorized");
}

TEST_F(RulesTest, BanSignedByAnotherKeyOrFromUnknownPeerIsRejected) {
  ExpectRejected(MakeBan(TestKeys().beta, kAlpha, TestKeys().alice_id, "guild-a"), "bad_signature");
  ExpectRejected(MakeBan(TestKeys().alpha, "gamma.example", TestKeys().alice_id, "guild-a"),
                 "unknown_peer");
  v1::BanNotification bad_evidence = MakeBan(TestKeys().alpha, kAlpha, TestKeys().alice_id, "g");
  bad_evidence.set_evidence_hash("sha256:ABC");
  ExpectRejected(bad_evidence, "malformed");
}

// --- Migrations ------------------------------------------------------------------

TEST_F(RulesTest, MigrationMovesTheHomeserverAndMustMoveForward) {
  const std::string alice = TestKeys().alice_id.PublicKeyHex();
  Accepted accepted = MustAccept(MakeMigration(TestKeys().alice_id, "new.example", kStartMs));
  ExpectValidReceipt(accepted);
  ASSERT_EQ(accepted.entry->events_size(), 1);
  const v1::User& user = accepted.entry->events(0).user_updated().user();
  EXPECT_EQ(user.id(), alice);
  EXPECT_EQ(user.id_pubkey(), alice);
  EXPECT_EQ(user.homeserver(), "new.example");
  EXPECT_EQ(harness_.federation().HomeserverOf(alice), "new.example");

  ExpectRejected(MakeMigration(TestKeys().alice_id, "old.example", kStartMs - 1), "stale_migration");
  MustAccept(MakeMigration(TestKeys().alice_id, "newer.example", kStartMs + 1));
  EXPECT_EQ(harness_.federation().HomeserverOf(alice), "newer.example");
}

TEST_F(RulesTest, TwoTargetsAtOneTimestampIsEquivocationAndIsListed) {
  MustAccept(MakeMigration(TestKeys().alice_id, "a.example", kStartMs));
  harness_.clock().AdvanceMs(7);
  ExpectRejected(MakeMigration(TestKeys().alice_id, "b.example", kStartMs), "equivocation");

  std::vector<Equivocation> seen = harness_.federation().Equivocations();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].user_id, TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(seen[0].timestamp, kStartMs);
  EXPECT_EQ(seen[0].logged_target, "a.example");
  EXPECT_EQ(seen[0].rejected_target, "b.example");
  EXPECT_EQ(seen[0].seen_at_ms, kStartMs + 7);
  EXPECT_EQ(harness_.federation().HomeserverOf(TestKeys().alice_id.PublicKeyHex()), "a.example");
}

TEST_F(RulesTest, MigrationSignedByAnotherUserIsRejected) {
  v1::UpdateHomeServerRequest migration = MakeMigration(TestKeys().bob_id, "x.example");
  migration.set_user_id(TestKeys().alice_id.PublicKeyHex());
  ExpectRejected(migration, "bad_signature");
  migration.set_signature("ZZ");
  ExpectRejected(migration, "malformed");
}

// --- Profiles --------------------------------------------------------------------

TEST_F(RulesTest, ProfileUpdateIsLoggedAndMustMoveForward) {
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
  Accepted accepted =
      MustAccept(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice A.", kStartMs));
  ExpectValidReceipt(accepted);
  ASSERT_EQ(accepted.entry->events_size(), 1);
  const v1::User& user = accepted.entry->events(0).user_updated().user();
  EXPECT_EQ(user.id(), TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(user.name(), "Alice A.");
  EXPECT_EQ(user.avatar_url(), "https://alpha.example/avatar.png");
  EXPECT_EQ(user.bio(), "hello");
  EXPECT_EQ(user.homeserver(), kAlpha);

  ExpectRejected(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice B.", kStartMs),
                 "stale_update");
  ExpectRejected(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice C.", kStartMs - 1),
                 "stale_update");
  MustAccept(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice D.", kStartMs + 1));
}

TEST_F(RulesTest, ExpiredOrNotYetValidDeviceCertIsRejected) {
  v1::UpdateFederatedProfileRequest expired =
      MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice");
  *expired.mutable_device_cert() =
      MakeCert(TestKeys().alice_dev, TestKeys().alice_id, kStartMs - 1000, kStartMs);
  SignProfile(&expired, TestKeys().alice_dev);
  ExpectRejected(expired, "invalid_device_cert");

  v1::UpdateFederatedProfileRequest early =
      MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice");
  *early.mutable_device_cert() =
      MakeCert(TestKeys().alice_dev, TestKeys().alice_id, kStartMs + 1, kStartMs + 1000);
  SignProfile(&early, TestKeys().alice_dev);
  ExpectRejected(early, "invalid_device_cert");
}

TEST_F(RulesTest, DeviceCertSignedByTheWrongIdentityIsRejected) {
  // alice's profile through a device bob vouched for.
  v1::UpdateFederatedProfileRequest profile =
      MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice");
  *profile.mutable_device_cert() = MakeCert(TestKeys().alice_dev, TestKeys().bob_id);
  SignProfile(&profile, TestKeys().alice_dev);
  ExpectRejected(profile, "invalid_device_cert");

  // Signed by a device other than the certified one.
  v1::UpdateFederatedProfileRequest other_device =
      MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice");
  SignProfile(&other_device, TestKeys().bob_dev);
  ExpectRejected(other_device, "bad_signature");
}

// --- DM invites ----------------------------------------------------------------

TEST_F(RulesTest, InviteIsLoggedWithoutItsTokenAndAcceptReturnsIt) {
  const v1::DMInvite invite = MakeInvite("inv-1");
  Accepted logged = MustAccept(invite);
  ExpectValidReceipt(logged);
  ASSERT_TRUE(logged.entry->has_dm_invite());
  EXPECT_TRUE(logged.entry->dm_invite().token().empty());
  EXPECT_EQ(logged.entry->dm_invite().token_sha256(), Sha256(invite.token()));
  ASSERT_EQ(logged.entry->events_size(), 1);
  EXPECT_TRUE(logged.entry->events(0).dm_invite().token().empty());
  EXPECT_EQ(logged.entry->events(0).dm_invite().invite_id(), "inv-1");
  // The logged form (token cleared) still verifies.
  absl::StatusOr<std::string> token_sha256 = DMInviteTokenSha256(logged.entry->dm_invite());
  ASSERT_TRUE(token_sha256.ok());
  EXPECT_TRUE(VerifyOrReject(TestKeys().alice_dev.PublicKey(),
                             DMInviteSigningBytes(logged.entry->dm_invite(), *token_sha256),
                             invite.signature(), "invite")
                  .ok());

  std::optional<InviteInfo> info = harness_.federation().Invite("inv-1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->status, InviteStatus::kPending);
  EXPECT_EQ(info->target_user_id, TestKeys().bob_id.PublicKeyHex());
  EXPECT_EQ(info->inviter_id, TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(info->guild_id, invite.guild_id());
  EXPECT_EQ(info->token, invite.token());
  EXPECT_EQ(info->event_id, logged.receipt.event_id());
  EXPECT_FALSE(harness_.federation().Invite("inv-unknown").has_value());

  Accepted accepted = MustAccept(MakeAccept("inv-1", kStartMs + 1));
  ExpectValidReceipt(accepted);
  EXPECT_EQ(harness_.federation().Invite("inv-1")->status, InviteStatus::kAccepted);
  ASSERT_EQ(accepted.entry->events_size(), 1);
  EXPECT_EQ(accepted.entry->events(0).dm_invite_status().invite_id(), "inv-1");
  EXPECT_EQ(accepted.entry->events(0).dm_invite_status().status(), "accepted");
  ASSERT_TRUE(accepted.invite.has_value());
  EXPECT_EQ(accepted.invite->token(), invite.token());
  EXPECT_EQ(accepted.invite->host_server_url(), invite.host_server_url());
  EXPECT_EQ(accepted.invite->guild_id(), invite.guild_id());
}

TEST_F(RulesTest, InviteWithInviterIdOtherThanItsKeyIsWrongInviter) {
  v1::DMInvite invite = MakeInvite("inv-1");
  invite.set_inviter_id(TestKeys().bob_id.PublicKeyHex());
  SignDMInvite(&invite, TestKeys().alice_dev);
  ExpectRejected(invite, "wrong_inviter");
}

TEST_F(RulesTest, InviteThroughADeviceTheInviterDidNotCertifyIsRejected) {
  v1::DMInvite invite = MakeInvite("inv-1");
  *invite.mutable_device_cert() = MakeCert(TestKeys().alice_dev, TestKeys().bob_id);
  SignDMInvite(&invite, TestKeys().alice_dev);
  ExpectRejected(invite, "invalid_device_cert");

  v1::DMInvite expired = MakeInvite("inv-2");
  *expired.mutable_device_cert() =
      MakeCert(TestKeys().alice_dev, TestKeys().alice_id, kStartMs - 10, kStartMs - 1);
  SignDMInvite(&expired, TestKeys().alice_dev);
  ExpectRejected(expired, "invalid_device_cert");
}

TEST_F(RulesTest, ReusedInviteIdWithDifferentBodyIsDuplicateInvite) {
  MustAccept(MakeInvite("inv-1"));
  ExpectRejected(MakeInvite("inv-1", kStartMs + 1, "another-guild"), "duplicate_invite");
}

TEST_F(RulesTest, SecondDecisionIsAlreadyDecided) {
  MustAccept(MakeInvite("inv-1"));
  MustAccept(MakeReject("inv-1", kStartMs + 1));
  ExpectRejected(MakeAccept("inv-1", kStartMs + 2), "already_decided");
  ExpectRejected(MakeReject("inv-1", kStartMs + 3), "already_decided");
}

TEST_F(RulesTest, DecisionBySomeoneOtherThanTheTargetIsRejected) {
  MustAccept(MakeInvite("inv-1"));
  // alice (the inviter) tries to accept on bob's behalf through her own device.
  v1::AcceptDMInviteRequest by_alice = MakeAccept("inv-1", kStartMs + 1);
  *by_alice.mutable_device_cert() = MakeCert(TestKeys().alice_dev, TestKeys().alice_id);
  SignDMDecision(&by_alice, TestKeys().alice_dev);
  ExpectRejected(by_alice, "not_invite_target");
  // The invite is still pending for bob.
  MustAccept(MakeAccept("inv-1", kStartMs + 2));
}

TEST_F(RulesTest, DecisionOnUnknownInviteOrWithExpiredCertIsRejected) {
  ExpectRejected(MakeAccept("no-such-invite"), "unknown_invite");
  MustAccept(MakeInvite("inv-1"));
  v1::RejectDMInviteRequest expired = MakeReject("inv-1", kStartMs + 1);
  *expired.mutable_device_cert() =
      MakeCert(TestKeys().bob_dev, TestKeys().bob_id, kStartMs - 10, kStartMs);
  SignDMDecision(&expired, TestKeys().bob_dev);
  ExpectRejected(expired, "invalid_device_cert");
}

// --- Operator actions --------------------------------------------------------

TEST_F(RulesTest, ConfigPeersAreLoggedAsRelaySignedOperatorActions) {
  ASSERT_EQ(harness_.store().Size(), 2u);
  for (uint64_t i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> leaf = harness_.store().GetLeaf(i);
    ASSERT_TRUE(leaf.ok());
    v1::LogEntry entry;
    ASSERT_TRUE(entry.ParseFromString(*leaf));
    EXPECT_EQ(entry.kind(), "operator_action");
    EXPECT_EQ(entry.operator_action().action(), "peer_add");
    EXPECT_EQ(entry.events_size(), 0);
    EXPECT_TRUE(VerifyOrReject(TestKeys().relay.PublicKey(),
                               OperatorActionSigningBytes(entry.operator_action()),
                               entry.operator_action().signature(), "operator action")
                    .ok());
  }
  ASSERT_EQ(harness_.federation().Peers().size(), 2u);
  EXPECT_EQ(harness_.federation().Peer(kBeta)->may_ban, std::vector<std::string>{"guild-b"});
}

TEST_F(RulesTest, PeerAddRemoveRotateAndMayBanChangeWhatIsAccepted) {
  const std::string gamma = "gamma.example";
  ExpectRejected(MakeJoin(TestKeys().bob_id, gamma, TestKeys().alice_id, "g"), "unknown_peer");

  ASSERT_TRUE(harness_.federation().AddPeer({gamma, TestKeys().bob_id.PublicKeyHex(), {}}).ok());
  MustAccept(MakeJoin(TestKeys().bob_id, gamma, TestKeys().alice_id, "g"));
  const absl::Status again = harness_.federation().AddPeer({gamma, TestKeys().bob_id.PublicKeyHex(), {}}).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MachineCode(again), "conflict") << "an operator refusal, not internal";

  ASSERT_TRUE(harness_.federation().SetPeerMayBan(gamma, {"g"}).ok());
  MustAccept(MakeBan(TestKeys().bob_id, gamma, TestKeys().alice_id, "g"));

  ASSERT_TRUE(harness_.federation().RotatePeerKey(gamma, TestKeys().alice_id.PublicKeyHex()).ok());
  ExpectRejected(MakeJoin(TestKeys().bob_id, gamma, TestKeys().alice_id, "g2"), "key_mismatch");
  MustAccept(MakeJoin(TestKeys().alice_id, gamma, TestKeys().bob_id, "g2"));

  absl::StatusOr<Accepted> removed = harness_.federation().RemovePeer(gamma);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ExpectValidReceipt(*removed);
  ExpectRejected(MakeJoin(TestKeys().alice_id, gamma, TestKeys().bob_id, "g3"), "unknown_peer");
  EXPECT_EQ(MachineCode(harness_.federation().RemovePeer(gamma).status()), "not_found");
  EXPECT_EQ(MachineCode(harness_.federation().AddPeer({"x", "ABC", {}}).status()), "malformed");
  EXPECT_EQ(MachineCode(harness_.federation().SetPeerMayBan(kAlpha, {"a,b"}).status()), "malformed");
}

TEST_F(RulesTest, ConfigChangesAreReconciledAtOpen) {
  ASSERT_TRUE(harness_.federation().AddPeer({"ctl.example", TestKeys().bob_id.PublicKeyHex(), {}}).ok());
  const uint64_t size = harness_.store().Size();
  // alpha re-keyed and may now ban only in guild-a; beta dropped from the config.
  harness_.config_peers() = {PeerInfo{kAlpha, TestKeys().alice_id.PublicKeyHex(), {"guild-a"}}};
  ASSERT_TRUE(harness_.Open().ok());
  EXPECT_EQ(harness_.store().Size(), size + 3);  // rotate, may_ban, remove

  std::vector<PeerInfo> peers = harness_.federation().Peers();
  ASSERT_EQ(peers.size(), 2u);  // alpha (config) and ctl.example (kept: not config's to remove)
  EXPECT_EQ(peers[0].server_id, kAlpha);
  EXPECT_EQ(peers[0].pubkey_hex, TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(peers[0].may_ban, std::vector<std::string>{"guild-a"});
  EXPECT_EQ(peers[1].server_id, "ctl.example");

  // Reopening with the same config logs nothing more.
  ASSERT_TRUE(harness_.Open().ok());
  EXPECT_EQ(harness_.store().Size(), size + 3);
}

// Issue 17: the config loader's value rules hold for every admin client, not
// only for the config file (base/peer_values.h).
TEST_F(RulesTest, OperatorActionsFollowTheConfigValueRules) {
  const std::string key = TestKeys().bob_id.PublicKeyHex();
  const uint64_t size = harness_.store().Size();
  for (const std::string id : {"Upper.Example", "bad..id", "x_y", "-x", "x.", ""}) {
    EXPECT_EQ(MachineCode(harness_.federation().AddPeer({id, key, {}}).status()), "malformed") << id;
  }
  for (const std::vector<std::string>& may_ban : std::vector<std::vector<std::string>>{
           {"*", "g1"}, {"g1", "g1"}, {"g 1"}, {""}}) {
    EXPECT_EQ(MachineCode(harness_.federation().AddPeer({"gamma.example", key, may_ban}).status()),
              "malformed");
    EXPECT_EQ(MachineCode(harness_.federation().SetPeerMayBan(kAlpha, may_ban).status()), "malformed");
  }
  EXPECT_EQ(harness_.store().Size(), size) << "nothing refused is logged";
  // The same guilds in another order change nothing.
  ASSERT_TRUE(harness_.federation().SetPeerMayBan(kAlpha, {"g1", "g2"}).ok());
  EXPECT_EQ(MachineCode(harness_.federation().SetPeerMayBan(kAlpha, {"g2", "g1"}).status()), "conflict");
  EXPECT_EQ(harness_.store().Size(), size + 1);
}

TEST_F(RulesTest, ACtlPeerListedInTheConfigStaysWhenTakenOutAgain) {
  const std::string key = TestKeys().bob_id.PublicKeyHex();
  ASSERT_TRUE(harness_.federation().AddPeer({"ctl.example", key, {}}).ok());
  std::vector<PeerInfo> base = harness_.config_peers();
  harness_.config_peers().push_back(PeerInfo{"ctl.example", key, {"g"}});
  ASSERT_TRUE(harness_.Open().ok());
  ASSERT_TRUE(harness_.federation().Peer("ctl.example").has_value());
  EXPECT_EQ(harness_.federation().Peer("ctl.example")->may_ban, std::vector<std::string>{"g"});
  harness_.config_peers() = base;
  ASSERT_TRUE(harness_.Open().ok());
  EXPECT_TRUE(harness_.federation().Peer("ctl.example").has_value())
      << "added with fedrelay-ctl: removed only with fedrelay-ctl";
}

TEST_F(RulesTest, SubmitAfterStopIsUnavailable) {
  harness_.federation().Stop();
  absl::StatusOr<Accepted> result =
      Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fedrelay::federation
