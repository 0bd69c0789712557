#include "store/checkpointer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "store/log_store_test_util.h"
#include "store/merkle.h"
#include "store/note.h"

namespace fedrelay::store {
namespace {

using ::fedrelay::store::testing::TempDir;

constexpr char kOrigin[] = "relay.example/log";

class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    OpenStore();
  }

  void OpenStore() {
    store_.reset();
    LogStoreOptions options;
    options.sync = false;
    absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir_.path(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void Append(int n) {
    std::vector<std::string> leaves;
    for (int i = 0; i < n; ++i) leaves.push_back(absl::StrCat("leaf ", store_->Size() + i));
    ASSERT_TRUE(store_->Append(leaves, WriteSet()).ok());
  }

  // The note must verify under the relay key and state exactly `checkpoint`'s size and root.
  void ExpectNoteMatches(const StoredCheckpoint& checkpoint) {
    absl::StatusOr<NoteVerifier> verifier =
        ParseVerifierKey(FormatVerifierKey(kOrigin, key_.PublicKey()));
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    absl::StatusOr<std::string> body = OpenNote(checkpoint.note, *verifier);
    ASSERT_TRUE(body.ok()) << body.status();
    absl::StatusOr<CheckpointBody> parsed = ParseCheckpointBody(*body);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->origin, kOrigin);
    EXPECT_EQ(parsed->tree_size, checkpoint.tree_size);
    EXPECT_EQ(parsed->root_hash, checkpoint.root_hash);
    EXPECT_EQ(checkpoint.root_hash, *store_->RootHash(checkpoint.tree_size));
  }

  Checkpointer::Options ManualOptions() {
    Checkpointer::Options options;
    options.origin = kOrigin;
    options.interval_ms = 0;
    return options;
  }

  TempDir dir_;
  std::unique_ptr<LogStore> store_;
  Ed25519PrivateKey key_ = Ed25519PrivateKey::Generate();
};

TEST_F(CheckpointerTest, EmptyLogGetsASizeZeroCheckpoint) {
  Checkpointer checkpointer(store_.get(), key_, ManualOptions());
  EXPECT_FALSE(checkpointer.Latest().has_value());
  absl::StatusOr<StoredCheckpoint> checkpoint = checkpointer.PublishNow();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->tree_size, 0u);
  EXPECT_EQ(checkpoint->root_hash, EmptyTreeRoot());
  ExpectNoteMatches(*checkpoint);
  EXPECT_EQ(store_->LatestCheckpoint()->note, checkpoint->note);
}

TEST_F(CheckpointerTest, PublishesOnlyWhenTheLogGrew) {
  int published = 0;
  Checkpointer::Options options = ManualOptions();
  options.on_publish = [&](const StoredCheckpoint&) { ++published; };
  Checkpointer checkpointer(store_.get(), key_, options);
  Append(5);
  absl::StatusOr<StoredCheckpoint> first = checkpointer.PublishNow();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->tree_size, 5u);
  ExpectNoteMatches(*first);
  absl::StatusOr<StoredCheckpoint> again = checkpointer.PublishNow();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->note, first->note);
  EXPECT_EQ(published, 1);

  Append(3);
  absl::StatusOr<StoredCheckpoint> second = checkpointer.PublishNow();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->tree_size, 8u);
  ExpectNoteMatches(*second);
  EXPECT_EQ(published, 2);
  EXPECT_EQ(checkpointer.Latest()->tree_size, 8u);
  // Each checkpoint is consistent with the one before.
  absl::StatusOr<std::vector<std::string>> proof = store_->ConsistencyProof(5, 8);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyConsistency(5, 8, *proof, first->root_hash, second->root_hash).ok());
}

TEST_F(CheckpointerTest, BackgroundThreadFollowsTheLog) {
  absl::Mutex mu;
  std::vector<uint64_t> sizes;
  Checkpointer::Options options = ManualOptions();
  options.interval_ms = 10;
  options.on_publish = [&](const StoredCheckpoint& checkpoint) {
    absl::MutexLock lock(&mu);
    sizes.push_back(checkpoint.tree_size);
  };
  Checkpointer checkpointer(store_.get(), key_, options);
  for (int round = 0; round < 5; ++round) {
    Append(7);
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((!checkpointer.Latest().has_value() || checkpointer.Latest()->tree_size != 35) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  checkpointer.Stop();
  ASSERT_TRUE(checkpointer.Latest().has_value());
  EXPECT_EQ(checkpointer.Latest()->tree_size, 35u);
  ExpectNoteMatches(*checkpointer.Latest());
  absl::MutexLock lock(&mu);
  ASSERT_FALSE(sizes.empty());
  for (size_t i = 1; i < sizes.size(); ++i) EXPECT_LT(sizes[i - 1], sizes[i]);
}

TEST_F(CheckpointerTest, ResumesFromTheStoredCheckpoint) {
  Append(4);
  {
    Checkpointer checkpointer(store_.get(), key_, ManualOptions());
    ASSERT_TRUE(checkpointer.PublishNow().ok());
  }
  OpenStore();
  int published = 0;
  Checkpointer::Options options = ManualOptions();
  options.on_publish = [&](const StoredCheckpoint&) { ++published; };
  Checkpointer checkpointer(store_.get(), key_, options);
  ASSERT_TRUE(checkpointer.Latest().has_value());
  EXPECT_EQ(checkpointer.Latest()->tree_size, 4u);
  ASSERT_TRUE(checkpointer.PublishNow().ok());
  EXPECT_EQ(published, 0);
}

}  // namespace
}  // namespace fedrelay::store
