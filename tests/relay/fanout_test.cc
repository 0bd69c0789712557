// fedrelay-fanout nodes following a real sequencer through a real nats-server
// (docs/scale-out.md): the sequencer and two fan-out nodes, subscribers on
// each, the same events as the sequencer delivers (visibility and invite
// tokens included) without gaps, checkpoints only of a node's own tree,
// cursors shared between nodes, and kill -9 of a node, the sequencer and nats-server.
#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bus/nats_bus.h"
#include "common/temp_dir.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/bus_test_util.h"
#include "relay/fanout_fixture_util.h"
#include "relay/nats_server_util.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using testing::FanoutProcess;
using testing::HttpRequest;
using testing::LogSizeAt;
using testing::NatsServer;
using testing::NowMs;
using testing::PeerSubscriber;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::TempDir;
using testing::WaitFor;

// What a subscriber is compared on: the whole event, serialized.
std::vector<std::string> Serialized(const std::vector<v1::StreamResponse>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(event.SerializeAsString());
  return out;
}

// Event ids strictly increasing: no duplicate, no reordering.
void ExpectIncreasing(const std::vector<v1::StreamResponse>& events) {
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].event_id(), events[i - 1].event_id()) << "at " << i;
  }
}

uint64_t CheckpointSize(int http_port) {
  const auto response = HttpRequest(http_port, "GET", "/checkpoint");
  if (response.status != 200) return 0;
  // relay.example/log\n<size>\n<root>\n...
  const size_t first = response.body.find('\n');
  const size_t second = response.body.find('\n', first + 1);
  uint64_t size = 0;
  if (!absl::SimpleAtoi(response.body.substr(first + 1, second - first - 1), &size)) return 0;
  return size;
}

class FanoutTest : public testing::FanoutClusterTest {
 protected:
  uint64_t SequencerSize() const { return LogSizeAt(sequencer_->http_port()); }

  // Submits `count` joins; returns the last event id.
  uint64_t SubmitJoins(const std::string& tag, int count) {
    auto stub = v1::FederationRelay::NewStub(sequencer_->Channel());
    uint64_t last = 0;
    for (int i = 0; i < count; ++i) {
      auto outcome = SendUnary(*stub, SignedJoin("alpha", absl::StrCat(tag, "-", i), "g1", NowMs()));
      EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
      last = outcome.receipt.event_id();
    }
    return last;
  }
};

