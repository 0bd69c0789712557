// Downstream delivery (FederationRelay.Subscribe / Acknowledge, SPEC section 4)
// as peers and API-key consumers see it: real gRPC clients against the real
// fedrelayd. Log entries are made by signing real messages with the test keys.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "federation/signing.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using testing::AsSubmission;
using testing::BinaryPath;
using testing::LogEntries;
using testing::NowMs;
using testing::RelayProcess;
using testing::RunCommand;
using testing::SignedBan;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::SignedProfile;
using testing::SignedReject;
using testing::TestKey;

constexpr char kSubscribe[] = "/fedrelay.v1.FederationRelay/Subscribe";
constexpr char kAcknowledge[] = "/fedrelay.v1.FederationRelay/Acknowledge";
constexpr auto kWait = std::chrono::seconds(20);

// ---------------------------------------------------------------------------
// Credentials.

using Auth = std::function<void(grpc::ClientContext&, const std::string& method)>;

// A peer's Call signature (SPEC section 4), made with its test key.
Auth PeerAuth(const std::string& peer, int64_t clock_offset_ms = 0,
              const std::string& signing_peer = "") {
  return [=](grpc::ClientContext& context, const std::string& method) {
    const uint64_t timestamp = NowMs() + clock_offset_ms;
    const std::string key_name = "server-" + (signing_peer.empty() ? peer : signing_peer);
    context.AddMetadata("x-fedrelay-origin", peer + ".example");
    context.AddMetadata("x-fedrelay-timestamp", absl::StrCat(timestamp));
    context.AddMetadata("x-fedrelay-signature",
                        federation::MakeCallSignatureHex(peer + ".example", "relay.example", method,
                                                         timestamp, TestKey(key_name)));
  };
}

// A Call signature made for `signed_method` whatever method it is used on.
Auth PeerAuthSignedFor(const std::string& peer, const std::string& signed_method) {
  return [=](grpc::ClientContext& context, const std::string&) {
    PeerAuth(peer)(context, signed_method);
  };
}

Auth KeyAuth(const std::string& api_key) {
  return [=](grpc::ClientContext& context, const std::string&) {
    context.AddMetadata("authorization", "Bearer " + api_key);
  };
}

Auth NoAuth() {
  return [](grpc::ClientContext&, const std::string&) {};
}

// "kind@event_id", what a subscriber is compared on.
std::string Describe(const v1::StreamResponse& event) {
  const auto* field = v1::StreamResponse::descriptor()->FindFieldByNumber(event.event_case());
  return absl::StrCat(field == nullptr ? "none" : field->name(), "@", event.event_id());
}

std::vector<std::string> Describe(const std::vector<v1::StreamResponse>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(Describe(event));
  return out;
}

// ---------------------------------------------------------------------------
// A Subscribe stream handled on its own thread: it waits for the initial
// metadata (the relay accepted the stream), then reads once reading is enabled.

class Subscription {
 public:
  Subscription(const std::shared_ptr<grpc::Channel>& channel, const Auth& auth,
               const v1::SubscribeRequest& request, bool read = true)
      : stub_(v1::FederationRelay::NewStub(channel)), reading_(read) {
    auth(context_, kSubscribe);
    reader_ = stub_->Subscribe(&context_, request);
    thread_ = std::thread([this] { Run(); });
  }
  ~Subscription() {
    context_.TryCancel();
    StartReading();  // a stalled stream must still be drained to finish
    thread_.join();
  }

  // Lets a stream created with read = false start reading.
  void StartReading() {
    std::lock_guard<std::mutex> lock(mu_);
    reading_ = true;
    cv_.notify_all();
  }

  // Blocks until the relay accepted the stream (its initial metadata came) and
  // returns the event id the stream starts after; nullopt if it was refused.
  std::optional<uint64_t> WaitAccepted() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return metadata_done_; });
    return start_after_;
  }

  bool WaitForCount(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n || done_; }) &&
           events_.size() >= n;
  }

  // Waits until an event with id >= `event_id` arrived.
  bool WaitForEventId(uint64_t event_id, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return done_ || (!events_.empty() && events_.back().event_id() >= event_id);
    }) && !events_.empty() && events_.back().event_id() >= event_id;
  }

  // Waits for the stream to end and returns its status.
  grpc::Status WaitDone(std::chrono::milliseconds timeout = kWait) {
    StartReading();
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "test: stream did not end");
    }
    return status_;
  }

  std::vector<v1::StreamResponse> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  uint64_t ReceivedAtMs(size_t index) const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_at_ms_.at(index);
  }

 private:
  void Run() {
    reader_->WaitForInitialMetadata();
    std::optional<uint64_t> start_after;
    const auto& metadata = context_.GetServerInitialMetadata();
    if (auto it = metadata.find("x-fedrelay-start-after"); it != metadata.end()) {
      uint64_t value = 0;
      if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &value)) {
        start_after = value;
      }
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_after_ = start_after;
      metadata_done_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return reading_; });
    }
    v1::StreamResponse event;
    while (reader_->Read(&event)) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(event);
      received_at_ms_.push_back(NowMs());
      cv_.notify_all();
    }
    grpc::Status status = reader_->Finish();
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }

  std::unique_ptr<v1::FederationRelay::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::StreamResponse>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool reading_;
  bool metadata_done_ = false;
  std::optional<uint64_t> start_after_;
  std::vector<v1::StreamResponse> events_;
  std::vector<uint64_t> received_at_ms_;
  grpc::Status status_;
  bool done_ = false;
};

