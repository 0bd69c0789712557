// The sequencer's JetStream copy of the log (bus.nats_url, docs/scale-out.md),
// against a real nats-server started by the test: stream sequence == event_id
// with no gaps, republishing what the stream lacks, crashes of the relay and of
// nats-server, a refused stale sequencer, and nothing at all without the bus.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bus/kv_cursors.h"
#include "bus/log_publisher.h"
#include "bus/nats_bus.h"
#include "common/temp_dir.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/bus_test_util.h"
#include "relay/nats_server_util.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "store/merkle.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::NatsServer;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::TempDir;
using testing::WaitFor;

const bus::BusNames kNames = bus::BusNames::From("FEDRELAY_LOG", "fedrelay");

double Metric(const RelayProcess& relay, const std::string& name) {
  return testing::Metric(relay.http_port(), name);
}

uint64_t LogSize(const RelayProcess& relay) { return testing::LogSizeAt(relay.http_port()); }

std::string BusYaml(const NatsServer& nats) {
  return absl::StrCat("bus:\n  nats_url: ", nats.url(), "\n");
}

// The stream's last sequence (0 when it is missing or NATS is away).
uint64_t StreamLast(bus::NatsBus& bus) {
  auto last = bus.LastSequence(kNames.stream);
  return last.ok() ? *last : 0;
}

class BusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FEDRELAY_REQUIRE_NATS_SERVER();
    auto nats = NatsServer::Start(dir_.path());
    ASSERT_TRUE(nats.ok()) << nats.status();
    nats_ = std::move(*nats);
    auto bus = bus::NatsBus::Connect(nats_->url(), "bus test", 5000);
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = std::move(*bus);
  }

  std::unique_ptr<RelayProcess> StartRelay(bool with_bus = true) {
    RelayProcess::Options options;
    if (with_bus) options.extra_yaml = BusYaml(*nats_);
    auto relay = RelayProcess::Start(options);
    EXPECT_TRUE(relay.ok()) << relay.status();
    return relay.ok() ? std::move(*relay) : nullptr;
  }

  // Submits `count` joins; returns their receipts.
  static std::vector<v1::RelayReceipt> Submit(const RelayProcess& relay, const std::string& tag,
                                              int count) {
    auto stub = v1::FederationRelay::NewStub(relay.Channel());
    std::vector<v1::RelayReceipt> receipts;
    for (int i = 0; i < count; ++i) {
      auto outcome = SendUnary(*stub, SignedJoin("alpha", absl::StrCat(tag, "-", i), "g1", NowMs()));
      EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
      if (outcome.status.ok()) receipts.push_back(outcome.receipt);
    }
    return receipts;
  }

  // Every message 1..last is the entry with that event_id, and every receipt's
  // leaf hash is that of the message at its event_id.
  void ExpectStreamIsTheLog(const std::vector<v1::RelayReceipt>& receipts) {
    const uint64_t last = StreamLast(*bus_);
    std::vector<std::string> messages(last + 1);
    for (uint64_t seq = 1; seq <= last; ++seq) {
      auto message = bus_->GetMessage(kNames.stream, seq);
      ASSERT_TRUE(message.ok()) << message.status();
      ASSERT_TRUE(message->has_value()) << "gap at stream sequence " << seq;
      v1::LogEntry entry;
      ASSERT_TRUE(entry.ParseFromString(**message)) << seq;
      EXPECT_EQ(entry.event_id(), seq);
      messages[seq] = **message;
    }
    for (const v1::RelayReceipt& receipt : receipts) {
      ASSERT_LE(receipt.event_id(), last) << "a receipted entry is missing from the stream";
      EXPECT_EQ(store::HashLeaf(messages[receipt.event_id()]), receipt.leaf_hash())
          << "event " << receipt.event_id();
    }
  }

  TempDir dir_{"fedrelay-bus-"};
  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<bus::NatsBus> bus_;
};