TEST_F(FanoutTest, TwoNodesServeWhatTheSequencerServesWithoutGaps) {
  auto node_a = StartNode("a");
  auto node_b = StartNode("b");
  ASSERT_NE(node_a, nullptr);
  ASSERT_NE(node_b, nullptr);

  auto stub = v1::FederationRelay::NewStub(sequencer_->Channel());
  // bob lives on beta, so beta (only) gets the invite to bob, with its token.
  ASSERT_TRUE(SendUnary(*stub, SignedMigration("fan-bob", "https://beta.example", NowMs())).status.ok());
  SubmitJoins("fan", 15);
  auto invite = SendUnary(*stub, SignedInvite("fan-inv-1", "fan-alice", "fan-bob", NowMs(),
                                             "fan-secret-token"));
  ASSERT_TRUE(invite.status.ok()) << invite.status.error_message();
  const uint64_t last = SubmitJoins("fan-more", 5);
  ASSERT_EQ(last, SequencerSize());

  // Each peer on the sequencer and on a fan-out node gets the same events.
  for (const std::string peer : {"alpha", "beta"}) {
    PeerSubscriber direct(sequencer_->Channel(), peer, "0");
    PeerSubscriber via_a(node_a->Channel(), peer, "0");
    PeerSubscriber via_b(node_b->Channel(), peer, "0");
    for (PeerSubscriber* subscriber : {&direct, &via_a, &via_b}) {
      ASSERT_EQ(subscriber->WaitAccepted(), 0u) << peer;
    }
    // Both peers see the last join (joins go to every peer).
    ASSERT_TRUE(direct.WaitForEventId(last)) << peer;
    ASSERT_TRUE(via_a.WaitForEventId(last)) << peer << "\n" << node_a->log_text();
    ASSERT_TRUE(via_b.WaitForEventId(last)) << peer << "\n" << node_b->log_text();
    ExpectIncreasing(direct.events());
    EXPECT_EQ(Serialized(via_a.events()), Serialized(direct.events())) << peer;
    EXPECT_EQ(Serialized(via_b.events()), Serialized(direct.events())) << peer;
    bool got_invite = false;
    for (const auto& event : via_b.events()) {
      if (event.has_dm_invite()) {
        got_invite = true;
        EXPECT_EQ(event.dm_invite().token(), "fan-secret-token");
      }
    }
    EXPECT_EQ(got_invite, peer == "beta") << peer;
  }

  // A node serves a checkpoint of its own tree, as the sequencer signed it.
  ASSERT_TRUE(WaitFor([&] { return CheckpointSize(node_a->http_port()) == last; }));
  const auto from_node = HttpRequest(node_a->http_port(), "GET", "/checkpoint");
  ASSERT_TRUE(WaitFor([&] { return CheckpointSize(sequencer_->http_port()) == last; }));
  EXPECT_EQ(from_node.body, HttpRequest(sequencer_->http_port(), "GET", "/checkpoint").body);
  EXPECT_EQ(HttpRequest(node_a->http_port(), "GET", "/readyz").status, 200);
  // Tiles are the sequencer's, byte for byte.
  const std::string tile = absl::StrCat("/tile/0/000.p/", last);
  EXPECT_EQ(HttpRequest(node_b->http_port(), "GET", tile).body,
            HttpRequest(sequencer_->http_port(), "GET", tile).body);

  // Submissions belong to the sequencer.
  auto node_stub = v1::FederationRelay::NewStub(node_a->Channel());
  auto refused = SendUnary(*node_stub, SignedJoin("alpha", "fan-refused", "g1", NowMs()));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("fan-out node"));

  // A stray SIGHUP is logged and ignored, as by fedrelayd; SIGTERM stops it cleanly.
  ASSERT_EQ(kill(node_b->pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(node_b->log_text(), "received SIGHUP: ignored"); }));
  EXPECT_EQ(HttpRequest(node_b->http_port(), "GET", "/readyz").status, 200);
  EXPECT_EQ(node_b->Stop(), 0);
  EXPECT_THAT(node_b->log_text(), HasSubstr("shutdown complete"));
}

TEST_F(FanoutTest, CursorsMoveAcrossNodes) {
  auto node_a = StartNode("a");
  auto node_b = StartNode("b");
  ASSERT_NE(node_a, nullptr);
  ASSERT_NE(node_b, nullptr);
  const uint64_t last = SubmitJoins("cursor", 10);
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node_a->http_port()) == last; }));
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node_b->http_port()) == last; }));

  auto acknowledge = [](const FanoutProcess& node, uint64_t event_id) {
    auto stub = v1::FederationRelay::NewStub(node.Channel());
    grpc::ClientContext context;
    testing::AddPeerCallSignature(context, "alpha", "/fedrelay.v1.FederationRelay/Acknowledge");
    v1::AcknowledgeRequest ack;
    ack.set_event_id(event_id);
    v1::AcknowledgeResponse acked;
    const grpc::Status status = stub->Acknowledge(&context, ack, &acked);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return acked.event_id();
  };
  // alpha reads on node a from the start, and acknowledges there ...
  {
    PeerSubscriber first(node_a->Channel(), "alpha", "");
    EXPECT_EQ(first.WaitAccepted(), 0u);
    ASSERT_TRUE(first.WaitForEventId(last));
  }
  EXPECT_EQ(acknowledge(*node_a, last - 3), last - 3);

  // ... and resumes on node b right after it, without a gap.
  PeerSubscriber resumed(node_b->Channel(), "alpha", "");
  EXPECT_EQ(resumed.WaitAccepted(), last - 3);
  ASSERT_TRUE(resumed.WaitForEventId(last));
  const auto events = resumed.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event_id(), last - 2);
  ExpectIncreasing(events);

  // Acknowledged on node b, a late older ack on node a changes nothing, and
  // node a resumes alpha from node b's cursor (nothing cached from before).
  EXPECT_EQ(acknowledge(*node_b, last), last);
  EXPECT_EQ(acknowledge(*node_a, last - 5), last);
  PeerSubscriber back_on_a(node_a->Channel(), "alpha", "");
  EXPECT_EQ(back_on_a.WaitAccepted(), last);
}

