// Bytes that are not the method's protobuf message, sent with a raw gRPC
// client (protocol section 5): every unary and server-streaming method of the
// public services answers INVALID_ARGUMENT with the machine code `malformed`,
// an unparsable frame in a Submit stream gets its own `malformed` result while
// the frames around it are handled, and the relay keeps serving.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::NowMs;
using testing::RelayProcess;
using testing::SignedJoin;
using ::testing::StartsWith;

// Each is no valid encoding of any message: a field with wire type 7, a
// length prefix running past the end, and a varint that never ends.
const std::vector<std::string>& GarbageSamples() {
  static const auto* samples = new std::vector<std::string>{
      std::string("\x0f\x01\x02", 3), std::string("\x0a\x05" "ab", 4),
      std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11)};
  return *samples;
}

grpc::ByteBuffer Bytes(const std::string& data) {
  grpc::Slice slice(data);
  return grpc::ByteBuffer(&slice, 1);
}

grpc::ByteBuffer Encode(const v1::Submission& message) {
  grpc::ByteBuffer out;
  bool own = false;
  EXPECT_TRUE(grpc::SerializationTraits<v1::Submission>::Serialize(message, &out, &own).ok());
  return out;
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return context;
}

grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& request) {
  grpc::GenericStub stub(channel);
  auto context = ContextWithDeadline();
  grpc::ByteBuffer in = Bytes(request), out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &in, &out,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

// A server-streaming call: the status it ends with after reading everything.
grpc::Status RawServerStream(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& method, const std::string& request) {
  auto context = ContextWithDeadline();
  const grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING);
  grpc::ByteBuffer in = Bytes(request);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), rpc,
                                                                   context.get(), in));
  grpc::ByteBuffer message;
  while (reader->Read(&message)) {
  }
  return reader->Finish();
}

class HostileBytesTest : public ::testing::Test {
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
  static RelayProcess* relay_;
};
RelayProcess* HostileBytesTest::relay_ = nullptr;

TEST_F(HostileBytesTest, EveryUnaryMethodAnswersMalformedToUnparsableBytes) {
  const std::vector<std::string> methods = {
      "/fedrelay.v1.FederationRelay/Federate",
      "/fedrelay.v1.FederationRelay/PropagateBan",
      "/fedrelay.v1.FederationRelay/ReceiveDMInvite",
      "/fedrelay.v1.FederationRelay/AcceptDMInvite",
      "/fedrelay.v1.FederationRelay/RejectDMInvite",
      "/fedrelay.v1.FederationRelay/UpdateHomeServer",
      "/fedrelay.v1.FederationRelay/UpdateFederatedProfile",
      "/fedrelay.v1.FederationRelay/Acknowledge",
      "/fedrelay.v1.FederationRelay/Ping",
      "/fedrelay.v1.FederationRelay/GetServerInfo",
      "/fedrelay.v1.AuditLog/GetCheckpoint",
      "/fedrelay.v1.AuditLog/GetInclusionProof",
      "/fedrelay.v1.AuditLog/GetConsistencyProof",
  };
  for (const std::string& method : methods) {
    for (const std::string& garbage : GarbageSamples()) {
      const grpc::Status status = RawUnary(relay_->Channel(), method, garbage);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
      EXPECT_THAT(status.error_message(), StartsWith("malformed: ")) << method;
    }
  }
}

TEST_F(HostileBytesTest, ServerStreamingMethodsAnswerMalformedToUnparsableBytes) {
  for (const std::string& method :
       {std::string("/fedrelay.v1.AuditLog/GetEntries"),
        std::string("/fedrelay.v1.FederationRelay/Subscribe")}) {
    const grpc::Status status = RawServerStream(relay_->Channel(), method, GarbageSamples()[0]);
    // Subscribe checks credentials before it reads the request (protocol
    // section 4): without any it is UNAUTHENTICATED, never UNIMPLEMENTED.
    if (method.ends_with("Subscribe")) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
      continue;
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(status.error_message(), StartsWith("malformed: ")) << method;
  }
}

TEST_F(HostileBytesTest, ValidRequestsStillWorkAfterwards) {
  // The interceptor rewrites only the calls whose request did not parse.
  v1::FederationRelay::Stub stub(relay_->Channel());
  grpc::ClientContext context;
  v1::PingRequest ping;
  v1::PongResponse pong;
  ASSERT_TRUE(stub.Ping(&context, ping, &pong).ok());
  EXPECT_GT(pong.timestamp(), 0u);
  // A valid request the handler refuses keeps the handler's own code.
  grpc::ClientContext audit_context;
  v1::AuditLog::Stub audit(relay_->Channel());
  v1::InclusionProofRequest request;
  request.set_leaf_index(1000000);
  request.set_tree_size(2000000);
  v1::InclusionProof proof;
  const grpc::Status status = audit.GetInclusionProof(&audit_context, request, &proof);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("beyond the log size"));
}

TEST_F(HostileBytesTest, UnparsableSubmitFrameGetsItsOwnErrorAndTheStreamGoesOn) {
  auto context = ContextWithDeadline();
  const grpc::internal::RpcMethod rpc("/fedrelay.v1.FederationRelay/Submit",
                                      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          relay_->Channel().get(), rpc, context.get()));
  v1::Submission before, after;
  before.set_correlation_id("before");
  *before.mutable_federation_request() = SignedJoin("alpha", "hostile-before", "g1", NowMs());
  after.set_correlation_id("after");
  *after.mutable_federation_request() = SignedJoin("alpha", "hostile-after", "g1", NowMs());

  ASSERT_TRUE(stream->Write(Encode(before)));
  for (const std::string& garbage : GarbageSamples()) ASSERT_TRUE(stream->Write(Bytes(garbage)));
  ASSERT_TRUE(stream->Write(Encode(after)));
  ASSERT_TRUE(stream->WritesDone());

  std::vector<v1::SubmissionResult> results;
  grpc::ByteBuffer frame;
  while (stream->Read(&frame)) {
    v1::SubmissionResult result;
    ASSERT_TRUE(grpc::SerializationTraits<v1::SubmissionResult>::Deserialize(&frame, &result).ok());
    results.push_back(std::move(result));
  }
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();

  ASSERT_EQ(results.size(), 2 + GarbageSamples().size());
  int receipts = 0, malformed = 0;
  for (const auto& result : results) {
    if (result.has_receipt()) {
      ++receipts;
      EXPECT_THAT(result.correlation_id(), ::testing::AnyOf("before", "after"));
    } else {
      ++malformed;
      EXPECT_EQ(result.error().code(), "malformed");
      EXPECT_EQ(result.error().grpc_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_EQ(result.correlation_id(), "");  // nothing could be read from the frame
    }
  }
  EXPECT_EQ(receipts, 2);
  EXPECT_EQ(malformed, static_cast<int>(GarbageSamples().size()));
}

}  // namespace
}  // namespace fedrelay
