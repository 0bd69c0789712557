// A peer sending at ten times its rate limit for seconds on end (issue 12,
// faults): it is held to about its rate with typed, retry-hinted refusals,
// while another peer sending at its own rate at the same time loses nothing.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::LogEntries;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedJoin;
using testing::UnaryOutcome;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

constexpr int kPerMinute = 120;  // message_rate_limit: 2 per second, bursts of 120
constexpr int kSeconds = 5;
constexpr auto kRatePeriod = std::chrono::milliseconds(60000 / kPerMinute);

struct Tally {
  int accepted = 0;
  int rate_limited = 0;
  int other = 0;
  uint64_t max_retry_after_ms = 0;
  bool every_refusal_hinted = true;
};

// Sends `count` joins of `peer`, one every `period`, and tallies the answers;
// with `until_limited`, stops at the first rate_limited refusal.
Tally Send(RelayProcess& relay, const std::string& peer, const std::string& prefix, int count,
           std::chrono::milliseconds period, bool until_limited = false) {
  auto stub = v1::FederationRelay::NewStub(relay.Channel());
  Tally tally;
  const auto start = Clock::now();
  for (int i = 0; i < count && !(until_limited && tally.rate_limited > 0); ++i) {
    std::this_thread::sleep_until(start + i * period);
    const UnaryOutcome outcome =
        SendUnary(*stub, SignedJoin(peer, absl::StrCat(prefix, "-", i), "g1", NowMs()));
    if (outcome.status.ok()) {
      ++tally.accepted;
      continue;
    }
    const bool limited = outcome.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                         absl::StartsWith(outcome.status.error_message(), "rate_limited: ");
    if (!limited) {
      ++tally.other;
      ADD_FAILURE() << peer << " request " << i << ": " << outcome.status.error_message();
      continue;
    }
    ++tally.rate_limited;
    uint64_t retry_after_ms = 0;
    const auto retry = outcome.trailers.find("retry-after-ms");
    if (retry == outcome.trailers.end() || !absl::SimpleAtoi(retry->second, &retry_after_ms) ||
        retry_after_ms == 0) {
      tally.every_refusal_hinted = false;
    }
    tally.max_retry_after_ms = std::max(tally.max_retry_after_ms, retry_after_ms);
  }
  return tally;
}

TEST(RateLimitFloodTest, APeerAtTenTimesItsRateIsHeldToItAndAnotherAtItsRateLosesNothing) {
  ASSERT_TRUE(InitCrypto().ok());
  RelayProcess::Options options;
  options.rate_limits_yaml = absl::StrCat("  message_rate_limit: ", kPerMinute, "\n");
  auto started = RelayProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RelayProcess> relay = *std::move(started);

  // alpha spends its burst first (until refused), so what follows measures its steady rate.
  const Tally burst =
      Send(*relay, "alpha", "burst", 4 * kPerMinute, std::chrono::milliseconds(0), /*until_limited=*/true);
  ASSERT_EQ(burst.rate_limited, 1);
  ASSERT_GE(burst.accepted, kPerMinute);

  // Then, for kSeconds, alpha sends ten times its rate while beta sends at its rate.
  const int alpha_count = 10 * kSeconds * kPerMinute / 60;  // 100
  const int beta_count = kSeconds * kPerMinute / 60;        // 10
  Tally alpha;
  std::thread flood([&] { alpha = Send(*relay, "alpha", "flood", alpha_count, kRatePeriod / 10); });
  const Tally beta = Send(*relay, "beta", "steady", beta_count, kRatePeriod);
  flood.join();

  // beta, at its rate, got every request in.
  EXPECT_EQ(beta.accepted, beta_count);
  EXPECT_EQ(beta.rate_limited, 0);
  // alpha got about its rate (2/s over the 5 s, give or take the refill during
  // its burst and scheduling on a loaded machine), the rest refused, typed, with
  // a retry hint of at most one token's refill.
  const int expected = kSeconds * kPerMinute / 60;  // 10
  EXPECT_GE(alpha.accepted, expected / 2) << "alpha was held below its rate";
  EXPECT_LE(alpha.accepted, 2 * expected + 2) << "alpha got through well above its rate";
  EXPECT_EQ(alpha.accepted + alpha.rate_limited, alpha_count);
  EXPECT_EQ(alpha.other, 0);
  EXPECT_TRUE(alpha.every_refusal_hinted) << "a rate_limited refusal without retry-after-ms";
  EXPECT_LE(alpha.max_retry_after_ms, 60000u / kPerMinute);
  // Exactly the accepted requests are in the log (the relay's own peer entries besides).
  const auto entries = LogEntries(relay->Channel());
  int joins = 0;
  for (const auto& entry : entries) joins += entry.has_federation_request() ? 1 : 0;
  EXPECT_EQ(joins, burst.accepted + alpha.accepted + beta.accepted);
  EXPECT_EQ(relay->Stop(), 0);
}

}  // namespace
}  // namespace fedrelay
