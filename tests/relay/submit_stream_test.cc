// FederationRelay.Submit (SPEC section 4), the batch ingest stream, against
// the real fedrelayd: one typed result per submission, the same rules and
// effects as the unary RPCs, receipts for exactly what was logged.
#include <map>
#include <memory>
#include <set>
#include <string>
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

using testing::AsSubmission;
using testing::CheckReceiptFor;
using testing::LogEntries;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedAccept;
using testing::SignedBan;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::SignedProfile;
using testing::SignedReject;
using ::testing::StartsWith;
using testing::TestKey;

using Code = grpc::StatusCode;

// What one submission must get back.
struct Expected {
  std::string kind;        // LogEntry kind of an accepted submission
  std::string error_code;  // machine code of a refused one
  Code grpc_code = Code::OK;
  std::string same_as;  // correlation id of the submission it is a byte-identical copy of
};

Expected Accept(const std::string& kind) { return {kind, "", Code::OK, ""}; }
Expected Refuse(const std::string& code, Code grpc_code) { return {"", code, grpc_code, ""}; }
Expected CopyOf(const std::string& correlation_id) { return {"", "", Code::OK, correlation_id}; }

class SubmitStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = std::move(relay).value().release();
  }
  static void TearDownTestSuite() {
    delete relay_;
    relay_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(relay_, nullptr) << "the relay did not start";
    stub_ = v1::FederationRelay::NewStub(relay_->Channel());
  }

  static RelayProcess* relay_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
};

RelayProcess* SubmitStreamTest::relay_ = nullptr;

