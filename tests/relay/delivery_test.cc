// Downstream delivery (FederationRelay.Subscribe / Acknowledge, SPEC section 4)
// as peers and API-key consumers see it: real gRPC clients against the real
// fedrelayd. Log entries are made by signing real messages with the test keys.
// This file: authentication, cursors and resumption; delivery_visibility_test.cc:
// visibility, filters, backpressure, metrics and shutdown.
#include "relay/delivery_test_util.h"

namespace fedrelay::delivery_testing {
namespace {

// ---------------------------------------------------------------------------
// Authentication.

TEST_F(DeliveryTest, RejectsCallsWithoutAValidCredential) {
  Joins(2);
  struct Case {
    std::string name;
    Auth auth;
  };
  const std::vector<Case> cases = {
      {"no credential", NoAuth()},
      {"signature by the wrong key", PeerAuth("alpha", 0, /*signing_peer=*/"beta")},
      {"unknown origin", PeerAuth("gamma", 0, "alpha")},
      {"stale timestamp", PeerAuth("alpha", -400000)},
      {"signature for another method", PeerAuthSignedFor("alpha", "/fedrelay.v1.FederationRelay/Ping")},
      {"garbage API key", KeyAuth("fr_0123")},
      {"well-formed unknown API key", KeyAuth("fr_" + std::string(64, 'a'))},
      {"partial signature headers",
       [](grpc::ClientContext& context, const std::string&) {
         context.AddMetadata("x-fedrelay-origin", "alpha.example");
       }},
      {"basic auth", [](grpc::ClientContext& context, const std::string&) {
         context.AddMetadata("authorization", "Basic YWxwaGE6cGFzc3dvcmQ=");
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Subscription subscription(Channel(), c.auth, From("0"));
    ExpectRefused(subscription, grpc::StatusCode::UNAUTHENTICATED, "unauthenticated");
    grpc::Status ack = Ack(c.auth, 1, nullptr);
    EXPECT_EQ(ack.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(ack.error_message(), StartsWith("unauthenticated:"));
  }
}

TEST_F(DeliveryTest, PeerSignatureAndApiKeyBothAuthenticate) {
  const uint64_t last = Joins(3);
  const auto [key_id, key] = CreateApiKey("integration-test");
  ASSERT_THAT(key, StartsWith("fr_"));

  Subscription peer(Channel(), PeerAuth("beta"), From("0"));
  Subscription consumer(Channel(), KeyAuth(key), From("0"));
  ASSERT_TRUE(peer.WaitForEventId(last));
  ASSERT_TRUE(consumer.WaitForEventId(last));
  EXPECT_EQ(Describe(peer.events()), Describe(consumer.events()));

  // Each has its own cursor.
  uint64_t cursor = 0;
  ASSERT_TRUE(Ack(PeerAuth("beta"), last, &cursor).ok());
  EXPECT_EQ(cursor, last);
  ASSERT_TRUE(Ack(KeyAuth(key), 1, &cursor).ok());
  EXPECT_EQ(cursor, 1u);

  // The key is stored only as a hash: the data dir never contains it.
  const testing::CommandResult grep = RunCommand("grep -r -l -a " + key + " " + relay_->data_dir());
  EXPECT_EQ(grep.exit_code, 1) << "the API key was found in " << grep.output;
  EXPECT_THAT(relay_->log_text(), Not(HasSubstr(key)));
}

TEST_F(DeliveryTest, ApiKeysAreListedAndRevokedWithCtlAndRevocationEndsStreams) {
  const auto [key_id, key] = CreateApiKey("to-revoke");
  const auto [other_id, other_key] = CreateApiKey("stays");
  testing::CommandResult list = Ctl("apikey list");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr(key_id));
  EXPECT_THAT(list.output, HasSubstr("name=to-revoke"));
  EXPECT_THAT(list.output, HasSubstr("scopes=[rest.full]"));
  EXPECT_THAT(list.output, Not(HasSubstr(key)));

  Subscription stream(Channel(), KeyAuth(key), From(""));
  ASSERT_TRUE(stream.WaitAccepted().has_value());
  const testing::CommandResult revoke = Ctl("apikey revoke " + key_id);
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_THAT(revoke.output, HasSubstr("revoked"));
  grpc::Status ended = stream.WaitDone();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();

  Subscription again(Channel(), KeyAuth(key), From("0"));
  ExpectRefused(again, grpc::StatusCode::UNAUTHENTICATED, "unauthenticated");
  EXPECT_EQ(Ack(KeyAuth(key), 0, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Ack(KeyAuth(other_key), 0, nullptr).ok()) << "other keys are unaffected";

  list = Ctl("apikey list");
  EXPECT_THAT(list.output, HasSubstr(key_id + "  revoked"));
  EXPECT_THAT(list.output, HasSubstr(other_id + "  active"));
  EXPECT_EQ(Ctl("apikey revoke 0000000000000000").exit_code, 1) << "revoking an unknown key fails";
}

TEST_F(DeliveryTest, RemovingAPeerEndsItsStreams) {
  Subscription beta(Channel(), PeerAuth("beta"), From(""));
  Subscription alpha(Channel(), PeerAuth("alpha"), From(""));
  ASSERT_TRUE(beta.WaitAccepted().has_value());
  ASSERT_TRUE(alpha.WaitAccepted().has_value());
  const testing::CommandResult removed = Ctl("peer remove beta.example");
  ASSERT_EQ(removed.exit_code, 0) << removed.output;
  grpc::Status ended = beta.WaitDone();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();
  Subscription again(Channel(), PeerAuth("beta"), From(""));
  ExpectRefused(again, grpc::StatusCode::UNAUTHENTICATED, "unauthenticated");
  // Other peers keep streaming.
  const uint64_t next = Joins(1);
  EXPECT_TRUE(alpha.WaitForEventId(next));
}

TEST_F(DeliveryTest, RotatingAPeersKeyEndsTheStreamsOpenedWithTheOldOne) {
  Subscription beta(Channel(), PeerAuth("beta"), From(""));
  Subscription alpha(Channel(), PeerAuth("alpha"), From(""));
  ASSERT_TRUE(beta.WaitAccepted().has_value());
  ASSERT_TRUE(alpha.WaitAccepted().has_value());
  const testing::CommandResult rotated =
      Ctl("peer rotate beta.example --pubkey " + TestKey("server-beta-rotated").PublicKeyHex());
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  grpc::Status ended = beta.WaitDone();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();
  EXPECT_THAT(ended.error_message(), HasSubstr("rotated"));
  // The old key opens no new stream; other peers keep streaming.
  Subscription again(Channel(), PeerAuth("beta"), From(""));
  ExpectRefused(again, grpc::StatusCode::UNAUTHENTICATED, "unauthenticated");
  const uint64_t next = Joins(1);
  EXPECT_TRUE(alpha.WaitForEventId(next));
}

// ---------------------------------------------------------------------------
// Resume and cursors.

TEST_F(DeliveryTest, ResumeZeroReplaysEverythingInOrder) {
  Joins(20, "g1");
  SubmitOne(SignedBan("alpha", "member-3", "g1", NowMs()));  // ban + member_removed, one entry
  const uint64_t last = Joins(5, "g2");
  const std::vector<v1::StreamResponse> logged = LoggedEvents();

  Subscription subscription(Channel(), PeerAuth("alpha"), From("0"));
  ASSERT_TRUE(subscription.WaitForEventId(last));
  EXPECT_THAT(Describe(subscription.events()), ElementsAreArray(Describe(logged)));
  // The ban entry carries two events with one id, delivered in log order.
  const auto events = subscription.events();
  auto ban = std::find_if(events.begin(), events.end(), [](auto& e) { return e.has_ban(); });
  ASSERT_NE(ban, events.end());
  ASSERT_NE(ban + 1, events.end());
  EXPECT_TRUE((ban + 1)->has_member_removed());
  EXPECT_EQ(ban->event_id(), (ban + 1)->event_id());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].SerializeAsString(), logged[i].SerializeAsString()) << "event " << i;
  }
}

TEST_F(DeliveryTest, ResumeNDeliversOnlyLaterEvents) {
  const uint64_t middle = Joins(10);
  const uint64_t last = Joins(10);
  Subscription subscription(Channel(), PeerAuth("alpha"), From(absl::StrCat(middle)));
  EXPECT_EQ(subscription.WaitAccepted(), middle);
  ASSERT_TRUE(subscription.WaitForEventId(last));
  const auto events = subscription.events();
  ASSERT_EQ(events.size(), last - middle);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].event_id(), middle + 1 + i);

