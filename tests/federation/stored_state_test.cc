// The relay's store-backed state (StoredState) answers exactly like the
// in-memory DerivedState the auditor uses: the same random op sequence, in
// batches that commit or fail, with a batch overlay on top of each, through a
// cache small enough to evict and across reopening the store.
#include "federation/stored_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "federation/federation_test_util.h"
#include "federation/state.h"
#include "store/log_store.h"

namespace fedrelay::federation {
namespace {

constexpr int kUsers = 12;
constexpr int kGuilds = 3;
constexpr int kInvites = 6;
constexpr int kPeers = 4;
constexpr int kSignatures = 40;

std::string User(int i) { return absl::StrCat("@u", i, ":example.org"); }
std::string Guild(int i) { return absl::StrCat("g", i); }
std::string InviteId(int i) { return absl::StrCat("inv", i); }
std::string PeerId(int i) { return absl::StrCat("peer", i, ".example"); }
std::string Signature(int i) { return std::string(31, 's') + static_cast<char>(i); }

// Every lookup a rule can make, over the whole key universe, as one text.
std::string Answers(const StateView& view) {
  std::string out;
  for (int p = 0; p < kPeers; ++p) {
    if (auto peer = view.FindPeer(PeerId(p))) {
      absl::StrAppend(&out, "peer ", p, " ", peer->pubkey_hex, " ", peer->may_ban.size(), " ",
                      static_cast<int>(peer->source), "\n");
    }
  }
  for (int u = 0; u < kUsers; ++u) {
    for (int g = 0; g < kGuilds; ++g) {
      if (view.IsBanned(Guild(g), User(u))) absl::StrAppend(&out, "ban ", g, " ", u, "\n");
    }
    if (auto home = view.FindHomeserver(User(u))) absl::StrAppend(&out, "home ", u, " ", *home, "\n");
    if (auto at = view.LastProfileTimestamp(User(u))) absl::StrAppend(&out, "prof ", u, " ", *at, "\n");
    if (auto migration = view.LastMigration(User(u))) {
      absl::StrAppend(&out, "migr ", u, " ", migration->timestamp, " ", migration->target, "\n");
    }
  }
  for (int i = 0; i < kInvites; ++i) {
    if (auto invite = view.FindInvite(InviteId(i))) {
      absl::StrAppend(&out, "inv ", i, " ", static_cast<int>(invite->status), " ",
                      invite->target_user_id, " ", invite->event_id, "\n");
    }
  }
  for (int s = 0; s < kSignatures; ++s) {
    if (auto expiry = view.SeenRequestExpiry(Signature(s))) {
      absl::StrAppend(&out, "seen ", s, " ", *expiry, "\n");
    }
  }
  const uint64_t horizon = view.ForgetHorizon();
  absl::StrAppend(&out, "horizon ", horizon, "\n");
  for (uint64_t before : {horizon, horizon + 50, horizon + 500}) {
    for (size_t max : {size_t{1}, size_t{3}, size_t{1000}}) {
      absl::StrAppend(&out, "forgettable ", before, " ", max, ":");
      for (const ForgettableRequest& request : view.ForgettableRequests(before, max)) {
        absl::StrAppend(&out, " ", request.expiry_ms, "/",
                        static_cast<int>(request.signature_hash.back()));
      }
      absl::StrAppend(&out, "\n");
    }
  }
  return out;
}

// Random ops that keep the invariants the accept step keeps: the horizon only
// grows, a new seen-request record expires at or after it (naming the expired
// record it replaces), and purges take the oldest records behind the horizon.
class OpGenerator {
 public:
  explicit OpGenerator(uint32_t seed) : random_(seed) {}

