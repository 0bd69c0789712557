// The pure parts of downstream visibility: kinds, filters and homeserver hosts.
#include "relay/visibility.h"

#include "base/errors.h"
#include "gtest/gtest.h"

namespace fedrelay::relay {
namespace {

TEST(HomeserverHostTest, ServerIdsAndUrlsOfOneHostCompareEqual) {
  for (const char* spelling :
       {"beta.example", "https://beta.example", "https://beta.example/", "HTTPS://Beta.Example:8443/x?y#z",
        "beta.example:443", "https://user@beta.example", "beta.example.", "wss://beta.example/v1/ws"}) {
    EXPECT_EQ(HomeserverHost(spelling), "beta.example") << spelling;
  }
  EXPECT_EQ(HomeserverHost("https://[2001:db8::1]:8443/"), "[2001:db8::1]");
  EXPECT_NE(HomeserverHost("https://beta.example.evil"), "beta.example");
  EXPECT_NE(HomeserverHost("https://evil.example/beta.example"), "beta.example");
  EXPECT_EQ(HomeserverHost(""), "");
}

TEST(EventKindTest, NamesTheOneofField) {
  v1::StreamResponse event;
  EXPECT_EQ(EventKind(event), "");
  event.mutable_member_joined();
  EXPECT_EQ(EventKind(event), "member_joined");
  event.mutable_dm_invite_status();
  EXPECT_EQ(EventKind(event), "dm_invite_status");
  for (const char* kind : {"member_joined", "member_removed", "user_updated", "ban", "dm_invite",
                           "dm_invite_status", "message_created", "presence"}) {
    EXPECT_TRUE(IsEventKind(kind)) << kind;
  }
  for (const char* kind : {"", "event_id", "timestamp", "bans", "MEMBER_JOINED", "guild_ids"}) {
    EXPECT_FALSE(IsEventKind(kind)) << kind;
  }
}

TEST(EventFilterTest, EmptyListsSelectEverything) {
  auto filter = EventFilter::Make({}, {});
  ASSERT_TRUE(filter.ok());
  EXPECT_TRUE(filter->Matches("ban", std::string("g1")));
  EXPECT_TRUE(filter->Matches("user_updated", std::nullopt));
}

TEST(EventFilterTest, GuildAndKindListsBothApply) {
  auto filter = EventFilter::Make({"g1", "g2"}, {"member_joined", "user_updated"});
  ASSERT_TRUE(filter.ok());
  EXPECT_TRUE(filter->Matches("member_joined", std::string("g2")));
  EXPECT_FALSE(filter->Matches("member_joined", std::string("g3")));
  EXPECT_FALSE(filter->Matches("ban", std::string("g1")));
  // Events of no guild pass a guild filter.
  EXPECT_TRUE(filter->Matches("user_updated", std::nullopt));
}

TEST(EventFilterTest, RejectsUnknownKindsAndEmptyGuilds) {
  auto kind = EventFilter::Make({}, {"member_joined", "membership"});
  ASSERT_FALSE(kind.ok());
  EXPECT_EQ(MachineCode(kind.status()), "malformed");
  EXPECT_NE(kind.status().message().find("membership"), absl::string_view::npos);
  auto guild = EventFilter::Make({""}, {});
  EXPECT_EQ(MachineCode(guild.status()), "malformed");
}

}  // namespace
}  // namespace fedrelay::relay
