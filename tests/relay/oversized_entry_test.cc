// A request whose log entry would exceed what one log leaf can hold (a C2SP
// entry bundle gives each leaf a 16-bit length: 65,535 bytes) is refused on
// its own as payload_too_large, over real gRPC, even when the text-length
// policy (rate_limits.max_message_length: 0) lets it through; requests sent
// alongside it, which may share its writer batch, are all logged.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::LogEntries;
using testing::MetricValue;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedJoin;
using testing::TestKey;
using testing::UnaryOutcome;

TEST(OversizedEntryTest, IsRefusedAloneAndTheRestOfItsBatchIsLogged) {
  ASSERT_TRUE(InitCrypto().ok());
  RelayProcess::Options options;
  options.rate_limits_yaml = "  max_message_length: 0\n";
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());
  const uint64_t size_before = LogEntries((*relay)->Channel()).size();
  const std::string series = "fedrelay_rejections_total{code=\"payload_too_large\"}";
  const double refused_before = MetricValue((*relay)->http_port(), series);

  // The display name is logged twice (request and member_joined event).
  const uint64_t now = NowMs();
  v1::FederationRequest big = SignedJoin("alpha", "big", "g-big", now);
  big.set_user_display_name(std::string(40000, 'n'));
  federation::SignFederationRequest(&big, TestKey("server-alpha"));

  constexpr int kOthers = 8;
  UnaryOutcome big_outcome;
  std::vector<UnaryOutcome> others(kOthers);
  std::vector<std::thread> senders;
  senders.emplace_back([&] {
    auto own = v1::FederationRelay::NewStub((*relay)->Channel());
    big_outcome = SendUnary(*own, big);
  });
  for (int i = 0; i < kOthers; ++i) {
    senders.emplace_back([&, i] {
      auto own = v1::FederationRelay::NewStub((*relay)->Channel());
      others[i] = SendUnary(*own, SignedJoin("alpha", absl::StrCat("small-", i), "g-small", now));
    });
  }
  for (std::thread& sender : senders) sender.join();

  EXPECT_EQ(big_outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(big_outcome.status.error_message(), ::testing::StartsWith("payload_too_large: "));
  EXPECT_EQ(big_outcome.receipt.event_id(), 0u);
  for (int i = 0; i < kOthers; ++i) {
    EXPECT_TRUE(others[i].status.ok()) << i << ": " << others[i].status.error_message();
  }
  const std::vector<v1::LogEntry> entries = LogEntries((*relay)->Channel());
  ASSERT_EQ(entries.size(), size_before + kOthers);
  for (int i = 0; i < kOthers; ++i) {
    const uint64_t event_id = others[i].receipt.event_id();
    ASSERT_GT(event_id, size_before);
    ASSERT_LE(event_id, entries.size());
    EXPECT_TRUE(testing::CheckReceiptFor(others[i].receipt, entries[event_id - 1]).ok());
  }
  EXPECT_EQ(MetricValue((*relay)->http_port(), series), refused_before + 1);

  // The relay goes on accepting, at the next event id.
  const UnaryOutcome next = SendUnary(*stub, SignedJoin("alpha", "next", "g-small", NowMs()));
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.receipt.event_id(), size_before + kOthers + 1);
}

}  // namespace
}  // namespace fedrelay
