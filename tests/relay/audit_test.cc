// The log as an auditor relies on it (issue 3), against the real daemon: a
// SIGKILL in the middle of a Submit stream loses no receipted entry, the tree
// after restart is consistent with every checkpoint published before the
// crash, appends continue, and fedrelay-audit verifies the whole log and
// refuses a forked checkpoint.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/log_proofs_util.h"
#include "relay/relay_fixture_util.h"
#include "store/merkle.h"
#include "store/note.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using testing::BinaryPath;
using testing::RelayProcess;
using testing::RunCommand;
using testing::TestKey;

v1::FederationRequest SignedJoin(uint64_t serial) {
  static const Ed25519PrivateKey alpha = TestKey("server-alpha");
  v1::FederationRequest request;
  request.set_origin_server_id("alpha.example");
  request.set_origin_server_pubkey(alpha.PublicKeyHex());
  request.set_user_pubkey(HexEncode(Sha256(absl::StrCat("audit user ", serial))));
  request.set_user_display_name(absl::StrCat("user ", serial));
  request.set_guild_id("g1");
  request.set_timestamp(SystemClock().NowMs());
  federation::SignFederationRequest(&request, alpha);
  return request;
}

v1::Checkpoint GetCheckpoint(v1::AuditLog::Stub& audit) {
  grpc::ClientContext context;
  v1::Checkpoint checkpoint;
  EXPECT_TRUE(audit.GetCheckpoint(&context, {}, &checkpoint).ok());
  return checkpoint;
}

std::string VerifierKey() {
  return store::FormatVerifierKey("relay.example/log", TestKey("relay").PublicKey());
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    RelayProcess::Options options;
    options.checkpoint_interval_ms = 50;
    // The crash test drives a Submit stream as fast as it goes; the default
    // per-origin message rate limit would refuse most of it.
    options.rate_limits_yaml = "  message_rate_limit: 10000000\n";
    auto relay = RelayProcess::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }

  // Logs `joins` joins over unary Federate, then stops the relay cleanly.
  void FederateJoinsAndStop(uint64_t joins) {
    auto stub = v1::FederationRelay::NewStub(relay_->Channel());
    for (uint64_t serial = 0; serial < joins; ++serial) {
      grpc::ClientContext context;
      v1::FederationResponse response;
      ASSERT_TRUE(stub->Federate(&context, SignedJoin(serial), &response).ok());
    }
    ASSERT_EQ(relay_->Stop(), 0);
  }

  // fedrelay-audit --data-dir on the stopped relay's store.
  testing::CommandResult AuditDataDir() {
    return RunCommand(BinaryPath("tools/fedrelay-audit") + " --quiet --data-dir " +
                      relay_->data_dir() + " --vkey '" + VerifierKey() + "'");
  }

  std::unique_ptr<RelayProcess> relay_;
};

TEST_F(AuditTest, SigkillDuringSubmitStreamLosesNoReceiptedEntry) {
  std::mutex mu;
  std::vector<v1::RelayReceipt> receipts;
  std::vector<v1::Checkpoint> checkpoints;
  std::atomic<bool> stop{false};

  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  auto audit = v1::AuditLog::NewStub(relay_->Channel());
  grpc::ClientContext stream_context;
  auto stream = stub->Submit(&stream_context);
  std::thread writer([&] {
    for (uint64_t serial = 0; !stop.load(); ++serial) {
      v1::Submission submission;
      submission.set_correlation_id(absl::StrCat(serial));
      *submission.mutable_federation_request() = SignedJoin(serial);
      if (!stream->Write(submission)) return;
    }
  });
  std::thread reader([&] {
    v1::SubmissionResult result;
    while (stream->Read(&result)) {
      ASSERT_TRUE(result.has_receipt()) << result.error().message();
      std::lock_guard<std::mutex> lock(mu);
      receipts.push_back(result.receipt());
    }
  });
  // Collect checkpoints while the log grows, then crash the relay mid-stream.
  const auto crash_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < crash_at) {
    v1::Checkpoint checkpoint = GetCheckpoint(*audit);
    if (checkpoints.empty() || checkpoint.tree_size() > checkpoints.back().tree_size()) {
      checkpoints.push_back(checkpoint);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  relay_->Kill();
  stop = true;
  stream_context.TryCancel();
  writer.join();
  reader.join();
  ASSERT_GT(receipts.size(), 50u) << "the stream should have made progress before the crash";
  ASSERT_GE(checkpoints.size(), 3u);

  ASSERT_TRUE(relay_->Restart().ok());
  audit = v1::AuditLog::NewStub(relay_->Channel());
  stub = v1::FederationRelay::NewStub(relay_->Channel());
  const v1::Checkpoint after = GetCheckpoint(*audit);
  auto verifier = store::ParseVerifierKey(VerifierKey());
  ASSERT_TRUE(verifier.ok());
  ASSERT_TRUE(store::OpenNote(after.note(), *verifier).ok());

  // Every receipt is signed by the relay and its entry is in the tree.
  const std::string relay_key = TestKey("relay").PublicKey();
  for (const auto& receipt : receipts) {
    ASSERT_TRUE(Ed25519Verify(relay_key, federation::ReceiptSigningBytes(receipt), receipt.signature()));
    const absl::Status included = testing::CheckIncluded(*audit, receipt, after);
    EXPECT_TRUE(included.ok()) << "event " << receipt.event_id() << ": " << included;
  }
  // The tree after the crash extends every checkpoint published before it.
  for (const auto& before : checkpoints) {
    const absl::Status consistent = testing::CheckConsistent(*audit, before, after);
    EXPECT_TRUE(consistent.ok()) << before.tree_size() << " -> " << after.tree_size() << ": "
                                 << consistent;
  }
  // Appends continue right after the recovered tail.
  grpc::ClientContext context;
  v1::FederationResponse response;
  ASSERT_TRUE(stub->Federate(&context, SignedJoin(1u << 30), &response).ok());
  EXPECT_EQ(response.receipt().event_id(), after.tree_size() + 1);

  // The auditor's tool agrees, including every checkpoint kept before the crash.
  std::string checkpoint_flags;
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const std::string path = absl::StrCat(relay_->dir(), "/checkpoint-", i, ".note");
    std::ofstream(path) << checkpoints[i].note();
    checkpoint_flags += " --checkpoint " + path;
  }
  auto result = RunCommand(absl::StrCat(BinaryPath("tools/fedrelay-audit"), " --quiet --relay 127.0.0.1:",
                                        relay_->grpc_port(), " --vkey '", VerifierKey(), "'",
                                        checkpoint_flags));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("OK: "));
}