TEST_F(BusTest, EveryDurableEntryIsOnTheStreamAtItsEventId) {
  auto relay = StartRelay();
  ASSERT_NE(relay, nullptr);
  std::vector<v1::RelayReceipt> receipts = Submit(*relay, "copy", 20);
  ASSERT_EQ(receipts.size(), 20u);
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*relay); }))
      << "stream " << StreamLast(*bus_) << " log " << LogSize(*relay);
  ExpectStreamIsTheLog(receipts);
  EXPECT_TRUE(WaitFor([&] {
    return Metric(*relay, "fedrelay_bus_published_event_id") == static_cast<double>(LogSize(*relay));
  }));
  EXPECT_EQ(Metric(*relay, "fedrelay_bus_refused"), 0);

  // The signed checkpoint follows the entries it covers.
  ASSERT_TRUE(WaitFor([&] {
    auto note = bus_->GetLastMessage(kNames.checkpoint_stream, kNames.checkpoint_subject);
    return note.ok() && note->has_value() &&
           absl::StrContains(**note, absl::StrCat("\n", LogSize(*relay), "\n"));
  }));

  // A DM invite's token travels on the tokens stream, never in the log.
  auto stub = v1::FederationRelay::NewStub(relay->Channel());
  auto invite = SendUnary(*stub, SignedInvite("bus-inv-1", "bus-alice", "bus-bob", NowMs(),
                                             "bus-secret-token-1"));
  ASSERT_TRUE(invite.status.ok()) << invite.status.error_message();
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == invite.receipt.event_id(); }));
  auto logged = bus_->GetMessage(kNames.stream, invite.receipt.event_id());
  ASSERT_TRUE(logged.ok() && logged->has_value());
  EXPECT_THAT(**logged, ::testing::Not(HasSubstr("bus-secret-token-1")));
  auto token = bus_->GetLastMessage(kNames.tokens_stream, bus::TokenSubject(kNames, "bus-inv-1"));
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_TRUE(token->has_value());
  EXPECT_EQ(**token, "bus-secret-token-1");
}

TEST_F(BusTest, RestartRepublishesWhatTheStreamLacks) {
  auto relay = StartRelay();
  ASSERT_NE(relay, nullptr);
  std::vector<v1::RelayReceipt> receipts = Submit(*relay, "rebuild", 8);
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*relay); }));
  ASSERT_EQ(relay->Stop(), 0);

  // The stream is a copy: lost entirely, it is rebuilt from the log.
  ASSERT_TRUE(bus_->DeleteStream(kNames.stream).ok());
  ASSERT_TRUE(relay->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*relay) && LogSize(*relay) > 0; }));
  ExpectStreamIsTheLog(receipts);
  EXPECT_THAT(relay->log_text(), HasSubstr("holds 0 of"));
}

TEST_F(BusTest, CrashesOfTheSequencerAndOfNatsLoseNoReceiptedEntry) {
  auto relay = StartRelay();
  ASSERT_NE(relay, nullptr);
  std::vector<v1::RelayReceipt> receipts = Submit(*relay, "crash", 30);
  relay->Kill();  // kill -9 right after the last receipt
  ASSERT_TRUE(relay->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*relay); }));
  ExpectStreamIsTheLog(receipts);

  // NATS away: receipts are still answered (the stream only lags), and the
  // copy catches up once it is back, also after losing its unsynced tail.
  nats_->Kill();
  std::vector<v1::RelayReceipt> while_away = Submit(*relay, "away", 5);
  ASSERT_EQ(while_away.size(), 5u);
  ASSERT_TRUE(nats_->Restart().ok());
  auto bus = bus::NatsBus::Connect(nats_->url(), "bus test", 5000);
  ASSERT_TRUE(bus.ok()) << bus.status();
  bus_ = std::move(*bus);
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*relay); }))
      << "stream " << StreamLast(*bus_) << " log " << LogSize(*relay) << "\n" << relay->log_text();
  receipts.insert(receipts.end(), while_away.begin(), while_away.end());
  ExpectStreamIsTheLog(receipts);
}