  StateOp Next(const StateView& view) {
    const int user = Pick(kUsers);
    switch (Pick(10)) {
      case 0: {
        if (Pick(4) == 0) return op::RemovePeer{PeerId(Pick(kPeers))};
        PeerRecord record{absl::StrCat("key", Pick(100)), {}, static_cast<PeerSource>(Pick(3))};
        for (int g = Pick(3); g > 0; --g) record.may_ban.push_back(Guild(Pick(kGuilds)));
        return op::PutPeer{PeerId(Pick(kPeers)), record};
      }
      case 1:
        return op::AddBan{Guild(Pick(kGuilds)), User(user)};
      case 2:
        return op::SetHomeserver{User(user), absl::StrCat("https://h", Pick(5), ".example")};
      case 3:
        return op::SetProfileTimestamp{User(user), static_cast<uint64_t>(Pick(100000))};
      case 4:
        return op::SetMigration{User(user),
                                MigrationRecord{static_cast<uint64_t>(Pick(1000)), User(Pick(kUsers))}};
      case 5: {
        InviteRecord record;
        record.status = static_cast<InviteStatus>(Pick(3));
        record.target_user_id = User(user);
        record.inviter_id = User(Pick(kUsers));
        record.guild_id = Guild(Pick(kGuilds));
        record.body_hash = std::string(32, 'b');
        record.event_id = static_cast<uint64_t>(Pick(1000)) + 1;
        return op::PutInvite{InviteId(Pick(kInvites)), record};
      }
      case 6:
      case 7: {
        const std::string hash = Signature(Pick(kSignatures));
        SeenRequest record;
        record.expiry_ms = view.ForgetHorizon() + static_cast<uint64_t>(Pick(400));
        record.event_id = static_cast<uint64_t>(Pick(1000)) + 1;
        record.body_hash = std::string(32, 'h');
        return op::RememberRequest{hash, record, view.SeenRequestExpiry(hash)};
      }
      case 8: {
        std::vector<ForgettableRequest> expired = view.ForgettableRequests(view.ForgetHorizon(), 1);
        if (!expired.empty()) {
          return op::ForgetRequest{expired.front().signature_hash, expired.front().expiry_ms};
        }
        return op::SetLogSize{static_cast<uint64_t>(Pick(1000))};
      }
      default:
        return op::SetForgetHorizon{view.ForgetHorizon() + static_cast<uint64_t>(Pick(120))};
    }
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(random_); }
  std::mt19937 random_;
};

class StoredStateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Reopen()); }

  void Reopen() {
    stored_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<store::LogStore>> opened =
        store::LogStore::Open(dir_.path(), store::LogStoreOptions{/*sync=*/false});
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
    // Four entries: nearly every lookup evicts another.
    absl::StatusOr<std::unique_ptr<StoredState>> state = StoredState::Open(store_.get(), 4);
    ASSERT_TRUE(state.ok()) << state.status();
    stored_ = *std::move(state);
  }

  testing::TempDir dir_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<StoredState> stored_;
  DerivedState memory_;
};

TEST_F(StoredStateTest, AnswersExactlyLikeTheInMemoryStateForRandomOps) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    OpGenerator ops(seed);
    std::mt19937 coin(seed * 7919);
    for (int batch = 0; batch < 60; ++batch) {
      StateOverlay memory_overlay(&memory_);
      StateOverlay stored_overlay(stored_.get());
      store::WriteSet writes;
      const int size = 1 + static_cast<int>(coin() % 8);
      for (int i = 0; i < size; ++i) {
        const StateOp state_op = ops.Next(memory_overlay);
        memory_overlay.Apply(state_op);
        stored_overlay.Apply(state_op);
        AddWrites(state_op, writes);
        ASSERT_EQ(Answers(stored_overlay), Answers(memory_overlay)) << "batch " << batch << " op " << i;
      }
      if (coin() % 5 == 0) continue;  // the batch's write failed: both drop it
      ASSERT_TRUE(store_->Write(writes).ok());
      for (const StateOp& state_op : memory_overlay.ops()) {
        memory_.Apply(state_op);
        stored_->Apply(state_op);
      }
      ASSERT_TRUE(StoredState::TakeReadFailure().ok());
      ASSERT_EQ(Answers(*stored_), Answers(memory_)) << "batch " << batch;
      ASSERT_EQ(stored_->log_size(), memory_.log_size());
      ASSERT_EQ(stored_->peers(), memory_.peers());
      if (coin() % 10 == 0) {
        ASSERT_NO_FATAL_FAILURE(Reopen());
        ASSERT_EQ(Answers(*stored_), Answers(memory_)) << "reopened after batch " << batch;
      }
    }
  }
  EXPECT_LE(stored_->cached_entries(), 4u);
}