TEST_F(FanoutTest, KillingANodeTheSequencerOrNatsLosesNothing) {
  auto node = StartNode("a");
  ASSERT_NE(node, nullptr);
  uint64_t last = SubmitJoins("kill", 10);
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node->http_port()) == last; }));

  // kill -9 the node while the log grows; it resumes from its own log.
  node->Kill();
  last = SubmitJoins("kill-node", 10);
  ASSERT_TRUE(node->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node->http_port()) == last; })) << node->log_text();

  // kill -9 the sequencer right after receipts; the restarted one republishes
  // whatever the stream lacks, and the node follows on.
  last = SubmitJoins("kill-seq", 10);
  sequencer_->Kill();
  ASSERT_TRUE(sequencer_->Restart().ok());
  last = std::max(last, SubmitJoins("after-restart", 3));
  ASSERT_EQ(last, SequencerSize());
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node->http_port()) == last; })) << node->log_text();

  // kill -9 nats-server: the sequencer keeps answering, and once NATS is back
  // (it may have lost its unsynced tail) the node follows on.
  nats_->Kill();
  last = SubmitJoins("nats-down", 5);
  ASSERT_TRUE(nats_->Restart().ok());
  last = std::max(last, SubmitJoins("nats-back", 2));
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node->http_port()) == last; }, std::chrono::seconds(30)))
      << node->log_text();
  ASSERT_TRUE(WaitFor([&] {
    return testing::Metric(sequencer_->http_port(), "fedrelay_bus_published_event_id") ==
           static_cast<double>(last);
  }));

  // A subscriber from the start sees every event exactly once.
  PeerSubscriber alpha(node->Channel(), "alpha", "0");
  ASSERT_TRUE(alpha.WaitForEventId(last));
  PeerSubscriber direct(sequencer_->Channel(), "alpha", "0");
  ASSERT_TRUE(direct.WaitForEventId(last));
  EXPECT_EQ(Serialized(alpha.events()), Serialized(direct.events()));
  ExpectIncreasing(alpha.events());
}

TEST_F(FanoutTest, ANodeNeverServesAnEntryTheRulesRefuse) {
  const uint64_t last = SubmitJoins("forged", 3);
  auto bus = bus::NatsBus::Connect(nats_->url(), "fanout test", 5000);
  ASSERT_TRUE(bus.ok()) << bus.status();
  const bus::BusNames names = bus::BusNames::From("FEDRELAY_LOG", "fedrelay");
  ASSERT_TRUE(WaitFor([&] {
    auto stream_last = (*bus)->LastSequence(names.stream);
    return stream_last.ok() && *stream_last == last;
  }));
  // Someone with write access to the stream appends an entry the relay never
  // signed: event last + 1, a join by alpha signed with beta's key.
  ASSERT_EQ(sequencer_->Stop(), 0);
  v1::LogEntry forged;
  forged.set_event_id(last + 1);
  forged.set_received_at(NowMs());
  forged.set_kind("federation_request");
  *forged.mutable_federation_request() = SignedJoin("alpha", "forged-user", "g1", NowMs());
  forged.mutable_federation_request()->set_signature(std::string(64, '\x01'));
  ASSERT_TRUE((*bus)->Publish(names.log_subject, forged.SerializeAsString(), "", last, nullptr).ok());

  auto node = StartNode("a");
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    return HttpRequest(node->http_port(), "GET", "/readyz").body.find("refused") != std::string::npos;
  })) << node->log_text();
  EXPECT_EQ(LogSizeAt(node->http_port()), last) << "the node serves the log up to the forged entry";
  EXPECT_THAT(node->log_text(), HasSubstr("stopped following"));
}

TEST_F(FanoutTest, HelpAndBadFlags) {
  auto help = testing::RunTool({testing::BinaryPath("fanout/fedrelay-fanout"), "--help"}, dir_.path());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--nats-url URL"));
  auto missing = testing::RunTool({testing::BinaryPath("fanout/fedrelay-fanout"), "--nats-url",
                                   nats_->url()},
                                  dir_.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("missing --relay-pubkey"));
  // Nothing listens on port 1: a clear start-up error, exit 1.
  auto unreachable = testing::RunTool(
      {testing::BinaryPath("fanout/fedrelay-fanout"), "--nats-url", "nats://127.0.0.1:1",
       "--relay-pubkey", testing::TestKey("relay").PublicKeyHex(), "--server-id", "relay.example",
       "--origin", "relay.example/log", "--data-dir", dir_.path() + "/unreachable"},
      dir_.path());
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.out + unreachable.err, HasSubstr("cannot reach NATS at nats://127.0.0.1:1"));
}

}  // namespace
}  // namespace fedrelay
