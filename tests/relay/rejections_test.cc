// The acceptance rules of SPEC section 3 as a peer meets them: every bad
// message is built with the signing helpers, sent over real gRPC to the real
// fedrelayd, and must come back as the typed error of SPEC section 5 (gRPC code
// and machine-code prefix), be counted in fedrelay_rejections_total, and leave
// the log untouched: its size is unchanged and the next accepted request gets
// the very next event id.
//
// One relay serves the whole RejectionsTest suite. Each test uses users,
// guilds and invite ids of its own, so the tests do not depend on each other
// or on their order. Rate limits need a relay of their own (rate_limit_test.cc).
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/signing.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::AsSubmission;
using ::testing::HasSubstr;
using testing::LogEntries;
using testing::MetricValue;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedAccept;
using testing::SignedBan;
using testing::SignedCert;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::SignedProfile;
using testing::SignedReject;
using ::testing::StartsWith;
using testing::TestKey;
using testing::UnaryOutcome;
using testing::UserId;

using Code = grpc::StatusCode;

std::string RejectionSeries(const std::string& machine_code) {
  return absl::StrCat("fedrelay_rejections_total{code=\"", machine_code, "\"}");
}

class RejectionsTest : public ::testing::Test {
 protected:
  // Small enough that "beyond the window" is quick to build, large enough
  // that a slow test machine stays inside it.
  static constexpr uint64_t kSkewMs = 60000;
  // Every other text field the tests send is shorter.
  static constexpr size_t kMaxMessageLength = 256;

  static void SetUpTestSuite() {
    ASSERT_TRUE(InitCrypto().ok());
    RelayProcess::Options options;
    options.max_clock_skew_ms = kSkewMs;
    options.rate_limits_yaml = absl::StrCat("  max_message_length: ", kMaxMessageLength, "\n");
    auto relay = RelayProcess::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = std::move(relay).value().release();
  }
  static void TearDownTestSuite() {
    delete relay_;
    relay_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(relay_, nullptr) << "the relay did not start";
    stub_ = v1::FederationRelay::NewStub(relay_->Channel());
  }

  uint64_t LogSize() { return LogEntries(relay_->Channel()).size(); }

  // A join nobody else makes: accepted, its event id returned.
  uint64_t Probe() {
    static int serial = 0;
    const std::string user = absl::StrCat("probe-", ++serial);
    UnaryOutcome outcome = SendUnary(*stub_, SignedJoin("alpha", user, "probes", NowMs()));
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    return outcome.receipt.event_id();
  }

  // Sends `message` and expects it refused with `code` and `machine_code`,
  // counted, and not logged. Returns the status message.
  template <typename Message>
  std::string ExpectRefused(const Message& message, Code code, const std::string& machine_code) {
    const uint64_t size_before = LogSize();
    const double counted_before = MetricValue(relay_->http_port(), RejectionSeries(machine_code));
    const UnaryOutcome outcome = SendUnary(*stub_, message);
    EXPECT_EQ(outcome.status.error_code(), code) << outcome.status.error_message();
    EXPECT_THAT(outcome.status.error_message(), StartsWith(machine_code + ": "));
    EXPECT_EQ(outcome.receipt.event_id(), 0u) << "a refusal carries no receipt";
    EXPECT_EQ(LogSize(), size_before) << "a refused request was logged";
    EXPECT_EQ(MetricValue(relay_->http_port(), RejectionSeries(machine_code)), counted_before + 1)
        << "the refusal was not counted";
    // Nothing was appended behind our back either: the next entry is the next id.
    EXPECT_EQ(Probe(), size_before + 1);
    return outcome.status.error_message();
  }

