// The fixture and helpers of the downstream delivery tests (delivery_test.cc,
// delivery_visibility_test.cc): real gRPC clients against the real fedrelayd.
#ifndef FEDRELAY_TESTS_RELAY_DELIVERY_TEST_UTIL_H_
#define FEDRELAY_TESTS_RELAY_DELIVERY_TEST_UTIL_H_

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

namespace fedrelay::delivery_testing {

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
inline Auth PeerAuth(const std::string& peer, int64_t clock_offset_ms = 0,
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
inline Auth PeerAuthSignedFor(const std::string& peer, const std::string& signed_method) {
  return [=](grpc::ClientContext& context, const std::string&) {
    PeerAuth(peer)(context, signed_method);
  };
}

inline Auth KeyAuth(const std::string& api_key) {
  return [=](grpc::ClientContext& context, const std::string&) {
    context.AddMetadata("authorization", "Bearer " + api_key);
  };
}

inline Auth NoAuth() {
  return [](grpc::ClientContext&, const std::string&) {};
}

// "kind@event_id", what a subscriber is compared on.
inline std::string Describe(const v1::StreamResponse& event) {
  const auto* field = v1::StreamResponse::descriptor()->FindFieldByNumber(event.event_case());
  return absl::StrCat(field == nullptr ? "none" : field->name(), "@", event.event_id());
}

inline std::vector<std::string> Describe(const std::vector<v1::StreamResponse>& events) {
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

inline v1::SubscribeRequest From(const std::string& resume, std::vector<std::string> guilds = {},
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

inline std::string ExpectRefused(Subscription& subscription, grpc::StatusCode code,
                          const std::string& machine_code) {
  grpc::Status status = subscription.WaitDone();
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_THAT(status.error_message(), StartsWith(machine_code + ":"));
  EXPECT_EQ(subscription.events().size(), 0u) << "a refused stream carries no events";
  return status.error_message();
}

}  // namespace fedrelay::delivery_testing

#endif  // FEDRELAY_TESTS_RELAY_DELIVERY_TEST_UTIL_H_
