// Downstream delivery (FederationRelay.Subscribe / Acknowledge, SPEC section 4)
// as peers and API-key consumers see it: real gRPC clients against the real
// fedrelayd. Log entries are made by signing real messages with the test keys.
// This file: visibility, filters, backpressure, metrics and shutdown;
// delivery_test.cc: authentication, cursors and resumption.
#include "relay/delivery_test_util.h"

namespace fedrelay::delivery_testing {
namespace {

// ---------------------------------------------------------------------------
// Filters and visibility.

TEST_F(DeliveryTest, FiltersByGuildAndKind) {
  Joins(3, "g1");
  Joins(3, "g2");
  SubmitOne(SignedBan("alpha", "member-4", "g2", NowMs()));
  SubmitOne(SignedProfile("alice", "Alice A.", NowMs()));
  const uint64_t last = Joins(1, "g3");
  const std::vector<v1::StreamResponse> logged = LoggedEvents();

  Subscription g2(Channel(), PeerAuth("alpha"), From("0", {"g2"}));
  Subscription bans(Channel(), PeerAuth("beta"), From("0", {}, {"ban", "member_removed"}));
  Subscription both(Channel(), PeerAuth("beta"), From("0", {"g1"}, {"member_joined"}));
  // A marker every filter lets through tells when each has seen the whole log.
  ASSERT_TRUE(bans.WaitForCount(2));
  ASSERT_TRUE(g2.WaitForCount(6));
  ASSERT_TRUE(both.WaitForCount(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing else may follow

  std::vector<std::string> expect_g2, expect_bans, expect_both;
  for (const auto& event : logged) {
    const std::string guild = event.has_member_joined()    ? event.member_joined().guild_id()
                              : event.has_member_removed() ? event.member_removed().guild_id()
                              : event.has_ban()            ? event.ban().guild_id()
                                                           : "";
    // Events without a guild (user_updated) pass a guild filter.
    if (guild.empty() || guild == "g2") expect_g2.push_back(Describe(event));
    if (event.has_ban() || event.has_member_removed()) expect_bans.push_back(Describe(event));
    if (guild == "g1" && event.has_member_joined()) expect_both.push_back(Describe(event));
  }
  EXPECT_THAT(Describe(g2.events()), ElementsAreArray(expect_g2));
  EXPECT_THAT(Describe(bans.events()), ElementsAreArray(expect_bans));
  EXPECT_THAT(Describe(both.events()), ElementsAreArray(expect_both));
  EXPECT_EQ(expect_g2.size(), 6u);  // 3 joins, ban, member_removed, user_updated
  (void)last;
}

TEST_F(DeliveryTest, DmInvitesReachOnlyTheirPartiesHomeserversAndFullKeys) {
  // bob's homeserver is beta; alice (the inviter) has none yet.
  SubmitOne(SignedJoin("beta", "bob", "g1", NowMs()));
  const auto [key_id, key] = CreateApiKey("full");
  Subscription alpha(Channel(), PeerAuth("alpha"), From("0"));
  Subscription beta(Channel(), PeerAuth("beta"), From("0"));
  Subscription consumer(Channel(), KeyAuth(key), From("0"));

  const uint64_t invite_id =
      SubmitOne(SignedInvite("inv-1", "alice", "bob", NowMs(), "secret-token-1"));
  ASSERT_TRUE(beta.WaitForEventId(invite_id));
  ASSERT_TRUE(consumer.WaitForEventId(invite_id));
  for (Subscription* recipient : {&beta, &consumer}) {
    const auto events = recipient->events();
    ASSERT_TRUE(events.back().has_dm_invite());
    EXPECT_EQ(events.back().dm_invite().invite_id(), "inv-1");
    EXPECT_EQ(events.back().dm_invite().token(), "secret-token-1") << "recipients get the token";
  }

  // bob moves to alpha, named by URL: from now on alpha is his homeserver.
  SubmitOne(SignedMigration("bob", "https://alpha.example", NowMs()));
  const uint64_t status_id = SubmitOne(SignedReject("inv-1", "bob", NowMs()));
  const uint64_t marker = Joins(1, "g1", "alpha");
  ASSERT_TRUE(alpha.WaitForEventId(marker));
  ASSERT_TRUE(beta.WaitForEventId(marker));
  ASSERT_TRUE(consumer.WaitForEventId(marker));

  auto kinds_of = [](const Subscription& s) {
    std::vector<std::string> kinds;
    for (const auto& event : s.events()) kinds.push_back(Describe(event));
    return kinds;
  };
  const std::string invite = absl::StrCat("dm_invite@", invite_id);
  const std::string status = absl::StrCat("dm_invite_status@", status_id);
  EXPECT_THAT(kinds_of(alpha), Not(::testing::Contains(invite))) << "alpha was not bob's homeserver";
  EXPECT_THAT(kinds_of(alpha), ::testing::Contains(status)) << "alpha is bob's homeserver now";
  EXPECT_THAT(kinds_of(beta), ::testing::Contains(invite));
  EXPECT_THAT(kinds_of(beta), Not(::testing::Contains(status))) << "beta no longer is";
  EXPECT_THAT(kinds_of(consumer), ::testing::Contains(invite));
  EXPECT_THAT(kinds_of(consumer), ::testing::Contains(status));
  // Everything else reaches everyone.
  EXPECT_THAT(kinds_of(alpha), ::testing::Contains(absl::StrCat("member_joined@", marker)));

  // The public log never holds the token.
  for (const auto& event : LoggedEvents()) {
    if (event.has_dm_invite()) {
      EXPECT_THAT(event.dm_invite().token(), IsEmpty());
    }
  }
}

// ---------------------------------------------------------------------------
// Backpressure.

TEST_F(DeliveryTest, StalledSubscriberDoesNotDelayOthersAndCatchesUpCompletely) {
  // A client that never reads: a small HTTP/2 window makes the relay's writes
  // to it stall almost at once.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stalled_channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", relay_->grpc_port()),
                                                   grpc::InsecureChannelCredentials(), args);
  Subscription stalled(stalled_channel, PeerAuth("beta"), From(""), /*read=*/false);
  ASSERT_TRUE(stalled.WaitAccepted().has_value());
  Subscription fast(Channel(), PeerAuth("alpha"), From(""));
  ASSERT_TRUE(fast.WaitAccepted().has_value());

  // More than a live queue holds (1024 entries), in several batches.
  uint64_t last = 0;
  for (int round = 0; round < 6; ++round) last = Joins(300);
  ASSERT_TRUE(fast.WaitForEventId(last));
  EXPECT_EQ(fast.events().size(), LoggedEvents().size());

  // The fast subscriber still gets a new event within milliseconds.
  const uint64_t submitted_at = NowMs();
  const uint64_t one = Joins(1);
  ASSERT_TRUE(fast.WaitForEventId(one));
  const uint64_t latency_ms = fast.ReceivedAtMs(fast.events().size() - 1) - submitted_at;
  EXPECT_LT(latency_ms, 1000u) << "a fast subscriber waited behind a stalled one";
  std::cout << "fast subscriber latency (submit -> receive): " << latency_ms << " ms\n";

  // The stalled stream overflowed its queue and fell back to the log.
  EXPECT_GE(Metric("fedrelay_subscriber_catchups_total{subscriber=\"peer:beta.example\"}"), 1);
  EXPECT_GT(Metric("fedrelay_subscriber_lag_events{subscriber=\"peer:beta.example\"}"), 100);
  EXPECT_EQ(Metric("fedrelay_subscriber_lag_events{subscriber=\"peer:alpha.example\"}"), 0);
  EXPECT_EQ(Metric("fedrelay_subscribers"), 2);

  // Once it reads, it gets everything, in order, without gaps or repeats.
  stalled.StartReading();
  ASSERT_TRUE(stalled.WaitForEventId(one, std::chrono::seconds(60)));
  EXPECT_THAT(Describe(stalled.events()), ElementsAreArray(Describe(LoggedEvents())));
  // And it is live again.
  const uint64_t after = Joins(1);
  ASSERT_TRUE(stalled.WaitForEventId(after));
}

TEST_F(DeliveryTest, ExportsDeliveryMetrics) {
  const uint64_t last = Joins(4);
  Subscription subscription(Channel(), PeerAuth("alpha"), From("0"));
  ASSERT_TRUE(subscription.WaitForEventId(last));
  ASSERT_TRUE(Ack(PeerAuth("alpha"), last, nullptr).ok());
  EXPECT_EQ(Metric("fedrelay_subscribers"), 1);
  EXPECT_EQ(Metric("fedrelay_delivered_events_total{subscriber=\"peer:alpha.example\"}"), 4);
  EXPECT_EQ(Metric("fedrelay_acks_total{subscriber=\"peer:alpha.example\"}"), 1);
  EXPECT_EQ(Metric("fedrelay_subscriber_acked_event_id{subscriber=\"peer:alpha.example\"}"),
            static_cast<double>(last));
  EXPECT_EQ(Metric("fedrelay_subscriber_lag_events{subscriber=\"peer:alpha.example\"}"), 0);
  EXPECT_EQ(Metric("fedrelay_subscriber_lag_seconds{subscriber=\"peer:alpha.example\"}"), 0);
}

TEST_F(DeliveryTest, ShutdownEndsStreamsWithUnavailable) {
  Subscription subscription(Channel(), PeerAuth("alpha"), From(""));
  ASSERT_TRUE(subscription.WaitAccepted().has_value());
  EXPECT_EQ(relay_->Stop(), 0);
  grpc::Status status = subscription.WaitDone();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // Ended by the relay on purpose, not by the connection dropping.
  EXPECT_THAT(status.error_message(), StartsWith("unavailable:"));
}

}  // namespace
}  // namespace fedrelay::delivery_testing