  // Sends `message`, expects it accepted with a receipt for the entry it
  // logged, and returns the receipt.
  template <typename Message>
  v1::RelayReceipt ExpectAccepted(const Message& message) {
    const UnaryOutcome outcome = SendUnary(*stub_, message);
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    const std::vector<v1::LogEntry> entries = LogEntries(relay_->Channel());
    const uint64_t event_id = outcome.receipt.event_id();
    EXPECT_GE(event_id, 1u);
    if (event_id >= 1 && event_id <= entries.size()) {
      EXPECT_TRUE(testing::CheckReceiptFor(outcome.receipt, entries[event_id - 1]).ok());
    } else {
      ADD_FAILURE() << "receipt for event " << event_id << " but the log has " << entries.size();
    }
    return outcome.receipt;
  }

  static RelayProcess* relay_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
};

RelayProcess* RejectionsTest::relay_ = nullptr;

// ---------------------------------------------------------------------------
// Malformed input (SPEC section 1): rejected, never fixed up.

TEST_F(RejectionsTest, MalformedEncodingsAreInvalidArgument) {
  const uint64_t now = NowMs();
  const auto alpha = TestKey("server-alpha");
  {
    SCOPED_TRACE("uppercase hex user_pubkey");
    auto join = SignedJoin("alpha", "malformed-a", "g1", now);
    const std::string upper = absl::AsciiStrToUpper(join.user_pubkey());
    ASSERT_NE(upper, join.user_pubkey());
    join.set_user_pubkey(upper);
    federation::SignFederationRequest(&join, alpha);
    EXPECT_THAT(ExpectRefused(join, Code::INVALID_ARGUMENT, "malformed"), HasSubstr("user_pubkey"));
  }
  {
    SCOPED_TRACE("63-character origin_server_pubkey");
    auto join = SignedJoin("alpha", "malformed-a", "g1", now);
    join.set_origin_server_pubkey(join.origin_server_pubkey().substr(0, 63));
    federation::SignFederationRequest(&join, alpha);
    EXPECT_THAT(ExpectRefused(join, Code::INVALID_ARGUMENT, "malformed"),
                HasSubstr("origin_server_pubkey"));
  }
  {
    SCOPED_TRACE("63-byte signature");
    auto join = SignedJoin("alpha", "malformed-a", "g1", now);
    join.set_signature(join.signature().substr(0, 63));
    ExpectRefused(join, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("empty guild_id");
    auto join = SignedJoin("alpha", "malformed-a", "", now);
    EXPECT_THAT(ExpectRefused(join, Code::INVALID_ARGUMENT, "malformed"), HasSubstr("guild_id"));
  }
  for (const std::string& evidence : {"sha256:" + HexEncode(Sha256("x")).substr(1),
                                      "sha256:" + absl::AsciiStrToUpper(HexEncode(Sha256("x"))),
                                      "md5:" + HexEncode(Sha256("x")), HexEncode(Sha256("x"))}) {
    SCOPED_TRACE("evidence_hash " + evidence);
    auto ban = SignedBan("alpha", "malformed-b", "g1", now);
    ban.set_evidence_hash(evidence);
    federation::SignBanNotification(&ban, alpha);
    ExpectRefused(ban, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("empty guild_id in a ban");
    ExpectRefused(SignedBan("alpha", "malformed-b", "", now), Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("127-character hex migration signature");
    auto migration = SignedMigration("malformed-c", "https://beta.example", now);
    migration.set_signature(migration.signature().substr(1));
    ExpectRefused(migration, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("uppercase hex migration signature");
    auto migration = SignedMigration("malformed-c", "https://beta.example", now);
    migration.set_signature(absl::AsciiStrToUpper(migration.signature()));
    ExpectRefused(migration, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("a new invite that claims to be accepted already");
    auto invite = SignedInvite("malformed-invite-1", "malformed-d", "malformed-e", now);
    invite.set_status("accepted");  // unsigned, so the signature still verifies
    ExpectRefused(invite, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("an invite without its token");
    auto invite = SignedInvite("malformed-invite-2", "malformed-d", "malformed-e", now);
    invite.clear_token();
    ExpectRefused(invite, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("a profile without a device cert");
    auto profile = SignedProfile("malformed-f", "F", now);
    profile.clear_device_cert();
    ExpectRefused(profile, Code::INVALID_ARGUMENT, "malformed");
  }
  {
    SCOPED_TRACE("a decision whose device cert has a 63-character key");
    auto reject = SignedReject("malformed-invite-3", "malformed-e", now);
    reject.mutable_device_cert()->set_pubkey(reject.device_cert().pubkey().substr(0, 63));
    ExpectRefused(reject, Code::INVALID_ARGUMENT, "malformed");
  }
}

TEST_F(RejectionsTest, TextFieldsLongerThanMaxMessageLengthArePayloadTooLarge) {
  const uint64_t now = NowMs();
  const std::string too_long(kMaxMessageLength + 1, 'x');
  const auto alpha = TestKey("server-alpha");
  {
    SCOPED_TRACE("display name");
    auto join = SignedJoin("alpha", "length-a", "g1", now);
    join.set_user_display_name(too_long);
    federation::SignFederationRequest(&join, alpha);
    EXPECT_THAT(ExpectRefused(join, Code::INVALID_ARGUMENT, "payload_too_large"),
                HasSubstr("user_display_name"));
    // At the limit it is fine.
    join.set_user_display_name(std::string(kMaxMessageLength, 'x'));
    federation::SignFederationRequest(&join, alpha);
    ExpectAccepted(join);
  }
  {
    SCOPED_TRACE("ban reason");
    auto ban = SignedBan("alpha", "length-a", "g1", now);
    ban.set_reason(too_long);
    federation::SignBanNotification(&ban, alpha);
    ExpectRefused(ban, Code::INVALID_ARGUMENT, "payload_too_large");
  }
  {
    SCOPED_TRACE("invite token");
    auto invite = SignedInvite("length-invite-1", "length-a", "length-b", now);
    invite.set_token(too_long);
    federation::SignDMInvite(&invite, TestKey("user-length-a-dev"));
    ExpectRefused(invite, Code::INVALID_ARGUMENT, "payload_too_large");
  }
  {
    SCOPED_TRACE("new homeserver");
    ExpectRefused(SignedMigration("length-a", "https://" + too_long, now), Code::INVALID_ARGUMENT,
                  "payload_too_large");
  }
  {
    SCOPED_TRACE("profile bio");
    auto profile = SignedProfile("length-a", "A", now);
    profile.set_bio(too_long);
    federation::SignProfile(&profile, TestKey("user-length-a-dev"));
    EXPECT_THAT(ExpectRefused(profile, Code::INVALID_ARGUMENT, "payload_too_large"),
                HasSubstr("bio"));
  }
}

// ---------------------------------------------------------------------------
// Signatures and peers.

TEST_F(RejectionsTest, BadSignatureIsUnauthenticatedForEveryKind) {
  const uint64_t now = NowMs();
  {
    SCOPED_TRACE("join changed after signing");
    auto join = SignedJoin("alpha", "badsig-a", "g1", now);
    join.set_user_display_name("Someone Else");
    ExpectRefused(join, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("join signed by another peer's key");
    auto join = SignedJoin("alpha", "badsig-a", "g1", now);
    federation::SignFederationRequest(&join, TestKey("server-beta"));
    ExpectRefused(join, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("ban changed after signing");
    auto ban = SignedBan("alpha", "badsig-a", "g1", now);
    ban.set_reason("something worse");
    ExpectRefused(ban, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("invite changed after signing");
    auto invite = SignedInvite("badsig-invite-1", "badsig-a", "badsig-b", now);
    invite.set_guild_name("Another Guild");
    ExpectRefused(invite, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("invite whose token is not the signed one");
    auto invite = SignedInvite("badsig-invite-1", "badsig-a", "badsig-b", now);
    invite.set_token("another-token");
    ExpectRefused(invite, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("migration changed after signing");
    auto migration = SignedMigration("badsig-a", "https://beta.example", now);
    migration.set_new_homeserver("https://evil.example");
    ExpectRefused(migration, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("migration signed by another user");
    auto migration = SignedMigration("badsig-a", "https://beta.example", now);
    federation::SignMigration(&migration, TestKey("user-badsig-b-id"));
    ExpectRefused(migration, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("profile changed after signing");
    auto profile = SignedProfile("badsig-a", "A", now);
    profile.set_bio("not what the device signed");
    ExpectRefused(profile, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("profile signed by a device key other than the cert's");
    auto profile = SignedProfile("badsig-a", "A", now);
    federation::SignProfile(&profile, TestKey("user-badsig-a-id"));
    ExpectRefused(profile, Code::UNAUTHENTICATED, "bad_signature");
  }

  // A decision with a bad signature leaves a real pending invite pending.
  ExpectAccepted(SignedInvite("badsig-invite-2", "badsig-a", "badsig-b", now));
  {
    SCOPED_TRACE("accept signed for another invite id");
    auto accept = SignedAccept("badsig-invite-2", "badsig-b", now);
    accept.set_invite_id("badsig-invite-1");
    ExpectRefused(accept, Code::UNAUTHENTICATED, "bad_signature");
  }
  {
    SCOPED_TRACE("a reject signature used as an accept");
    const auto reject = SignedReject("badsig-invite-2", "badsig-b", now);
    v1::AcceptDMInviteRequest accept;
    accept.set_invite_id(reject.invite_id());
    accept.set_timestamp(reject.timestamp());
    *accept.mutable_device_cert() = reject.device_cert();
    accept.set_signature(reject.signature());
    ExpectRefused(accept, Code::UNAUTHENTICATED, "bad_signature");
  }
  ExpectAccepted(SignedAccept("badsig-invite-2", "badsig-b", now + 1));
}

TEST_F(RejectionsTest, ServerMessagesMustUseTheKeyPinnedForThePeer) {
  const uint64_t now = NowMs();
  {
    SCOPED_TRACE("alpha.example claiming and signing with beta's key");
    auto join = SignedJoin("alpha", "keys-a", "g1", now);
    join.set_origin_server_pubkey(TestKey("server-beta").PublicKeyHex());
    federation::SignFederationRequest(&join, TestKey("server-beta"));
    EXPECT_THAT(ExpectRefused(join, Code::UNAUTHENTICATED, "key_mismatch"),
                HasSubstr("alpha.example"));
  }
  {
    SCOPED_TRACE("alpha.example claiming an impostor's key");
    auto join = SignedJoin("alpha", "keys-a", "g1", now);
    join.set_origin_server_pubkey(TestKey("server-impostor").PublicKeyHex());
    federation::SignFederationRequest(&join, TestKey("server-impostor"));
    ExpectRefused(join, Code::UNAUTHENTICATED, "key_mismatch");
  }
  {
    // A ban names no key: the pinned key is the only one it is checked with.
    SCOPED_TRACE("ban in alpha.example's name signed by an impostor");
    auto ban = SignedBan("alpha", "keys-a", "g1", now);
    federation::SignBanNotification(&ban, TestKey("server-impostor"));
    ExpectRefused(ban, Code::UNAUTHENTICATED, "bad_signature");
  }
  // The genuine request still goes through.
  ExpectAccepted(SignedJoin("alpha", "keys-a", "g1", now));
}

TEST_F(RejectionsTest, UnknownPeerIsUnauthenticated) {
  const uint64_t now = NowMs();
  EXPECT_THAT(ExpectRefused(SignedJoin("gamma", "unknown-peer-a", "g1", now), Code::UNAUTHENTICATED,
                            "unknown_peer"),
              HasSubstr("gamma.example"));
  ExpectRefused(SignedBan("gamma", "unknown-peer-a", "g1", now), Code::UNAUTHENTICATED,
                "unknown_peer");
}

// ---------------------------------------------------------------------------
// Freshness.

TEST_F(RejectionsTest, StaleAndFutureTimestampsAreRefusedForEveryKind) {
  const uint64_t now = NowMs();
  // The invite the decisions name exists, so only the time can be wrong.
  ExpectAccepted(SignedInvite("fresh-invite-1", "fresh-a", "fresh-b", now));
  for (const int64_t offset :
       {-static_cast<int64_t>(kSkewMs) - 30000, static_cast<int64_t>(kSkewMs) + 30000}) {
    const uint64_t when = static_cast<uint64_t>(static_cast<int64_t>(NowMs()) + offset);
    SCOPED_TRACE(absl::StrCat("timestamp now", offset > 0 ? "+" : "", offset, " ms"));
    ExpectRefused(SignedJoin("alpha", "fresh-a", "g1", when), Code::FAILED_PRECONDITION,
                  "stale_timestamp");
    ExpectRefused(SignedBan("alpha", "fresh-a", "g1", when), Code::FAILED_PRECONDITION,
                  "stale_timestamp");
    ExpectRefused(SignedInvite("fresh-invite-2", "fresh-a", "fresh-b", when),
                  Code::FAILED_PRECONDITION, "stale_timestamp");
    ExpectRefused(SignedAccept("fresh-invite-1", "fresh-b", when), Code::FAILED_PRECONDITION,
                  "stale_timestamp");
    ExpectRefused(SignedReject("fresh-invite-1", "fresh-b", when), Code::FAILED_PRECONDITION,
                  "stale_timestamp");
    ExpectRefused(SignedMigration("fresh-a", "https://beta.example", when),
                  Code::FAILED_PRECONDITION, "stale_timestamp");
    EXPECT_THAT(ExpectRefused(SignedProfile("fresh-a", "A", when), Code::FAILED_PRECONDITION,
                              "stale_timestamp"),
                HasSubstr(offset > 0 ? "ahead of" : "behind"));
  }
  // Inside the window, early or late, the same messages are fine.
  ExpectAccepted(SignedJoin("alpha", "fresh-a", "g1", NowMs() - kSkewMs / 2));
  ExpectAccepted(SignedMigration("fresh-a", "https://beta.example", NowMs() + kSkewMs / 2));
  ExpectAccepted(SignedReject("fresh-invite-1", "fresh-b", NowMs() - kSkewMs / 2));
}

// ---------------------------------------------------------------------------
// Replay and idempotency (docs/protocol-notes.md, "Replay and idempotency").

TEST_F(RejectionsTest, IdenticalResubmissionGetsTheOriginalReceiptForEveryKind) {
  const uint64_t now = NowMs();
  const auto resend = [&](const auto& message) {
    const v1::RelayReceipt first = ExpectAccepted(message);
    const uint64_t size = LogSize();
    const UnaryOutcome again = SendUnary(*stub_, message);
    ASSERT_TRUE(again.status.ok()) << again.status.error_message();
    EXPECT_EQ(again.receipt.SerializeAsString(), first.SerializeAsString())
        << "a byte-identical resubmission must get the original receipt back";
    EXPECT_EQ(LogSize(), size) << "a resubmission was logged again";
  };
  {
    SCOPED_TRACE("join");
    resend(SignedJoin("alpha", "idem-a", "g1", now));
  }
  {
    SCOPED_TRACE("ban");
    resend(SignedBan("alpha", "idem-a", "g9", now));
  }
  {
    SCOPED_TRACE("invite");
    resend(SignedInvite("idem-invite-1", "idem-a", "idem-b", now));
  }
  {
    // Not already_decided: the same decision again is the same decision.
    SCOPED_TRACE("accept");
    resend(SignedAccept("idem-invite-1", "idem-b", now));
  }
  {
    SCOPED_TRACE("reject");
    ExpectAccepted(SignedInvite("idem-invite-2", "idem-a", "idem-b", now));
    resend(SignedReject("idem-invite-2", "idem-b", now));
  }
  {
    SCOPED_TRACE("migration");
    resend(SignedMigration("idem-a", "https://beta.example", now));
  }
  {
    SCOPED_TRACE("profile");
    resend(SignedProfile("idem-a", "A", now));
  }
}

// The same signature on a body that is not byte-identical is `replayed`.
// Only kinds with unsigned fields can carry a valid signature on a changed
// body: DMInvite (status, device_cert), the decisions and profiles
// (device_cert). FederationRequest, BanNotification and UpdateHomeServerRequest
// sign every field they have, so any change is bad_signature (see above).
TEST_F(RejectionsTest, TheSameSignatureOnAnotherBodyIsReplayed) {
  const uint64_t now = NowMs();
  // Another cert for replay-b's device key, as valid as the one SignedAccept uses.
  const v1::DeviceCert other_cert = SignedCert("replay-b", now - 120000, now + 7200000);

  auto invite = SignedInvite("replay-invite-1", "replay-a", "replay-b", now);
  ExpectAccepted(invite);
  {
    SCOPED_TRACE("invite resent with status pending");
    invite.set_status("pending");
    ExpectRefused(invite, Code::FAILED_PRECONDITION, "replayed");
  }
  {
    SCOPED_TRACE("invite resent with another valid device cert");
    auto again = SignedInvite("replay-invite-1", "replay-a", "replay-b", now);
    *again.mutable_device_cert() = SignedCert("replay-a", now - 120000, now + 7200000);
    ExpectRefused(again, Code::FAILED_PRECONDITION, "replayed");
  }
  {
    SCOPED_TRACE("accept resent with another valid device cert");
    auto accept = SignedAccept("replay-invite-1", "replay-b", now);
    ExpectAccepted(accept);
    *accept.mutable_device_cert() = other_cert;
    ExpectRefused(accept, Code::FAILED_PRECONDITION, "replayed");
  }
  {
    SCOPED_TRACE("profile resent with another valid device cert");
    auto profile = SignedProfile("replay-b", "B", now);
    ExpectAccepted(profile);
    *profile.mutable_device_cert() = other_cert;
    ExpectRefused(profile, Code::FAILED_PRECONDITION, "replayed");
  }
}

// ---------------------------------------------------------------------------
// Bans.

TEST_F(RejectionsTest, BanFromAPeerWithoutMayBanForTheGuildIsNotAuthorized) {
  const uint64_t now = NowMs();
  // beta.example may ban in g1 only.
  EXPECT_THAT(ExpectRefused(SignedBan("beta", "mayban-a", "g2", now), Code::PERMISSION_DENIED,
                            "not_authorized"),
              HasSubstr("g2"));
  // The refused ban did nothing: the user still joins g2.
  ExpectAccepted(SignedJoin("alpha", "mayban-a", "g2", now));
  // The same peer may ban in its own guild.
  ExpectAccepted(SignedBan("beta", "mayban-a", "g1", now));
}

TEST_F(RejectionsTest, ABannedUserCannotJoinThatGuildFromAnyPeer) {
  const uint64_t now = NowMs();
  ExpectAccepted(SignedJoin("alpha", "banned-a", "g-ban", now));
  ExpectAccepted(SignedBan("alpha", "banned-a", "g-ban", now));
  ExpectRefused(SignedJoin("alpha", "banned-a", "g-ban", now + 1), Code::PERMISSION_DENIED,
                "banned");
  ExpectRefused(SignedJoin("beta", "banned-a", "g-ban", now), Code::PERMISSION_DENIED, "banned");
  // The ban is for that guild only.
  ExpectAccepted(SignedJoin("alpha", "banned-a", "g-other", now));
}

// ---------------------------------------------------------------------------
// Migrations and profiles.

TEST_F(RejectionsTest, MigrationRollbackIsStaleAndASecondTargetIsEquivocation) {
  const uint64_t t = NowMs();
  const std::string user = UserId("migrate-a");
  const double equivocations_before =
      MetricValue(relay_->http_port(), "fedrelay_equivocations_total");
  ExpectAccepted(SignedMigration("migrate-a", "https://beta.example", t));

  ExpectRefused(SignedMigration("migrate-a", "https://alpha.example", t - 1),
                Code::FAILED_PRECONDITION, "stale_migration");
  EXPECT_THAT(ExpectRefused(SignedMigration("migrate-a", "https://evil.example", t),
                            Code::FAILED_PRECONDITION, "equivocation"),
              HasSubstr("https://beta.example"));
  EXPECT_EQ(MetricValue(relay_->http_port(), "fedrelay_equivocations_total"),
            equivocations_before + 1);

  // Operators see it.
  auto admin = v1::Admin::NewStub(grpc::CreateChannel("unix:" + relay_->data_dir() + "/admin.sock",
                                                      grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ListEquivocationsResponse listed;
  ASSERT_TRUE(admin->ListEquivocations(&context, {}, &listed).ok());
  int found = 0;
  for (const auto& seen : listed.equivocations()) {
    if (seen.user_id() != user) continue;
    ++found;
    EXPECT_EQ(seen.timestamp(), t);
    EXPECT_EQ(seen.logged_target(), "https://beta.example");
    EXPECT_EQ(seen.rejected_target(), "https://evil.example");
  }
  EXPECT_EQ(found, 1);

  // Neither refusal moved the user's migration clock.
  ExpectAccepted(SignedMigration("migrate-a", "https://alpha.example", t + 1));
  // Equivocation is judged against the latest migration only: an older
  // timestamp is a rollback whatever its target.
  ExpectRefused(SignedMigration("migrate-a", "https://elsewhere.example", t),
                Code::FAILED_PRECONDITION, "stale_migration");
}

TEST_F(RejectionsTest, ProfileUpdatesMustMoveForward) {
  const uint64_t t = NowMs();
  ExpectAccepted(SignedProfile("profile-a", "A", t));
  ExpectRefused(SignedProfile("profile-a", "Older A", t - 1), Code::FAILED_PRECONDITION,
                "stale_update");
  ExpectRefused(SignedProfile("profile-a", "Other A", t), Code::FAILED_PRECONDITION,
                "stale_update");
  ExpectAccepted(SignedProfile("profile-a", "Newer A", t + 1));
}

// ---------------------------------------------------------------------------
// Device certs.

TEST_F(RejectionsTest, AnExpiredOrNotYetValidDeviceCertIsRefused) {
  const uint64_t now = NowMs();
  const v1::DeviceCert expired = SignedCert("cert-a", now - 7200000, now - 1000);
  const v1::DeviceCert not_yet = SignedCert("cert-a", now + 600000, now + 7200000);
  ExpectAccepted(SignedInvite("cert-invite-1", "cert-b", "cert-a", now));

  for (const v1::DeviceCert& cert : {expired, not_yet}) {
    SCOPED_TRACE(cert.issued_at() > now ? "not yet valid" : "expired");
    auto profile = SignedProfile("cert-a", "A", now);
    *profile.mutable_device_cert() = cert;
    federation::SignProfile(&profile, TestKey("user-cert-a-dev"));
    ExpectRefused(profile, Code::UNAUTHENTICATED, "invalid_device_cert");

    auto invite = SignedInvite("cert-invite-2", "cert-a", "cert-b", now);
    *invite.mutable_device_cert() = cert;
    federation::SignDMInvite(&invite, TestKey("user-cert-a-dev"));
    ExpectRefused(invite, Code::UNAUTHENTICATED, "invalid_device_cert");

    auto accept = SignedAccept("cert-invite-1", "cert-a", now);
    *accept.mutable_device_cert() = cert;
    federation::SignDMDecision(&accept, TestKey("user-cert-a-dev"));
    ExpectRefused(accept, Code::UNAUTHENTICATED, "invalid_device_cert");
  }
  // With a current cert the target still decides: the refusals changed nothing.
  ExpectAccepted(SignedAccept("cert-invite-1", "cert-a", now));
}

TEST_F(RejectionsTest, ADeviceCertSignedByTheWrongKidIsRefused) {
  const uint64_t now = NowMs();
  // cert-c's device key, certified by cert-d's K_id.
  v1::DeviceCert foreign = SignedCert("kid-c", now - 60000, now + 3600000);
  federation::SignDeviceCert(&foreign, TestKey("user-kid-d-id"));
  {
    SCOPED_TRACE("profile of kid-c");
    auto profile = SignedProfile("kid-c", "C", now);
    *profile.mutable_device_cert() = foreign;
    ExpectRefused(profile, Code::UNAUTHENTICATED, "invalid_device_cert");
  }
  {
    SCOPED_TRACE("invite from kid-c");
    auto invite = SignedInvite("kid-invite-1", "kid-c", "kid-d", now);
    *invite.mutable_device_cert() = foreign;
    ExpectRefused(invite, Code::UNAUTHENTICATED, "invalid_device_cert");
  }
  {
    // kid-c's own, valid cert, on a profile that claims to be kid-d's.
    SCOPED_TRACE("profile claiming another user");
    auto profile = SignedProfile("kid-c", "D?", now);
    profile.set_user_id(UserId("kid-d"));
    federation::SignProfile(&profile, TestKey("user-kid-c-dev"));
    ExpectRefused(profile, Code::UNAUTHENTICATED, "invalid_device_cert");
  }
  ExpectAccepted(SignedProfile("kid-c", "C", now));
}

// ---------------------------------------------------------------------------
// DM invites and decisions.

TEST_F(RejectionsTest, AnInviteWhoseInviterIdIsNotItsKeyIsWrongInviter) {
  auto invite = SignedInvite("inviter-invite-1", "inviter-a", "inviter-b", NowMs());
  invite.set_inviter_id(UserId("inviter-c"));
  federation::SignDMInvite(&invite, TestKey("user-inviter-a-dev"));
  ExpectRefused(invite, Code::PERMISSION_DENIED, "wrong_inviter");
}

TEST_F(RejectionsTest, ASecondDecisionOnAnInviteIsAlreadyDecided) {
  const uint64_t now = NowMs();
  ExpectAccepted(SignedInvite("decide-invite-1", "decide-a", "decide-b", now));
  ExpectAccepted(SignedAccept("decide-invite-1", "decide-b", now));
  ExpectRefused(SignedAccept("decide-invite-1", "decide-b", now + 1), Code::FAILED_PRECONDITION,
                "already_decided");
  EXPECT_THAT(ExpectRefused(SignedReject("decide-invite-1", "decide-b", now + 2),
                            Code::FAILED_PRECONDITION, "already_decided"),
              HasSubstr("accepted"));

  ExpectAccepted(SignedInvite("decide-invite-2", "decide-a", "decide-b", now));
  ExpectAccepted(SignedReject("decide-invite-2", "decide-b", now));
  EXPECT_THAT(ExpectRefused(SignedAccept("decide-invite-2", "decide-b", now + 1),
                            Code::FAILED_PRECONDITION, "already_decided"),
              HasSubstr("rejected"));
}

TEST_F(RejectionsTest, OnlyTheTargetMayDecide) {
  const uint64_t now = NowMs();
  ExpectAccepted(SignedInvite("target-invite-1", "target-a", "target-b", now));
  // The inviter, or a bystander, with their own valid certs.
  ExpectRefused(SignedAccept("target-invite-1", "target-a", now), Code::PERMISSION_DENIED,
                "not_invite_target");
  ExpectRefused(SignedReject("target-invite-1", "target-c", now), Code::PERMISSION_DENIED,
                "not_invite_target");
  // The invite is still pending for its target.
  ExpectAccepted(SignedAccept("target-invite-1", "target-b", now));
}

TEST_F(RejectionsTest, DecisionsNeedAKnownInviteAndInviteIdsAreNotReused) {
  const uint64_t now = NowMs();
  ExpectRefused(SignedAccept("no-such-invite", "reuse-b", now), Code::FAILED_PRECONDITION,
                "unknown_invite");
  ExpectAccepted(SignedInvite("reuse-invite-1", "reuse-a", "reuse-b", now));
  // Same id, another target.
  ExpectRefused(SignedInvite("reuse-invite-1", "reuse-a", "reuse-c", now),
                Code::FAILED_PRECONDITION, "duplicate_invite");
}

}  // namespace
}  // namespace fedrelay