v1::SubscribeRequest From(const std::string& resume, std::vector<std::string> guilds = {},
                          std::vector<std::string> kinds = {}) {
  v1::SubscribeRequest request;
  request.set_resume_from_event_id(resume);
  for (auto& guild : guilds) request.add_guild_ids(guild);
  for (auto& kind : kinds) request.add_kinds(kind);
  return request;
}

// ---------------------------------------------------------------------------

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }

  std::shared_ptr<grpc::Channel> Channel() const { return relay_->Channel(); }

  // Submits each item through the Submit stream; all must be accepted.
  // Returns the receipts' event ids in submission order.
  std::vector<uint64_t> SubmitAll(const std::vector<v1::Submission>& items) {
    auto stub = v1::FederationRelay::NewStub(Channel());
    grpc::ClientContext context;
    auto stream = stub->Submit(&context);
    std::thread writer([&] {
      for (const auto& item : items) stream->Write(item);
      stream->WritesDone();
    });
    std::map<std::string, uint64_t> by_correlation;
    v1::SubmissionResult result;
    while (stream->Read(&result)) {
      EXPECT_TRUE(result.has_receipt()) << result.correlation_id() << ": "
                                        << result.error().code() << " " << result.error().message();
      by_correlation[result.correlation_id()] = result.receipt().event_id();
    }
    writer.join();
    EXPECT_TRUE(stream->Finish().ok());
    std::vector<uint64_t> ids;
    for (const auto& item : items) ids.push_back(by_correlation[item.correlation_id()]);
    return ids;
  }

  // `count` joins of distinct users to `guild` from alpha; returns the last event id.
  uint64_t Joins(int count, const std::string& guild = "g1", const std::string& peer = "alpha") {
    std::vector<v1::Submission> items;
    for (int i = 0; i < count; ++i) {
      items.push_back(AsSubmission(
          absl::StrCat(next_serial_),
          SignedJoin(peer, absl::StrCat("member-", next_serial_), guild, NowMs())));
      ++next_serial_;
    }
    std::vector<uint64_t> ids = SubmitAll(items);
    return ids.empty() ? 0 : ids.back();
  }

  template <typename Message>
  uint64_t SubmitOne(const Message& message) {
    return SubmitAll({AsSubmission("one", message)}).at(0);
  }

  // Every event in the log, in order (the public AuditLog, not the delivery path).
  std::vector<v1::StreamResponse> LoggedEvents() {
    std::vector<v1::StreamResponse> events;
    for (const v1::LogEntry& entry : LogEntries(Channel())) {
      for (const auto& event : entry.events()) events.push_back(event);
    }
    return events;
  }

  uint64_t LogSize() {
    auto audit = v1::AuditLog::NewStub(Channel());
    grpc::ClientContext context;
    v1::Checkpoint checkpoint;
    EXPECT_TRUE(audit->GetCheckpoint(&context, {}, &checkpoint).ok());
    // The checkpoint may trail; GetEntries shows the whole log.
    const std::vector<v1::LogEntry> entries = LogEntries(Channel());
    return entries.empty() ? 0 : entries.back().event_id();
  }

  grpc::Status Ack(const Auth& auth, uint64_t event_id, uint64_t* cursor) {
    auto stub = v1::FederationRelay::NewStub(Channel());
    grpc::ClientContext context;
    auth(context, kAcknowledge);
    v1::AcknowledgeRequest request;
    request.set_event_id(event_id);
    v1::AcknowledgeResponse response;
    grpc::Status status = stub->Acknowledge(&context, request, &response);
    if (cursor != nullptr) *cursor = response.event_id();
    return status;
  }

  testing::CommandResult Ctl(const std::string& arguments) {
    return RunCommand(BinaryPath("tools/fedrelay-ctl") + " --data-dir " + relay_->data_dir() + " " +
                      arguments);
  }

  // Creates an API key with fedrelay-ctl; returns {key id, key}.
  std::pair<std::string, std::string> CreateApiKey(const std::string& name) {
    const testing::CreatedApiKey created = testing::CreateApiKey(*relay_, name);
    EXPECT_EQ(created.command.exit_code, 0) << created.command.output;
    return {created.key_id, created.key};
  }

  // The value of one metric line, e.g. `fedrelay_subscribers`, or -1 when the
  // relay does not list it (so a missing series fails every check below).
  double Metric(const std::string& series) {
    return testing::MetricValue(relay_->http_port(), series, /*absent=*/-1);
  }

  std::unique_ptr<RelayProcess> relay_;
  int next_serial_ = 0;
};

std::string ExpectRefused(Subscription& subscription, grpc::StatusCode code,
                          const std::string& machine_code) {
  grpc::Status status = subscription.WaitDone();
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_THAT(status.error_message(), StartsWith(machine_code + ":"));
  EXPECT_EQ(subscription.events().size(), 0u) << "a refused stream carries no events";
  return status.error_message();
}

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
}  // namespace fedrelay