TEST_F(BusTest, AStaleSequencerIsRefused) {
  auto first = StartRelay();
  ASSERT_NE(first, nullptr);
  std::vector<v1::RelayReceipt> receipts = Submit(*first, "first", 6);
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*first); }));
  const uint64_t first_size = LogSize(*first);

  // A second relay with a shorter log of its own on the same stream.
  auto second = StartRelay();
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Metric(*second, "fedrelay_bus_refused") == 1; }))
      << second->log_text();
  auto ready = HttpRequest(second->http_port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("refused this relay as sequencer"));
  EXPECT_THAT(second->log_text(), HasSubstr("refusing to publish"));

  // Grown past the stream, with other entries than it holds: still refused,
  // also after a restart; the stream keeps the first relay's log.
  Submit(*second, "second", static_cast<int>(first_size) + 3);
  ASSERT_GT(LogSize(*second), first_size);
  ASSERT_TRUE(second->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return Metric(*second, "fedrelay_bus_refused") == 1; }));
  EXPECT_EQ(StreamLast(*bus_), first_size);
  ExpectStreamIsTheLog(receipts);

  // The rightful sequencer carries on.
  std::vector<v1::RelayReceipt> more = Submit(*first, "first-more", 2);
  ASSERT_TRUE(WaitFor([&] { return StreamLast(*bus_) == LogSize(*first); }));
  receipts.insert(receipts.end(), more.begin(), more.end());
  ExpectStreamIsTheLog(receipts);
}

TEST_F(BusTest, WithoutNatsUrlNothingIsPublished) {
  auto relay = StartRelay(/*with_bus=*/false);
  ASSERT_NE(relay, nullptr);
  ASSERT_EQ(Submit(*relay, "nobus", 3).size(), 3u);
  EXPECT_TRUE(absl::IsNotFound(bus_->LastSequence(kNames.stream).status()));
  EXPECT_EQ(Metric(*relay, "fedrelay_bus_published_event_id"), -1) << "no bus metrics";
}

TEST_F(BusTest, SharedCursorsOnlyMoveForwardUnderConcurrentAcks) {
  // Two nodes (two connections) acknowledge for the same subscriber at once.
  auto other = bus::NatsBus::Connect(nats_->url(), "bus test 2", 5000);
  ASSERT_TRUE(other.ok()) << other.status();
  auto node_a = bus::KvCursors::Open(bus_.get(), kNames.cursor_bucket);
  auto node_b = bus::KvCursors::Open(other->get(), kNames.cursor_bucket);
  ASSERT_TRUE(node_a.ok()) << node_a.status();
  ASSERT_TRUE(node_b.ok()) << node_b.status();
  const std::string identity = "peer:alpha.example";
  EXPECT_EQ(*(*node_a)->Get(identity), 0u);

  auto ack_all = [&](bus::KvCursors& cursors, uint64_t first) {
    for (uint64_t id = first; id <= 200; id += 2) {
      auto after = cursors.Advance(identity, id);
      ASSERT_TRUE(after.ok()) << after.status();
      EXPECT_GE(*after, id);
    }
  };
  std::thread a([&] { ack_all(**node_a, 1); });
  std::thread b([&] { ack_all(**node_b, 2); });
  a.join();
  b.join();
  EXPECT_EQ(*(*node_a)->Get(identity), 200u);
  EXPECT_EQ(*(*node_b)->Get(identity), 200u);
  // An older ack (a late duplicate) leaves it where it is.
  EXPECT_EQ(*(*node_b)->Advance(identity, 150), 200u);
  EXPECT_EQ(*(*node_a)->Get(identity), 200u);
  EXPECT_EQ(*(*node_a)->Get("peer:beta.example"), 0u);
}

}  // namespace
}  // namespace fedrelay
