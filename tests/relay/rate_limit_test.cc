// Per-origin and per-address rate limits as a peer meets them (split from
// rejections_test.cc): each test starts a relay of its own with small limits.
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/signing.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::AsSubmission;
using ::testing::HasSubstr;
using testing::LogEntries;
using testing::MetricValue;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedAccept;
using testing::SignedBan;
using testing::SignedCert;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::SignedProfile;
using testing::SignedReject;
using ::testing::StartsWith;
using testing::TestKey;
using testing::UnaryOutcome;
using testing::UserId;

using Code = grpc::StatusCode;

class RateLimitTest : public ::testing::Test {
 protected:
  static constexpr int kPerMinute = 2;

  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    RelayProcess::Options options;
    options.rate_limits_yaml = absl::StrCat("  message_rate_limit: ", kPerMinute, "\n",
                                            "  ping_rate_limit: ", kPerMinute, "\n",
                                            "  discovery_rate_limit: ", kPerMinute, "\n");
    auto relay = RelayProcess::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    stub_ = v1::FederationRelay::NewStub(relay_->Channel());
  }

  std::unique_ptr<RelayProcess> relay_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
};

TEST_F(RateLimitTest, AnOriginOverItsLimitIsToldWhenToRetryAndOthersAreUnaffected) {
  const uint64_t now = NowMs();
  for (int i = 0; i < kPerMinute; ++i) {
    UnaryOutcome outcome =
        SendUnary(*stub_, SignedJoin("alpha", absl::StrCat("rate-", i), "g1", now));
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  }
  const uint64_t size = LogEntries(relay_->Channel()).size();

  const std::string counter = "fedrelay_rejections_total{code=\"rate_limited\"}";
  const double counted = MetricValue(relay_->http_port(), counter);
  const UnaryOutcome limited = SendUnary(*stub_, SignedJoin("alpha", "rate-x", "g1", now));
  EXPECT_EQ(limited.status.error_code(), Code::RESOURCE_EXHAUSTED)
      << limited.status.error_message();
  EXPECT_THAT(limited.status.error_message(), StartsWith("rate_limited: "));
  auto retry = limited.trailers.find("retry-after-ms");
  ASSERT_NE(retry, limited.trailers.end()) << "no retry-after-ms trailer";
  uint64_t retry_after_ms = 0;
  ASSERT_TRUE(absl::SimpleAtoi(retry->second, &retry_after_ms)) << retry->second;
  EXPECT_GT(retry_after_ms, 0u);
  EXPECT_LE(retry_after_ms, 60000u / kPerMinute) << "one token refills in 60 s / limit";
  EXPECT_EQ(LogEntries(relay_->Channel()).size(), size) << "a rate-limited request was logged";
  EXPECT_EQ(MetricValue(relay_->http_port(), counter), counted + 1);

  // Bans from the same origin share its budget.
  EXPECT_EQ(SendUnary(*stub_, SignedBan("alpha", "rate-x", "g1", now)).status.error_code(),
            Code::RESOURCE_EXHAUSTED);

  // The limit is per origin: beta.example has its whole budget.
  for (int i = 0; i < kPerMinute; ++i) {
    UnaryOutcome outcome =
        SendUnary(*stub_, SignedJoin("beta", absl::StrCat("rate-b", i), "g1", now));
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  }
  EXPECT_EQ(LogEntries(relay_->Channel()).size(), size + kPerMinute);
}

// Ping and GetServerInfo are limited per client address (not per connection),
// with the same typed error, retry delay and refusal counter as the write RPCs.
TEST_F(RateLimitTest, PingAndServerInfoAreLimitedAndCounted) {
  const std::string counter = "fedrelay_rejections_total{code=\"rate_limited\"}";
  const double counted = MetricValue(relay_->http_port(), counter);
  for (int i = 0; i < kPerMinute; ++i) {
    grpc::ClientContext ping_context;
    v1::PongResponse pong;
    ASSERT_TRUE(stub_->Ping(&ping_context, {}, &pong).ok());
    grpc::ClientContext info_context;
    v1::ServerInfoResponse info;
    ASSERT_TRUE(stub_->GetServerInfo(&info_context, {}, &info).ok());
  }
  grpc::ClientContext ping_context;
  v1::PongResponse pong;
  const grpc::Status ping = stub_->Ping(&ping_context, {}, &pong);
  EXPECT_EQ(ping.error_code(), Code::RESOURCE_EXHAUSTED);
  EXPECT_THAT(ping.error_message(), StartsWith("rate_limited: ping_rate_limit"));
  EXPECT_NE(ping_context.GetServerTrailingMetadata().find("retry-after-ms"),
            ping_context.GetServerTrailingMetadata().end());
  grpc::ClientContext info_context;
  v1::ServerInfoResponse info;
  const grpc::Status limited_info = stub_->GetServerInfo(&info_context, {}, &info);
  EXPECT_EQ(limited_info.error_code(), Code::RESOURCE_EXHAUSTED);
  EXPECT_THAT(limited_info.error_message(), StartsWith("rate_limited: discovery_rate_limit"));
  EXPECT_EQ(MetricValue(relay_->http_port(), counter), counted + 2);

  // A new connection (its own subchannel, so its own TCP connection and
  // port) from the same address is still over the limit.
  grpc::ChannelArguments fresh_connection;
  fresh_connection.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto other_stub = v1::FederationRelay::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", relay_->grpc_port()), grpc::InsecureChannelCredentials(),
      fresh_connection));
  grpc::ClientContext other_context;
  const grpc::Status other = other_stub->Ping(&other_context, {}, &pong);
  EXPECT_EQ(other.error_code(), Code::RESOURCE_EXHAUSTED) << other.error_message();
}

TEST_F(RateLimitTest, TheSubmitStreamSharesTheBudgetAndReportsTheTypedError) {
  const uint64_t now = NowMs();
  grpc::ClientContext context;
  auto stream = stub_->Submit(&context);
  for (int i = 0; i < kPerMinute + 1; ++i) {
    ASSERT_TRUE(stream->Write(AsSubmission(
        absl::StrCat("c", i), SignedJoin("alpha", absl::StrCat("rs-", i), "g1", now))));
  }
  ASSERT_TRUE(stream->WritesDone());
  int receipts = 0;
  std::vector<v1::SubmissionError> errors;
  v1::SubmissionResult result;
  while (stream->Read(&result)) {
    if (result.has_receipt()) ++receipts;
    if (result.has_error()) errors.push_back(result.error());
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(receipts, kPerMinute);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), "rate_limited");
  EXPECT_EQ(errors[0].grpc_code(), static_cast<int>(Code::RESOURCE_EXHAUSTED));
  EXPECT_THAT(errors[0].message(), StartsWith("rate_limited: "));
  EXPECT_THAT(errors[0].message(), HasSubstr("retry after"));
  EXPECT_GT(errors[0].retry_after_ms(), 0u);
  EXPECT_LE(errors[0].retry_after_ms(), 60000u / kPerMinute) << "one token refills in 60 s / limit";
}

}  // namespace
}  // namespace fedrelay