TEST_F(AuditTest, AuditRefusesAForkedCheckpointAndAForeignKey) {
  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  for (uint64_t serial = 0; serial < 5; ++serial) {
    grpc::ClientContext context;
    v1::FederationResponse response;
    ASSERT_TRUE(stub->Federate(&context, SignedJoin(serial), &response).ok());
  }
  // A checkpoint correctly signed by the relay key but for a different tree:
  // what a relay showing two histories would produce.
  store::CheckpointBody fork;
  fork.origin = "relay.example/log";
  fork.tree_size = 3;
  fork.root_hash = Sha256("not this log");
  const std::string fork_path = relay_->dir() + "/fork.note";
  std::ofstream(fork_path) << store::SignNote(store::FormatCheckpointBody(fork), "relay.example/log",
                                              TestKey("relay"));
  const std::string base = absl::StrCat(BinaryPath("tools/fedrelay-audit"), " --quiet --relay 127.0.0.1:",
                                        relay_->grpc_port());
  auto forked = RunCommand(base + " --vkey '" + VerifierKey() + "' --checkpoint " + fork_path);
  EXPECT_EQ(forked.exit_code, 1) << forked.output;
  EXPECT_THAT(forked.output, HasSubstr("root at size 3"));

  const std::string other =
      store::FormatVerifierKey("relay.example/log", TestKey("someone else").PublicKey());
  auto foreign = RunCommand(base + " --vkey '" + other + "'");
  EXPECT_EQ(foreign.exit_code, 1) << foreign.output;

  auto usage = RunCommand(BinaryPath("tools/fedrelay-audit") + " --relay 127.0.0.1:1");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
}

TEST_F(AuditTest, OfflineAuditOfAStoppedRelaysDataDir) {
  ASSERT_NO_FATAL_FAILURE(FederateJoinsAndStop(20));
  auto result = AuditDataDir();
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("OK: 22 entries verified"));  // 2 peer entries + 20 joins
}

// The leaf and node check runs beside the re-derivation: a node that no longer
// matches its leaves fails the audit even though every entry re-derives.
TEST_F(AuditTest, OfflineAuditReportsAnAlteredMerkleNode) {
  ASSERT_NO_FATAL_FAILURE(FederateJoinsAndStop(20));
  // Node (0, 3) is leaf 3's hash: no root of 22 leaves reads it, so only the
  // full check can see it (keys: the level byte, then the index big-endian).
  {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), relay_->data_dir(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), relay_->data_dir(), descriptors, &handles, &db).ok());
    const std::string key = std::string(1, '\0') + std::string(7, '\0') + std::string(1, '\3');
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "nodes") {
        EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], key, std::string(32, 'z')).ok());
      }
    }
    for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
    delete db;
  }
  auto result = AuditDataDir();
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("leaf 3 does not hash to its stored merkle node (0, 3)"));
}

TEST_F(AuditTest, GetEntriesStreamsExactlyTheRequestedRange) {
  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  for (uint64_t serial = 0; serial < 150; ++serial) {
    grpc::ClientContext context;
    v1::FederationResponse response;
    ASSERT_TRUE(stub->Federate(&context, SignedJoin(serial), &response).ok());
  }
  auto audit = v1::AuditLog::NewStub(relay_->Channel());
  grpc::ClientContext context;
  v1::GetEntriesRequest request;
  request.set_start(10);
  request.set_end(1000);  // clamped to the log size (152)
  auto reader = audit->GetEntries(&context, request);
  v1::LogEntry entry;
  uint64_t expected_id = 11;
  while (reader->Read(&entry)) {
    EXPECT_EQ(entry.event_id(), expected_id++);
    if (entry.event_id() > 2) {
      EXPECT_EQ(entry.kind(), "federation_request");
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(expected_id, 153u);
}

}  // namespace
}  // namespace fedrelay
