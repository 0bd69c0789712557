// The fan-out off the writer thread (relay/downstream/delivery.h): the
// federation core and the delivery in one process, so a subscriber can be
// made to misbehave in ways a network client cannot (block inside Deliver,
// never finish a write). Assertions are about order and progress, never
// about how long something took.
#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/crypto.h"
#include "base/metrics.h"
#include "common/temp_dir.h"
#include "federation/federation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/downstream/delivery.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "store/log_store.h"

namespace fedrelay::relay {
namespace {

using ::testing::ElementsAreArray;
using testing::NowMs;
using testing::SignedJoin;
using testing::TestKey;

// Long enough that only a stuck component ever hits it.
constexpr absl::Duration kStuck = absl::Seconds(60);

// Records what it is sent. A write ends (done(true)) from the subscriber's own
// thread unless the subscriber is paused; while paused, writes stay open,
// like a client that stopped reading. With `block_first_deliver` the first
// Deliver call does not return until Unblock().
class TestSubscriber final : public EventSubscriber {
 public:
  explicit TestSubscriber(bool paused, bool block_first_deliver = false)
      : paused_(paused), block_first_deliver_(block_first_deliver) {
    thread_ = std::thread([this] { Run(); });
  }
  ~TestSubscriber() override { Stop(); }

  // Ends the subscriber's thread. The fixture calls it from the test's thread:
  // a write's `done` closure holds the stream, which holds this subscriber, so
  // the last reference may otherwise drop on the subscriber's own thread,
  // which cannot join itself.
  void Stop() {
    Unblock();
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  void Deliver(const v1::StreamResponse& event, std::function<void(bool)> done) override {
    bool block = false;
    {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
      open_writes_.push_back(std::move(done));
      block = block_first_deliver_ && events_.size() == 1;
    }
    if (block) {
      inside_deliver_.Notify();
      unblocked_.WaitForNotification();
    }
  }
  void Ended(const absl::Status&) override {}

  void WaitInsideDeliver() { ASSERT_TRUE(inside_deliver_.WaitForNotificationWithTimeout(kStuck)); }
  void Unblock() {
    if (!unblocked_.HasBeenNotified()) unblocked_.Notify();
  }
  void Resume() {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }
  // The event ids received, once the last one is `event_id`; empty if it never comes.
  std::vector<uint64_t> WaitForEventId(uint64_t event_id) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !events_.empty() && events_.back().event_id() >= event_id;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&reached), kStuck)) return {};
    std::vector<uint64_t> ids;
    for (const auto& event : events_) ids.push_back(event.event_id());
    return ids;
  }
  size_t received() {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void(bool)> done;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return stopping_ || (!paused_ && !open_writes_.empty());
        };
        mu_.Await(absl::Condition(&ready));
        if (stopping_) return;
        done = std::move(open_writes_.front());
        open_writes_.pop_front();
      }
      done(true);
    }
  }

  absl::Mutex mu_;
  std::vector<v1::StreamResponse> events_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void(bool)>> open_writes_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  const bool block_first_deliver_;
  absl::Notification inside_deliver_;
  absl::Notification unblocked_;
  std::thread thread_;
};

class DeliveryFanOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto store = store::LogStore::Open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    DeliveryOptions options;
    options.store = store_.get();
    options.server_id = "relay.example";
    // A small ring and behind limit, so a stalled subscriber soon has to
    // continue from the log on disk.
    options.recent_entries = 64;
    options.behind_limit = 16;
    delivery_ = Delivery::Create(options);
    federation::FederationOptions federation_options;
    federation_options.server_id = "relay.example";
    federation_options.config_peers = {
        {"alpha.example", TestKey("server-alpha").PublicKeyHex(), {"*"}}};
    auto federation =
        federation::Federation::Open(store_.get(), &relay_key_, federation_options, delivery_.get());
    ASSERT_TRUE(federation.ok()) << federation.status();
    federation_ = *std::move(federation);
    delivery_->Start(federation_.get());
  }
  void TearDown() override {
    for (auto& subscription : subscriptions_) subscription->Cancel();
    if (delivery_ != nullptr) delivery_->Shutdown();
    if (federation_ != nullptr) federation_->Stop();
    for (auto& subscriber : subscribers_) subscriber->Stop();
  }

  void Subscribe(const std::string& name, std::shared_ptr<TestSubscriber> subscriber) {
    Principal principal;
    principal.identity = "key:" + name;
    principal.key_id = name;
    principal.full_access = true;
    v1::SubscribeRequest request;
    request.set_resume_from_event_id("0");
    subscribers_.push_back(subscriber);
    auto subscription = delivery_->SubscribeEvents(principal, request, std::move(subscriber));
    ASSERT_TRUE(subscription.ok()) << subscription.status();
    subscriptions_.push_back(*std::move(subscription));
  }

  // Submits `count` joins without waiting; `on_receipt` runs for each receipt.
  void SubmitJoins(int count, const std::function<void(uint64_t event_id)>& on_receipt) {
    for (int i = 0; i < count; ++i) {
      federation_->Submit(SignedJoin("alpha", absl::StrCat("fan-out-", serial_++), "g1", NowMs()),
                          [on_receipt](absl::StatusOr<federation::Accepted> accepted) {
                            ASSERT_TRUE(accepted.ok()) << accepted.status();
                            on_receipt(accepted->receipt.event_id());
                          });
    }
  }

  // Submits `count` joins and waits for every receipt; the last event id.
  uint64_t SubmitJoinsAndWait(int count) {
    absl::Mutex mu;
    int remaining = count;
    uint64_t last = 0;
    SubmitJoins(count, [&](uint64_t event_id) {
      absl::MutexLock lock(&mu);
      --remaining;
      last = std::max(last, event_id);
    });
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return remaining == 0; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), kStuck)) << remaining << " receipts missing";
    return last;
  }

  // The event id of every event in the log, in order: what a full-access
  // subscriber from 0 must get.
  std::vector<uint64_t> AllEventIds() const {
    std::vector<uint64_t> ids;
    const absl::Status scanned =
        store_->ScanLeaves(0, store_->Size(), [&](uint64_t, absl::string_view leaf) {
          v1::LogEntry entry;
          EXPECT_TRUE(entry.ParseFromArray(leaf.data(), static_cast<int>(leaf.size())));
          for (int i = 0; i < entry.events_size(); ++i) ids.push_back(entry.event_id());
          return true;
        });
    EXPECT_TRUE(scanned.ok()) << scanned;
    return ids;
  }

  testing::TempDir dir_{"fedrelay-fanout-"};
  const Ed25519PrivateKey relay_key_ = TestKey("relay");
  std::unique_ptr<store::LogStore> store_;
  decltype(Delivery::Create(DeliveryOptions())) delivery_;
  std::unique_ptr<federation::Federation> federation_;
  std::vector<std::shared_ptr<EventSubscription>> subscriptions_;
  std::vector<std::shared_ptr<TestSubscriber>> subscribers_;
  int serial_ = 0;
};