  // Resuming at the log's end is "live only": nothing old, then new events.
  Subscription live(Channel(), PeerAuth("alpha"), From(absl::StrCat(last)));
  ASSERT_EQ(live.WaitAccepted(), last);
  const uint64_t next = Joins(1);
  ASSERT_TRUE(live.WaitForEventId(next));
  EXPECT_EQ(Describe(live.events()), std::vector<std::string>{absl::StrCat("member_joined@", next)});
}

TEST_F(DeliveryTest, RejectsMalformedCursorsAndFilters) {
  const uint64_t last = Joins(3);
  for (const std::string& bad : std::vector<std::string>{"abc", "-1", "+1", " 1", "1.0", "0x10", "18446744073709551616",
                                absl::StrCat(last + 1)}) {
    SCOPED_TRACE(bad);
    Subscription subscription(Channel(), PeerAuth("alpha"), From(bad));
    ExpectRefused(subscription, grpc::StatusCode::INVALID_ARGUMENT, "invalid_cursor");
  }
  Subscription unknown_kind(Channel(), PeerAuth("alpha"), From("0", {}, {"member_joined", "messages"}));
  EXPECT_THAT(ExpectRefused(unknown_kind, grpc::StatusCode::INVALID_ARGUMENT, "malformed"),
              HasSubstr("messages"));
}