TEST_F(SubmitStreamTest, AHalfClosedMixedBatchGetsOneTypedResultPerSubmission) {
  constexpr int kSubmissions = 200;
  const uint64_t now = NowMs();

  // Invites the stream decides on, logged beforehand so that no decision
  // depends on the order the relay takes the stream's items in.
  for (int d = 0; d < kSubmissions / 10; ++d) {
    const auto logged = SendUnary(
        *stub_,
        SignedInvite(absl::StrCat("pre-", d), absl::StrCat("pa-", d), absl::StrCat("pb-", d), now));
    ASSERT_TRUE(logged.status.ok()) << logged.status.error_message();
  }
  const uint64_t size_before = LogEntries(relay_->Channel()).size();

  std::vector<v1::Submission> items;
  std::map<std::string, Expected> expected;
  const auto add = [&](v1::Submission item, Expected outcome) {
    item.set_correlation_id(absl::StrCat("item-", items.size()));
    expected[item.correlation_id()] = std::move(outcome);
    items.push_back(std::move(item));
  };
  for (int i = 0; i < kSubmissions; ++i) {
    const int d = i / 10;
    const std::string n = absl::StrCat(i);
    switch (i % 10) {
      case 0:
        add(AsSubmission("", SignedJoin("alpha", "join-" + n, "g1", now)),
            Accept("federation_request"));
        break;
      case 1:
        add(AsSubmission("", SignedJoin("beta", "join-" + n, "g2", now)),
            Accept("federation_request"));
        break;
      case 2:
        add(AsSubmission("", SignedMigration("mig-" + n, "https://beta.example", now)),
            Accept("migration"));
        break;
      case 3:
        add(AsSubmission("", SignedProfile("prof-" + n, "P " + n, now)), Accept("profile"));
        break;
      case 4:
        if (d % 2 == 0) {
          add(AsSubmission("", SignedInvite("inv-" + n, "ia-" + n, "ib-" + n, now)),
              Accept("dm_invite"));
        } else if (d % 4 == 1) {
          add(AsSubmission("", SignedAccept(absl::StrCat("pre-", d), absl::StrCat("pb-", d), now)),
              Accept("dm_accept"));
        } else {
          add(AsSubmission("", SignedReject(absl::StrCat("pre-", d), absl::StrCat("pb-", d), now)),
              Accept("dm_reject"));
        }
        break;
      case 5: {
        auto join = SignedJoin("alpha", "forged-" + n, "g1", now);
        join.set_user_display_name("Not Signed");
        add(AsSubmission("", join), Refuse("bad_signature", Code::UNAUTHENTICATED));
        break;
      }
      case 6:
        add(AsSubmission("", SignedJoin("gamma", "stranger-" + n, "g1", now)),
            Refuse("unknown_peer", Code::UNAUTHENTICATED));
        break;
      case 7:
        add(AsSubmission("", SignedBan("alpha", "old-" + n, "g1", now - 400000)),
            Refuse("stale_timestamp", Code::FAILED_PRECONDITION));
        break;
      case 8:
        add(AsSubmission("", SignedBan("beta", "ban-" + n, "g2", now)),
            Refuse("not_authorized", Code::PERMISSION_DENIED));
        break;
      case 9:
        switch (d % 6) {
          case 0:
            add(v1::Submission(), Refuse("malformed", Code::INVALID_ARGUMENT));
            break;
          case 1: {
            auto join = SignedJoin("alpha", "short-" + n, "g1", now);
            join.set_signature(join.signature().substr(0, 63));
            add(AsSubmission("", join), Refuse("malformed", Code::INVALID_ARGUMENT));
            break;
          }
          case 2: {
            auto join = SignedJoin("alpha", "mismatch-" + n, "g1", now);
            join.set_origin_server_pubkey(TestKey("server-beta").PublicKeyHex());
            federation::SignFederationRequest(&join, TestKey("server-beta"));
            add(AsSubmission("", join), Refuse("key_mismatch", Code::UNAUTHENTICATED));
            break;
          }
          case 3:
            add(AsSubmission("", SignedBan("alpha", "ban-" + n, "g3", now)), Accept("ban"));
            break;
          case 4: {
            // A byte-identical copy of this decade's first join.
            v1::Submission copy = items[items.size() - 9];
            const std::string original = copy.correlation_id();
            add(std::move(copy), CopyOf(original));
            break;
          }
          case 5:
            // The inviter is not the invite's target.
            add(AsSubmission("",
                             SignedAccept(absl::StrCat("pre-", d), absl::StrCat("pa-", d), now)),
                Refuse("not_invite_target", Code::PERMISSION_DENIED));
            break;
        }
        break;
    }
  }
  ASSERT_EQ(items.size(), static_cast<size_t>(kSubmissions));

  // Everything is written and the stream half-closed before reading anything.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub_->Submit(&context);
  for (const v1::Submission& item : items) ASSERT_TRUE(stream->Write(item));
  ASSERT_TRUE(stream->WritesDone());
  std::map<std::string, v1::SubmissionResult> results;
  v1::SubmissionResult result;
  while (stream->Read(&result)) {
    EXPECT_TRUE(results.emplace(result.correlation_id(), result).second)
        << "two results for " << result.correlation_id();
  }
  const grpc::Status finished = stream->Finish();
  ASSERT_TRUE(finished.ok()) << finished.error_message();
  ASSERT_EQ(results.size(), items.size()) << "every submission gets exactly one result";

  const std::vector<v1::LogEntry> entries = LogEntries(relay_->Channel());
  std::set<uint64_t> event_ids;
  for (const auto& [correlation_id, want] : expected) {
    SCOPED_TRACE(correlation_id);
    auto found = results.find(correlation_id);
    ASSERT_NE(found, results.end()) << "no result";
    const v1::SubmissionResult& got = found->second;
    if (!want.error_code.empty()) {
      ASSERT_TRUE(got.has_error()) << "accepted as event " << got.receipt().event_id();
      EXPECT_EQ(got.error().code(), want.error_code) << got.error().message();
      EXPECT_EQ(got.error().grpc_code(), static_cast<int>(want.grpc_code));
      EXPECT_THAT(got.error().message(), StartsWith(want.error_code + ": "));
      continue;
    }
    ASSERT_TRUE(got.has_receipt()) << got.error().code() << ": " << got.error().message();
    if (!want.same_as.empty()) {
      EXPECT_EQ(got.receipt().SerializeAsString(),
                results[want.same_as].receipt().SerializeAsString())
          << "a copy gets the original's receipt";
      continue;
    }
    const uint64_t event_id = got.receipt().event_id();
    EXPECT_TRUE(event_ids.insert(event_id).second) << "event id " << event_id << " given twice";
    ASSERT_GT(event_id, size_before);
    ASSERT_LE(event_id, entries.size());
    const v1::LogEntry& entry = entries[event_id - 1];
    EXPECT_EQ(entry.kind(), want.kind);
    const absl::Status receipt_ok = CheckReceiptFor(got.receipt(), entry);
    EXPECT_TRUE(receipt_ok.ok()) << receipt_ok;
  }
  EXPECT_EQ(entries.size(), size_before + event_ids.size())
      << "the log grew by something other than the accepted submissions";
}