// A subscriber stuck inside Deliver holds its stream's lock; the writer never
// takes it, so every submission is still receipted.
TEST_F(DeliveryFanOutTest, ASubscriberBlockedInsideDeliverDoesNotHoldUpReceipts) {
  auto stuck = std::make_shared<TestSubscriber>(/*paused=*/false, /*block_first_deliver=*/true);
  Subscribe("stuck", stuck);
  SubmitJoinsAndWait(1);
  stuck->WaitInsideDeliver();

  const uint64_t last = SubmitJoinsAndWait(200);  // many writer batches, all while it is stuck
  EXPECT_EQ(stuck->received(), 1u) << "it is still inside its first Deliver";

  stuck->Unblock();
  EXPECT_THAT(stuck->WaitForEventId(last), ElementsAreArray(AllEventIds()));
}

// A subscriber that stops finishing writes falls behind the ring; another one
// gets everything meanwhile, and the stalled one later catches up from the
// log without a gap or a repeat, then follows live again.
TEST_F(DeliveryFanOutTest, ANonReadingSubscriberFallsBackToTheLogAndDelaysNoOne) {
  auto stalled = std::make_shared<TestSubscriber>(/*paused=*/true);
  auto reader = std::make_shared<TestSubscriber>(/*paused=*/false);
  Subscribe("stalled", stalled);
  Subscribe("reader", reader);

  uint64_t last = 0;
  for (int round = 0; round < 4; ++round) last = SubmitJoinsAndWait(50);  // > the ring of 64
  EXPECT_THAT(reader->WaitForEventId(last), ElementsAreArray(AllEventIds()));
  EXPECT_LE(stalled->received(), 1u) << "its first write never finished";

  stalled->Resume();
  EXPECT_THAT(stalled->WaitForEventId(last), ElementsAreArray(AllEventIds()));
  const uint64_t next = SubmitJoinsAndWait(1);
  EXPECT_THAT(stalled->WaitForEventId(next), ElementsAreArray(AllEventIds()));
  EXPECT_THAT(reader->WaitForEventId(next), ElementsAreArray(AllEventIds()));
}

// The value of a series in the process's metrics registry; -1 when absent.
double MetricValue(const std::string& series) {
  const std::string text = MetricsRegistry::Default().RenderText();
  const std::string prefix = series + " ";
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    if (text.compare(at, prefix.size(), prefix) == 0) {
      return std::stod(text.substr(at + prefix.size(), end - at - prefix.size()));
    }
    at = end + 1;
  }
  return -1;
}

// Two streams of one identity: the lag gauges follow the slower one, not
// whichever moved last.
TEST_F(DeliveryFanOutTest, TheLagOfAnIdentityWithTwoStreamsIsTheSlowerOnes) {
  auto stalled = std::make_shared<TestSubscriber>(/*paused=*/true);
  auto reader = std::make_shared<TestSubscriber>(/*paused=*/false);
  Subscribe("twin", stalled);
  Subscribe("twin", reader);
  const uint64_t last = SubmitJoinsAndWait(20);
  ASSERT_THAT(reader->WaitForEventId(last), ElementsAreArray(AllEventIds()));
  const std::string lag = "fedrelay_subscriber_lag_events{subscriber=\"key:twin\"}";
  EXPECT_GE(MetricValue(lag), 19) << "the stalled stream is 20 entries behind";

  stalled->Resume();
  ASSERT_THAT(stalled->WaitForEventId(last), ElementsAreArray(AllEventIds()));
  // Its last write's end reaches the gauges right after the event arrived.
  for (int i = 0; i < 6000 && MetricValue(lag) != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(MetricValue(lag), 0);
}

}  // namespace
}  // namespace fedrelay::relay
