// Crash soak (docs/soak.md): fedrelayd is SIGKILLed again and again under a
// mixed load (a Submit stream of joins, unary bans and migrations) with a
// subscriber attached. After every restart each receipted entry is in the
// log, the tree extends every checkpoint published before, the subscriber
// resumes from the last event it saw without a gap or a repeat, and at the
// end fedrelay-audit verifies the log against all the checkpoints.
//
// FEDRELAY_SOAK_CYCLES (default 3) sets the number of crashes; the long soak
// (tools/scripts/soak.sh) runs this test with a larger number.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/log_proofs_util.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "store/note.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using testing::BinaryPath;
using testing::CheckConsistent;
using testing::CheckIncluded;
using testing::CreateApiKey;
using testing::LogEntries;
using testing::NowMs;
using testing::RelayProcess;
using testing::RunCommand;
using testing::SignedBan;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::TestKey;

int SoakCycles() {
  const char* text = std::getenv("FEDRELAY_SOAK_CYCLES");
  const int cycles = text != nullptr ? std::atoi(text) : 0;
  return cycles > 0 ? cycles : 3;
}

std::string VerifierKey() {
  return store::FormatVerifierKey("relay.example/log", TestKey("relay").PublicKey());
}

// Receipts the load got back, from every thread.
class Receipts {
 public:
  void Add(const v1::RelayReceipt& receipt) {
    std::lock_guard<std::mutex> lock(mu_);
    receipts_.push_back(receipt);
  }
  std::vector<v1::RelayReceipt> All() const {
    std::lock_guard<std::mutex> lock(mu_);
    return receipts_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::RelayReceipt> receipts_;
};

// One subscriber that follows the log with an API key across crashes: each
// stream resumes after the last event id it saw.
class Follower {
 public:
  explicit Follower(std::string api_key) : api_key_(std::move(api_key)) {}
  ~Follower() { Detach(); }

  void Attach(const std::shared_ptr<grpc::Channel>& channel) {
    Detach();
    stub_ = v1::FederationRelay::NewStub(channel);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->AddMetadata("authorization", "Bearer " + api_key_);
    v1::SubscribeRequest request;
    uint64_t resume_after = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      resume_after = last_event_id_;
    }
    request.set_resume_from_event_id(absl::StrCat(resume_after));
    thread_ = std::thread([this, request, resume_after] {
      auto reader = stub_->Subscribe(context_.get(), request);
      v1::StreamResponse event;
      while (reader->Read(&event)) {
        std::lock_guard<std::mutex> lock(mu_);
        // Events of one entry share its id and come together; a resumed
        // stream starts after the last id seen, so nothing repeats.
        if (event.event_id() < last_event_id_ || event.event_id() <= resume_after) {
          out_of_order_.push_back(event.event_id());
        }
        ids_.insert(event.event_id());
        last_event_id_ = event.event_id();
        cv_.notify_all();
      }
      reader->Finish();
    });
  }
  void Detach() {
    if (!thread_.joinable()) return;
    context_->TryCancel();
    thread_.join();
  }
  bool WaitFor(uint64_t event_id) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return last_event_id_ >= event_id; });
  }
  std::set<uint64_t> ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }
  std::vector<uint64_t> out_of_order() const {
    std::lock_guard<std::mutex> lock(mu_);
    return out_of_order_;
  }

 private:
  const std::string api_key_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t last_event_id_ = 0;
  std::set<uint64_t> ids_;
  std::vector<uint64_t> out_of_order_;
};

v1::Checkpoint GetCheckpoint(const std::shared_ptr<grpc::Channel>& channel) {
  auto audit = v1::AuditLog::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::Checkpoint checkpoint;
  EXPECT_TRUE(audit->GetCheckpoint(&context, {}, &checkpoint).ok());
  return checkpoint;
}