TEST_F(SubmitStreamTest, ResultsFlowWhileTheStreamIsOpenAndMatchTheUnaryPath) {
  const uint64_t now = NowMs();
  const auto join = SignedJoin("alpha", "open-a", "g1", now);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub_->Submit(&context);

  // One at a time: each result arrives without the client half-closing.
  ASSERT_TRUE(stream->Write(AsSubmission("first", join)));
  v1::SubmissionResult first;
  ASSERT_TRUE(stream->Read(&first));
  EXPECT_EQ(first.correlation_id(), "first");
  ASSERT_TRUE(first.has_receipt()) << first.error().message();

  // The same request through the unary RPC is the same request.
  const auto unary = SendUnary(*stub_, join);
  ASSERT_TRUE(unary.status.ok()) << unary.status.error_message();
  EXPECT_EQ(unary.receipt.SerializeAsString(), first.receipt().SerializeAsString());

  // And a ban from a peer that may not ban in the guild fails as it would there.
  ASSERT_TRUE(stream->Write(AsSubmission("second", SignedBan("beta", "open-a", "g2", now))));
  v1::SubmissionResult second;
  ASSERT_TRUE(stream->Read(&second));
  EXPECT_EQ(second.correlation_id(), "second");
  ASSERT_TRUE(second.has_error());
  const auto unary_ban = SendUnary(*stub_, SignedBan("beta", "open-a", "g2", now));
  EXPECT_EQ(second.error().grpc_code(), static_cast<int>(unary_ban.status.error_code()));
  EXPECT_EQ(second.error().message(), unary_ban.status.error_message());

  ASSERT_TRUE(stream->WritesDone());
  v1::SubmissionResult extra;
  EXPECT_FALSE(stream->Read(&extra)) << "a result nobody asked for: " << extra.correlation_id();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(SubmitStreamTest, ASubmissionWithoutAnItemIsMalformed) {
  const std::string counter = "fedrelay_rejections_total{code=\"malformed\"}";
  const double counted = testing::MetricValue(relay_->http_port(), counter);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub_->Submit(&context);
  v1::Submission empty;
  empty.set_correlation_id("nothing");
  ASSERT_TRUE(stream->Write(empty));
  ASSERT_TRUE(stream->WritesDone());
  v1::SubmissionResult result;
  ASSERT_TRUE(stream->Read(&result));
  EXPECT_EQ(result.correlation_id(), "nothing");
  ASSERT_TRUE(result.has_error());
  EXPECT_EQ(result.error().code(), "malformed");
  EXPECT_EQ(result.error().grpc_code(), static_cast<int>(Code::INVALID_ARGUMENT));
  EXPECT_THAT(result.error().message(), StartsWith("malformed: "));
  EXPECT_FALSE(stream->Read(&result));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(testing::MetricValue(relay_->http_port(), counter), counted + 1);
}

TEST_F(SubmitStreamTest, AnEmptyStreamFinishesOk) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub_->Submit(&context);
  ASSERT_TRUE(stream->WritesDone());
  v1::SubmissionResult result;
  EXPECT_FALSE(stream->Read(&result));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace fedrelay
