// The pure parts of downstream visibility: kinds, filters and homeserver hosts.
#include "relay/downstream/visibility.h"

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

// The fan-out skips a subscriber's entries on MayMatch alone, so a false there
// must never hide an event the filter selects.
TEST(EventFilterTest, MayMatchIsFalseOnlyWhenNoEventOfTheEntryCanPass) {
  auto filter = EventFilter::Make({"g1"}, {"member_joined", "ban", "dm_invite_status"});
  ASSERT_TRUE(filter.ok());
  auto entry_with = [](auto add) {
    v1::LogEntry entry;
    add(entry.add_events());
    return entry;
  };
  EXPECT_TRUE(filter->MayMatch(entry_with([](v1::StreamResponse* e) {
    e->mutable_member_joined()->set_guild_id("g1");
  })));
  EXPECT_FALSE(filter->MayMatch(entry_with([](v1::StreamResponse* e) {
    e->mutable_member_joined()->set_guild_id("g2");
  })));
  EXPECT_FALSE(filter->MayMatch(entry_with([](v1::StreamResponse* e) {
    e->mutable_member_removed()->set_guild_id("g1");  // kind not selected
  })));
  EXPECT_TRUE(filter->MayMatch(entry_with([](v1::StreamResponse* e) {
    e->mutable_ban()->set_guild_id("g1");
  })));
  // Its guild is only known from the invite in the state: may match.
  EXPECT_TRUE(filter->MayMatch(entry_with([](v1::StreamResponse* e) {
    e->mutable_dm_invite_status()->set_invite_id("i1");
  })));
  // An entry without events (a peer change) never reaches a filtered subscriber.
  EXPECT_FALSE(filter->MayMatch(v1::LogEntry()));

  // Several events: one selected one is enough.
  v1::LogEntry two;
  two.add_events()->mutable_member_joined()->set_guild_id("g9");
  two.add_events()->mutable_ban()->set_guild_id("g1");
  EXPECT_TRUE(filter->MayMatch(two));

  // Events of no guild pass a guild filter (user_updated), as in Matches.
  auto profiles = EventFilter::Make({"g1"}, {});
  ASSERT_TRUE(profiles.ok());
  EXPECT_TRUE(profiles->MayMatch(entry_with([](v1::StreamResponse* e) { e->mutable_user_updated(); })));
  EXPECT_TRUE(EventFilter::Make({}, {})->MayMatch(v1::LogEntry()));
}

}  // namespace
}  // namespace fedrelay::relay