TEST_F(DeliveryTest, AcknowledgeMovesTheCursorForwardOnly) {
  const uint64_t last = Joins(10);
  const Auth alpha = PeerAuth("alpha");
  uint64_t cursor = 99;
  ASSERT_TRUE(Ack(alpha, 0, &cursor).ok());
  EXPECT_EQ(cursor, 0u) << "never acked: the cursor is 0";
  ASSERT_TRUE(Ack(alpha, 7, &cursor).ok());
  EXPECT_EQ(cursor, 7u);
  ASSERT_TRUE(Ack(alpha, 4, &cursor).ok());
  EXPECT_EQ(cursor, 7u) << "an older ack does not move the cursor back";
  grpc::Status beyond = Ack(alpha, last + 1, &cursor);
  EXPECT_EQ(beyond.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(beyond.error_message(), StartsWith("invalid_cursor:"));
  ASSERT_TRUE(Ack(alpha, last, &cursor).ok());
  EXPECT_EQ(cursor, last);
  // Another peer's cursor is its own.
  ASSERT_TRUE(Ack(PeerAuth("beta"), 0, &cursor).ok());
  EXPECT_EQ(cursor, 0u);
}

TEST_F(DeliveryTest, EmptyResumeContinuesFromTheAcknowledgedCursor) {
  const uint64_t first = Joins(5);
  {
    // Never acknowledged: empty resume starts at the beginning of the log.
    Subscription subscription(Channel(), PeerAuth("beta"), From(""));
    EXPECT_EQ(subscription.WaitAccepted(), 0u);
    ASSERT_TRUE(subscription.WaitForEventId(first));
    ASSERT_TRUE(Ack(PeerAuth("beta"), first - 2, nullptr).ok());
  }
  const uint64_t later = Joins(5);
  Subscription resumed(Channel(), PeerAuth("beta"), From(""));
  EXPECT_EQ(resumed.WaitAccepted(), first - 2);
  ASSERT_TRUE(resumed.WaitForEventId(later));
  const auto events = resumed.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event_id(), first - 1);
  EXPECT_EQ(events.back().event_id(), later);
  EXPECT_EQ(events.size(), later - (first - 2));
}

TEST_F(DeliveryTest, DisconnectAndReconnectLosesNothing) {
  const Auth beta = PeerAuth("beta");
  std::set<uint64_t> received;
  Joins(10);
  {
    Subscription subscription(Channel(), beta, From(""));
    ASSERT_TRUE(subscription.WaitForCount(10));
    for (const auto& event : subscription.events()) received.insert(event.event_id());
    ASSERT_TRUE(Ack(beta, subscription.events()[6].event_id(), nullptr).ok());
  }  // disconnects with 3 unacknowledged events
  Joins(10);  // while it is away
  Subscription again(Channel(), beta, From(""));
  const uint64_t last = Joins(5);
  ASSERT_TRUE(again.WaitForEventId(last));
  for (const auto& event : again.events()) received.insert(event.event_id());
  std::set<uint64_t> logged;
  for (const auto& event : LoggedEvents()) logged.insert(event.event_id());
  EXPECT_EQ(received, logged);
}

TEST_F(DeliveryTest, RelayKilledWithSigkillLosesNothing) {
  const Auth alpha = PeerAuth("alpha");
  std::set<uint64_t> received;
  Joins(30);
  {
    Subscription subscription(Channel(), alpha, From(""));
    ASSERT_TRUE(subscription.WaitForCount(30));
    ASSERT_TRUE(Ack(alpha, subscription.events()[19].event_id(), nullptr).ok());
    // More entries land while the relay is killed mid-stream.
    std::atomic<bool> stop{false};
    std::thread load([&] {
      auto stub = v1::FederationRelay::NewStub(Channel());
      for (int i = 0; !stop.load(); ++i) {
        grpc::ClientContext context;
        v1::FederationResponse response;
        stub->Federate(&context, SignedJoin("alpha", absl::StrCat("load-", i), "g1", NowMs()),
                       &response);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    relay_->Kill();
    stop.store(true);
    load.join();
    subscription.WaitDone();
    for (const auto& event : subscription.events()) received.insert(event.event_id());
  }
  ASSERT_TRUE(relay_->Restart().ok());
  const uint64_t size = LogSize();
  Subscription resumed(Channel(), alpha, From(""));
  ASSERT_TRUE(resumed.WaitAccepted().has_value());
  ASSERT_TRUE(resumed.WaitForEventId(size));
  for (const auto& event : resumed.events()) received.insert(event.event_id());
  std::set<uint64_t> logged;
  for (const auto& event : LoggedEvents()) logged.insert(event.event_id());
  EXPECT_GT(logged.size(), 30u);
  EXPECT_EQ(received, logged);
  EXPECT_EQ(*logged.rbegin(), size);
}

}  // namespace
}  // namespace fedrelay::delivery_testing