// Runs the mixed load until `stop`: a Submit stream of joins from alpha, and
// unary bans (beta, guild g1) and migrations on another thread.
void RunLoad(const std::shared_ptr<grpc::Channel>& channel, int cycle, std::atomic<bool>& stop,
             Receipts& receipts) {
  auto stub = v1::FederationRelay::NewStub(channel);
  grpc::ClientContext stream_context;
  auto stream = stub->Submit(&stream_context);
  std::thread writer([&] {
    for (int serial = 0; !stop.load(); ++serial) {
      v1::Submission submission;
      submission.set_correlation_id(absl::StrCat(serial));
      *submission.mutable_federation_request() =
          SignedJoin("alpha", absl::StrCat("soak-", cycle, "-", serial), "g1", NowMs());
      if (!stream->Write(submission)) return;
      if (serial % 64 == 63) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::thread reader([&] {
    v1::SubmissionResult result;
    while (stream->Read(&result)) {
      if (result.has_receipt()) receipts.Add(result.receipt());
    }
  });
  std::thread unary([&] {
    for (int serial = 0; !stop.load(); ++serial) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::RelayReceipt receipt;
      const std::string user = absl::StrCat("soak-unary-", cycle, "-", serial);
      const grpc::Status status =
          serial % 2 == 0
              ? stub->PropagateBan(&context, SignedBan("beta", user, "g1", NowMs()), &receipt)
              : stub->UpdateHomeServer(&context, SignedMigration(user, "beta.example", NowMs()),
                                       &receipt);
      if (status.ok()) receipts.Add(receipt);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stream_context.TryCancel();
  writer.join();
  reader.join();
  unary.join();
}

TEST(CrashSoakTest, ReceiptedEntriesCheckpointsAndSubscribersSurviveRepeatedSigkills) {
  ASSERT_TRUE(InitCrypto().ok());
  RelayProcess::Options options;
  options.checkpoint_interval_ms = 50;
  options.rate_limits_yaml = "  message_rate_limit: 10000000\n";
  auto started = RelayProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RelayProcess> relay = *std::move(started);
  const auto key = CreateApiKey(*relay, "soak-follower");
  ASSERT_EQ(key.command.exit_code, 0) << key.command.output;
  Follower follower(key.key);

  Receipts receipts;
  std::vector<v1::Checkpoint> checkpoints;
  const std::string relay_key = TestKey("relay").PublicKey();
  size_t checked_receipts = 0;
  const int cycles = SoakCycles();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    follower.Attach(relay->Channel());
    std::atomic<bool> stop{false};
    std::thread load([&] { RunLoad(relay->Channel(), cycle, stop, receipts); });
    // Let the log grow, keeping the checkpoints an auditor would have seen.
    const auto crash_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(1200);
    while (std::chrono::steady_clock::now() < crash_at) {
      const v1::Checkpoint checkpoint = GetCheckpoint(relay->Channel());
      if (checkpoints.empty() || checkpoint.tree_size() > checkpoints.back().tree_size()) {
        checkpoints.push_back(checkpoint);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    relay->Kill();
    stop = true;
    load.join();
    follower.Detach();
    ASSERT_TRUE(relay->Restart().ok()) << "cycle " << cycle << ": " << relay->log_text();

    const v1::Checkpoint after = GetCheckpoint(relay->Channel());
    auto verifier = store::ParseVerifierKey(VerifierKey());
    ASSERT_TRUE(verifier.ok());
    ASSERT_TRUE(store::OpenNote(after.note(), *verifier).ok());
    auto audit = v1::AuditLog::NewStub(relay->Channel());
    // Every receipt given out so far is signed by the relay and its leaf is in the tree.
    const std::vector<v1::RelayReceipt> all = receipts.All();
    ASSERT_GT(all.size(), checked_receipts) << "cycle " << cycle << " made no progress";
    for (size_t i = checked_receipts; i < all.size(); ++i) {
      const v1::RelayReceipt& receipt = all[i];
      ASSERT_TRUE(Ed25519Verify(relay_key, federation::ReceiptSigningBytes(receipt),
                                receipt.signature()));
      ASSERT_TRUE(CheckIncluded(*audit, receipt, after).ok())
          << "cycle " << cycle << " event " << receipt.event_id();
    }
    checked_receipts = all.size();
    // The tree after the crash extends every checkpoint published before it.
    for (const auto& before : checkpoints) {
      const absl::Status consistent = CheckConsistent(*audit, before, after);
      ASSERT_TRUE(consistent.ok()) << "cycle " << cycle << ": " << consistent;
    }
    checkpoints.push_back(after);
  }

  // The follower resumes once more and catches up: it has seen every event of
  // the log exactly once and in order, across all the crashes.
  follower.Attach(relay->Channel());
  const std::vector<v1::LogEntry> entries = LogEntries(relay->Channel());
  std::set<uint64_t> expected;
  for (const auto& entry : entries) {
    if (entry.events_size() > 0) expected.insert(entry.event_id());
  }
  ASSERT_FALSE(expected.empty());
  ASSERT_TRUE(follower.WaitFor(*expected.rbegin()));
  follower.Detach();
  EXPECT_EQ(follower.ids(), expected);
  EXPECT_THAT(follower.out_of_order(), ::testing::IsEmpty());

  // The auditor's tool verifies the whole log against every checkpoint kept.
  std::string checkpoint_flags;
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const std::string path = absl::StrCat(relay->dir(), "/soak-checkpoint-", i, ".note");
    std::ofstream(path) << checkpoints[i].note();
    checkpoint_flags += " --checkpoint " + path;
  }
  const auto result = RunCommand(absl::StrCat(BinaryPath("tools/fedrelay-audit"),
                                              " --quiet --relay 127.0.0.1:", relay->grpc_port(),
                                              " --vkey '", VerifierKey(), "'", checkpoint_flags));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("OK: "));
  std::printf("soak: %d crashes, %zu receipts, %zu log entries, %zu checkpoints checked\n", cycles,
              receipts.All().size(), entries.size(), checkpoints.size());
}

}  // namespace
}  // namespace fedrelay