// The store's tables are the state: DerivedState::Load (what the auditor and
// tools read) agrees with the state the ops built.
TEST_F(StoredStateTest, TheTablesLoadBackAsTheSameState) {
  OpGenerator ops(42);
  store::WriteSet writes;
  for (int i = 0; i < 300; ++i) {
    const StateOp state_op = ops.Next(memory_);
    memory_.Apply(state_op);
    AddWrites(state_op, writes);
  }
  ASSERT_TRUE(store_->Write(writes).ok());
  absl::StatusOr<DerivedState> loaded = DerivedState::Load(*store_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->Describe(0, true), memory_.Describe(0, true));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Answers(*stored_), Answers(memory_));
}

// A store written before the expiry index existed (records only) gets the
// index on its first open, and purges from it in the same order.
TEST_F(StoredStateTest, BuildsTheExpiryIndexForOlderStoresOnce) {
  store::WriteSet records;
  for (int s = 0; s < 10; ++s) {
    SeenRequest record;
    record.expiry_ms = 1000 + static_cast<uint64_t>((s * 37) % 10);
    record.event_id = static_cast<uint64_t>(s) + 1;
    record.body_hash = std::string(32, 'h');
    memory_.Apply(op::RememberRequest{Signature(s), record, std::nullopt});
    // Only the record, as the older code wrote it.
    store::WriteSet all;
    AddWrites(op::RememberRequest{Signature(s), record, std::nullopt}, all);
    for (const store::WriteSet::Op& write : all.ops()) {
      if (absl::string_view(write.key).substr(0, 4) == "sig/") {
        records.Put(write.table, write.key, *write.value);
      }
    }
  }
  ASSERT_TRUE(store_->Write(records).ok());
  // The state opened in SetUp marked the then-empty store as indexed: clear
  // the marker as an older store would not have it.
  store::WriteSet unmark;
  unmark.Delete(store::Table::kSeenRequests, "meta/seen_expiry_index");
  ASSERT_TRUE(store_->Write(unmark).ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Answers(*stored_), Answers(memory_));
  EXPECT_EQ(stored_->ForgettableRequests(2000, 100).size(), 10u);
}

// A store that fails reads: lookups answer "absent" and the failure is kept
// for the writer, which refuses the item instead of deciding on a guess.
class FailingReads final : public store::KeyValueStore {
 public:
  absl::StatusOr<std::optional<std::string>> Get(store::Table, absl::string_view key) const override {
    if (absl::string_view(key).substr(0, 5) == "meta/") return std::nullopt;
    return absl::UnavailableError("injected read failure");
  }
  absl::Status Scan(store::Table, absl::string_view,
                    const std::function<bool(absl::string_view, absl::string_view)>&) const override {
    return absl::OkStatus();
  }
  absl::Status Write(const store::WriteSet&) override { return absl::OkStatus(); }
};

TEST(StoredStateReadFailureTest, AFailedReadIsKeptForTheCallingThread) {
  FailingReads store;
  absl::StatusOr<std::unique_ptr<StoredState>> state = StoredState::Open(&store);
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(StoredState::TakeReadFailure().ok());
  EXPECT_FALSE((*state)->IsBanned("g", "@u:example.org"));
  EXPECT_FALSE((*state)->SeenRequestExpiry(std::string(32, 's')).has_value());
  const absl::Status failure = StoredState::TakeReadFailure();
  EXPECT_TRUE(absl::IsUnavailable(failure)) << failure;
  EXPECT_TRUE(StoredState::TakeReadFailure().ok());  // taken once
  // Not cached: the next lookup reads (and fails) again.
  EXPECT_FALSE((*state)->IsBanned("g", "@u:example.org"));
  EXPECT_FALSE(StoredState::TakeReadFailure().ok());
}

// Readers outside the writer (the member channel, visibility) never take the
// failure: for them an unreadable ban is a ban.
TEST(StoredStateReadFailureTest, ABanThatCannotBeReadCountsAsABanForOtherReaders) {
  FailingReads store;
  absl::StatusOr<std::unique_ptr<StoredState>> state = StoredState::Open(&store);
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(StoredState::TakeReadFailure().ok());
  EXPECT_TRUE((*state)->IsBannedOrUnreadable("g", "@u:example.org"));
  EXPECT_TRUE(StoredState::TakeReadFailure().ok()) << "its own failure is not left behind";
}

}  // namespace
}  // namespace fedrelay::federation
