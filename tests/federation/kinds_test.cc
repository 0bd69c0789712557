// The per-kind table (federation/kinds.h) agrees with the proto, and reads
// the right fields through any submission.
#include "federation/kinds.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <variant>

#include "base/crypto.h"
#include "federation/federation_test_util.h"
#include "google/protobuf/descriptor.h"

namespace fedrelay::federation {
namespace {

using testing::kAlpha;
using testing::MakeAccept;
using testing::MakeBan;
using testing::MakeInvite;
using testing::MakeJoin;
using testing::MakeProfile;
using testing::TestKeys;

std::string FieldName(const google::protobuf::Descriptor* message, int number) {
  const google::protobuf::FieldDescriptor* field = message->FindFieldByNumber(number);
  return field == nullptr ? std::string() : field->name();
}

template <size_t I = 0>
void CheckEveryKind(std::set<std::string>& names) {
  if constexpr (I < std::variant_size_v<Submission>) {
    using Traits = KindTraits<std::variant_alternative_t<I, Submission>>;
    const std::string name(Traits::kName);
    SCOPED_TRACE(name);
    EXPECT_EQ(FieldName(v1::LogEntry::descriptor(), Traits::kRequestCase), name);
    EXPECT_EQ(FieldName(v1::Submission::descriptor(), Traits::kSubmissionCase), name);
    EXPECT_TRUE(names.insert(name).second) << "two kinds share a name";
    CheckEveryKind<I + 1>(names);
  }
}

TEST(KindsTest, EachKindsNameIsItsLogEntryAndSubmissionFieldName) {
  std::set<std::string> names;
  CheckEveryKind(names);
  // Every request a LogEntry can carry is a submitted kind, but the relay's own operator actions.
  const google::protobuf::OneofDescriptor* request =
      v1::LogEntry::descriptor()->FindOneofByName("request");
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(names.size() + 1, static_cast<size_t>(request->field_count()));
  EXPECT_FALSE(names.contains("operator_action"));
}

TEST(KindsTest, AudienceOfAnEntryIsItsKindsAudience) {
  EXPECT_EQ(AudienceOf(v1::LogEntry::kDmInvite), Audience::kInviteParties);
  EXPECT_EQ(AudienceOf(v1::LogEntry::kDmAccept), Audience::kInviteParties);
  EXPECT_EQ(AudienceOf(v1::LogEntry::kDmReject), Audience::kInviteParties);
  EXPECT_EQ(AudienceOf(v1::LogEntry::kDmReject), KindTraits<v1::RejectDMInviteRequest>::kAudience);
  for (const auto request_case : {v1::LogEntry::kFederationRequest, v1::LogEntry::kBan,
                                  v1::LogEntry::kMigration, v1::LogEntry::kProfile}) {
    EXPECT_EQ(AudienceOf(request_case), Audience::kEverySubscriber) << request_case;
  }
  // The relay's own entries derive no events; nothing is hidden by mistake.
  EXPECT_EQ(AudienceOf(v1::LogEntry::kOperatorAction), Audience::kEverySubscriber);
}

TEST(KindsTest, RateKeysNameWhoSignedAndInviteTrafficHasItsOwnLimit) {
  ASSERT_TRUE(InitCrypto().ok());
  const Submission join = MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  EXPECT_EQ(RateKey(join), std::string("server:") + kAlpha);
  EXPECT_EQ(RateLimitOf(join), RateLimit::kMessage);
  EXPECT_EQ(KindName(join), "federation_request");
  const Submission ban = MakeBan(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a");
  EXPECT_EQ(RateKey(ban), std::string("server:") + kAlpha);
  const Submission invite = MakeInvite("inv-1");
  EXPECT_EQ(RateKey(invite), "user:" + TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(RateLimitOf(invite), RateLimit::kInvite);
  const Submission accept = MakeAccept("inv-1");
  EXPECT_EQ(RateKey(accept), "device:" + TestKeys().bob_dev.PublicKeyHex());
  EXPECT_EQ(RateLimitOf(accept), RateLimit::kInvite);
  const Submission profile = MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice");
  EXPECT_EQ(RateKey(profile), "user:" + TestKeys().alice_id.PublicKeyHex());
  EXPECT_EQ(RateLimitOf(profile), RateLimit::kMessage);
}

TEST(KindsTest, CappedTextsAreTheFreeTextFieldsNotTheIdentifiers) {
  ASSERT_TRUE(InitCrypto().ok());
  std::set<std::string> fields;
  for (const CappedText& text :
       CappedTexts(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice"))) {
    fields.insert(std::string(text.field));
  }
  EXPECT_EQ(fields, (std::set<std::string>{"display_name", "avatar_url", "bio"}));
  fields.clear();
  for (const CappedText& text : CappedTexts(MakeInvite("inv-1"))) {
    fields.insert(std::string(text.field));
  }
  EXPECT_EQ(fields, (std::set<std::string>{"token", "guild_name", "host_server_url"}));
  EXPECT_TRUE(CappedTexts(MakeAccept("inv-1")).empty());
}

TEST(KindsTest, ASubmitStreamItemBecomesItsKind) {
  ASSERT_TRUE(InitCrypto().ok());
  v1::Submission in;
  EXPECT_FALSE(SubmissionFromProto(in).has_value());
  *in.mutable_dm_invite()->mutable_invite() = MakeInvite("inv-1");
  std::optional<Submission> invite = SubmissionFromProto(in);
  ASSERT_TRUE(invite.has_value());
  ASSERT_TRUE(std::holds_alternative<v1::DMInvite>(*invite));
  EXPECT_EQ(std::get<v1::DMInvite>(*invite).invite_id(), "inv-1");
  *in.mutable_ban() = MakeBan(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a");
  std::optional<Submission> ban = SubmissionFromProto(in);
  ASSERT_TRUE(ban.has_value());
  EXPECT_TRUE(std::holds_alternative<v1::BanNotification>(*ban));
}

}  // namespace
}  // namespace fedrelay::federation
