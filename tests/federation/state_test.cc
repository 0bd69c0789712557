// The derived state across restarts: it is loaded from the state tables
// without reading the log, it keeps deciding exactly as before the restart
// (bans, homeservers, profile and migration order, invites, seen-request memory),
// and RederiveLog over the same log re-derives the same state.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "federation/federation.h"
#include "federation/federation_test_util.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "federation/state.h"
#include "store/log_store.h"

namespace fedrelay::federation {
namespace {

using testing::kAlpha;
using testing::kBeta;
using testing::kSkewMs;
using testing::kStartMs;
using testing::MakeAccept;
using testing::MakeBan;
using testing::MakeInvite;
using testing::MakeJoin;
using testing::MakeMigration;
using testing::MakeProfile;
using testing::MakeReject;
using testing::TestKeys;

// Forwards to a real store, counts every read of leaf bytes, and fails
// appends on demand.
class InstrumentedStore final : public store::LogStore {
 public:
  explicit InstrumentedStore(store::LogStore* inner) : inner_(inner) {}
  int leaf_reads() const { return leaf_reads_; }
  int plain_writes() const { return plain_writes_; }
  void set_fail_appends(bool fail) { fail_appends_ = fail; }

  uint64_t Size() const override { return inner_->Size(); }
  absl::StatusOr<std::vector<std::string>> Append(const std::vector<std::string>& leaves,
                                                  const store::WriteSet& side) override {
    if (fail_appends_) return absl::InternalError("injected write failure");
    return inner_->Append(leaves, side);
  }
  absl::StatusOr<std::string> GetLeaf(uint64_t index) const override {
    ++leaf_reads_;
    return inner_->GetLeaf(index);
  }
  absl::Status ScanLeaves(uint64_t begin, uint64_t end,
                          const std::function<bool(uint64_t, absl::string_view)>& fn) const override {
    ++leaf_reads_;
    return inner_->ScanLeaves(begin, end, fn);
  }
  const store::SubtreeHashReader& Nodes() const override { return inner_->Nodes(); }
  absl::StatusOr<std::string> ReadTile(int level, uint64_t index, int width) const override {
    return inner_->ReadTile(level, index, width);
  }
  absl::StatusOr<std::string> ReadEntryBundle(uint64_t index, int width) const override {
    ++leaf_reads_;
    return inner_->ReadEntryBundle(index, width);
  }
  absl::Status SaveCheckpoint(const store::StoredCheckpoint& checkpoint) override {
    return inner_->SaveCheckpoint(checkpoint);
  }
  std::optional<store::StoredCheckpoint> LatestCheckpoint() const override {
    return inner_->LatestCheckpoint();
  }
  absl::StatusOr<std::optional<std::string>> Get(store::Table table,
                                                 absl::string_view key) const override {
    return inner_->Get(table, key);
  }
  absl::Status Scan(store::Table table, absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override {
    NoteScan(prefix);
    return inner_->Scan(table, prefix, Counted(fn));
  }
  absl::Status ScanFrom(store::Table table, absl::string_view prefix, absl::string_view start,
                        const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override {
    NoteScan(prefix);
    return inner_->ScanFrom(table, prefix, start, Counted(fn));
  }
  // Table scans since the last reset: their prefixes and the rows they visited.
  std::vector<std::string> scanned_prefixes() const {
    absl::MutexLock lock(&scans_mu_);
    return scanned_prefixes_;
  }
  int scanned_rows() const { return scanned_rows_; }
  void ResetScans() {
    absl::MutexLock lock(&scans_mu_);
    scanned_prefixes_.clear();
    scanned_rows_ = 0;
  }
  absl::Status Write(const store::WriteSet& writes) override {
    ++plain_writes_;
    return inner_->Write(writes);
  }
  absl::Status VerifyIntegrity(
      const std::function<void(uint64_t, uint64_t)>& progress) const override {
    return inner_->VerifyIntegrity(progress);
  }

 private:
  void NoteScan(absl::string_view prefix) const {
    absl::MutexLock lock(&scans_mu_);
    scanned_prefixes_.emplace_back(prefix);
  }
  std::function<bool(absl::string_view, absl::string_view)> Counted(
      const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
    return [this, &fn](absl::string_view key, absl::string_view value) {
      ++scanned_rows_;
      return fn(key, value);
    };
  }

  store::LogStore* const inner_;
  mutable absl::Mutex scans_mu_;
  mutable std::vector<std::string> scanned_prefixes_ ABSL_GUARDED_BY(scans_mu_);
  mutable std::atomic<int> scanned_rows_{0};
  mutable std::atomic<int> leaf_reads_{0};
  std::atomic<int> plain_writes_{0};
  std::atomic<bool> fail_appends_{false};
};

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }

  absl::Status OpenStore() {
    federation_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<store::LogStore>> opened =
        store::LogStore::Open(dir_.path(), store::LogStoreOptions{/*sync=*/false});
    if (!opened.ok()) return opened.status();
    store_ = *std::move(opened);
    counting_ = std::make_unique<InstrumentedStore>(store_.get());
    return absl::OkStatus();
  }

  absl::Status OpenFederation() {
    FederationOptions options;
    options.server_id = "relay.example";
    options.max_clock_skew_ms = kSkewMs;
    options.config_peers = testing::DefaultPeers();
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<Federation>> opened =
        Federation::Open(counting_.get(), &TestKeys().relay, options, &sink_);
    if (!opened.ok()) return opened.status();
    federation_ = *std::move(opened);
    return absl::OkStatus();
  }

  void Restart() {
    ASSERT_TRUE(OpenStore().ok());
    absl::Status opened = OpenFederation();
    ASSERT_TRUE(opened.ok()) << opened;
  }

  Accepted MustAccept(Submission submission) {
    absl::StatusOr<Accepted> accepted = federation_->SubmitAndWait(std::move(submission));
    EXPECT_TRUE(accepted.ok()) << accepted.status();
    return accepted.ok() ? *accepted : Accepted{};
  }

  std::string RejectionCode(Submission submission) {
    const uint64_t size = store_->Size();
    absl::StatusOr<Accepted> result = federation_->SubmitAndWait(std::move(submission));
    EXPECT_EQ(store_->Size(), size);
    return result.ok() ? "accepted" : MachineCode(result.status());
  }

  // Some of everything: joins, a ban, migrations (and an equivocation),
  // profiles, invites and decisions, operator actions.
  void RunMixedTraffic() {
    MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
    MustAccept(MakeJoin(TestKeys().beta, kBeta, TestKeys().bob_id, "guild-b"));
    MustAccept(MakeBan(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a"));
    MustAccept(MakeMigration(TestKeys().alice_id, "new.example", kStartMs));
    EXPECT_EQ(RejectionCode(MakeMigration(TestKeys().alice_id, "evil.example", kStartMs)),
              "equivocation");
    MustAccept(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Alice", kStartMs));
    MustAccept(MakeInvite("inv-1"));
    MustAccept(MakeInvite("inv-2"));
    MustAccept(MakeAccept("inv-1", kStartMs + 1));
    ASSERT_TRUE(federation_->AddPeer({"gamma.example", TestKeys().bob_id.PublicKeyHex(), {"g"}}).ok());
    ASSERT_TRUE(federation_->RotatePeerKey("gamma.example", TestKeys().alice_id.PublicKeyHex()).ok());
    clock_.AdvanceMs(1000);
    MustAccept(MakeJoin(TestKeys().alice_id, "gamma.example", TestKeys().bob_id, "g", kStartMs + 1000));
  }

  // Appends one leaf behind the federation's back, with no state writes.
  void AppendRawLeaf(const v1::LogEntry& entry) {
    ASSERT_TRUE(store_->Append({rules::SerializeDeterministic(entry)}, store::WriteSet()).ok());
  }

  v1::LogEntry ReadEntry(uint64_t event_id) {
    absl::StatusOr<std::string> leaf = store_->GetLeaf(event_id - 1);
    EXPECT_TRUE(leaf.ok());
    v1::LogEntry entry;
    EXPECT_TRUE(entry.ParseFromString(*leaf));
    return entry;
  }

  testing::TempDir dir_;
  FakeClock clock_{kStartMs};
  testing::RecordingSink sink_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<InstrumentedStore> counting_;
  std::unique_ptr<Federation> federation_;
};

TEST_F(StateTest, StateSurvivesRestartWithoutReadingTheLog) {
  Restart();
  RunMixedTraffic();
  const v1::FederationRequest join = MakeJoin(TestKeys().beta, kBeta, TestKeys().bob_id, "guild-c");
  const Accepted original = MustAccept(join);
  const v1::DMInvite invite = MakeInvite("inv-3");
  MustAccept(invite);
  const uint64_t size = store_->Size();

  Restart();
  EXPECT_EQ(counting_->leaf_reads(), 0) << "Open read the log";
  EXPECT_EQ(store_->Size(), size) << "config peers were logged again";

  const std::string alice = TestKeys().alice_id.PublicKeyHex();
  const std::string bob = TestKeys().bob_id.PublicKeyHex();
  // Homeservers, bans, peers, equivocations.
  EXPECT_EQ(federation_->HomeserverOf(alice), "new.example");
  EXPECT_EQ(federation_->HomeserverOf(bob), kBeta);
  EXPECT_TRUE(federation_->IsBanned("guild-a", bob));
  EXPECT_FALSE(federation_->IsBanned("guild-b", bob));
  ASSERT_TRUE(federation_->Peer("gamma.example").has_value());
  EXPECT_EQ(federation_->Peer("gamma.example")->pubkey_hex, alice);
  ASSERT_EQ(federation_->Equivocations().size(), 1u);
  EXPECT_EQ(federation_->Equivocations()[0].rejected_target, "evil.example");

  // The rules decide as they did before the restart.
  EXPECT_EQ(RejectionCode(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a", kStartMs + 2)),
            "banned");
  EXPECT_EQ(RejectionCode(MakeMigration(TestKeys().alice_id, "old.example", kStartMs - 1)),
            "stale_migration");
  EXPECT_EQ(RejectionCode(MakeMigration(TestKeys().alice_id, "evil.example", kStartMs)),
            "equivocation");
  EXPECT_EQ(federation_->Equivocations().size(), 1u) << "the same equivocation was listed twice";
  EXPECT_EQ(RejectionCode(MakeProfile(TestKeys().alice_id, TestKeys().alice_dev, "Eve", kStartMs)),
            "stale_update");
  EXPECT_EQ(RejectionCode(MakeReject("inv-1", kStartMs + 5)), "already_decided");
  EXPECT_EQ(RejectionCode(MakeInvite("inv-2", kStartMs + 5, "other-guild")), "duplicate_invite");
  // The seen-request memory: same signature, other bytes, is replayed; identical
  // bytes get the original receipt.
  v1::DMInvite restated = invite;
  restated.set_status("pending");
  EXPECT_EQ(RejectionCode(restated), "replayed");
  const Accepted again = MustAccept(join);
  EXPECT_EQ(again.receipt.SerializeAsString(), original.receipt.SerializeAsString());
  EXPECT_EQ(again.entry->SerializeAsString(), original.entry->SerializeAsString());
  EXPECT_EQ(store_->Size(), size);

  // A pending invite from before the restart can still be accepted, token included.
  const Accepted accepted = MustAccept(MakeAccept("inv-2", kStartMs + 6));
  ASSERT_TRUE(accepted.invite.has_value());
  EXPECT_EQ(accepted.invite->token(), MakeInvite("inv-2").token());
}

// Start-up reads the peers, a few meta keys and the equivocation records:
// nothing that grows with users or traffic. A large state (here 20,000 users'
// bans, homeservers, profiles and seen-request records written beside the
// log) is read on demand, one key at a time.
TEST_F(StateTest, StartUpDoesNotScanTheStateThatGrowsWithUsers) {
  Restart();
  RunMixedTraffic();
  constexpr int kUsers = 20000;
  store::WriteSet bulk;
  for (int i = 0; i < kUsers; ++i) {
    const std::string user = absl::StrCat("@bulk", i, ":example.org");
    AddWrites(op::AddBan{"guild-bulk", user}, bulk);
    AddWrites(op::SetHomeserver{user, "bulk.example"}, bulk);
    AddWrites(op::SetProfileTimestamp{user, kStartMs}, bulk);
    SeenRequest seen;
    seen.expiry_ms = kStartMs + kSkewMs;
    seen.event_id = 1;
    seen.body_hash = std::string(32, 'b');
    AddWrites(op::RememberRequest{Sha256(user), seen, std::nullopt}, bulk);
  }
  ASSERT_TRUE(store_->Write(bulk).ok());
  const size_t peers = federation_->Peers().size();
  const size_t equivocations = federation_->Equivocations().size();

  ASSERT_TRUE(OpenStore().ok());
  counting_->ResetScans();
  absl::Status opened = OpenFederation();
  ASSERT_TRUE(opened.ok()) << opened;
  for (const std::string& prefix : counting_->scanned_prefixes()) {
    EXPECT_TRUE(prefix == "peer/" || prefix == "fed/equivocation/") << "start-up scanned " << prefix;
  }
  EXPECT_LE(static_cast<size_t>(counting_->scanned_rows()), peers + equivocations);

  // The bulk state is there all the same, read when asked for.
  EXPECT_TRUE(federation_->IsBanned("guild-bulk", "@bulk12345:example.org"));
  EXPECT_EQ(federation_->HomeserverOf("@bulk777:example.org"), "bulk.example");
  EXPECT_FALSE(federation_->IsBanned("guild-bulk", "@nobody:example.org"));
}

TEST_F(StateTest, RederiveLogRebuildsTheDurableState) {
  Restart();
  RunMixedTraffic();
  federation_->Stop();

  absl::StatusOr<DerivedState> loaded = DerivedState::Load(*store_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  DerivedState replayed;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  absl::StatusOr<RederiveReport> report = RederiveLog(
      *store_, TestKeys().relay.PublicKeyHex(), "relay.example", kSkewMs,
      [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); }, &replayed);
  ASSERT_TRUE(report.ok()) << report.status();

  EXPECT_EQ(replayed.Describe(clock_.NowMs(), /*with_peer_source=*/false),
            loaded->Describe(clock_.NowMs(), /*with_peer_source=*/false));
  EXPECT_EQ(report->entries, store_->Size());
  EXPECT_EQ(report->bans, 1u);
  EXPECT_EQ(report->users_with_homeserver, 2u);
  EXPECT_EQ(report->profiles, 1u);
  EXPECT_EQ(report->invites, 2u);
  EXPECT_EQ(report->peers, 3u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(store_->Size(), store_->Size()));
}

TEST_F(StateTest, RederiveLogNamesTheFirstEntryWhoseEventsWereTamperedWith) {
  Restart();
  RunMixedTraffic();
  federation_->Stop();
  const uint64_t size = store_->Size();
  v1::LogEntry forged = ReadEntry(3);  // alice's join
  ASSERT_TRUE(forged.has_federation_request());
  // A genuine, fresh request, logged with an event the rules do not give.
  *forged.mutable_federation_request() =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-z", forged.received_at());
  forged.set_event_id(size + 1);
  v1::StreamResponse* event = forged.mutable_events(0);
  event->set_event_id(size + 1);
  event->mutable_member_joined()->set_guild_id("guild-z");
  event->mutable_member_joined()->mutable_user()->set_name("Mallory");
  AppendRawLeaf(forged);

  absl::StatusOr<RederiveReport> report =
      RederiveLog(*store_, TestKeys().relay.PublicKeyHex(), "relay.example", kSkewMs);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StartsWith(report.status().message(),
                               absl::StrCat("event ", size + 1, ": derived event #0")))
      << report.status();

  // The state tables no longer match the log: the relay refuses to start on it.
  ASSERT_TRUE(OpenStore().ok());
  absl::Status opened = OpenFederation();
  EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss) << opened;
}

TEST_F(StateTest, RederiveLogFlagsARepeatedSignatureAndAForgedOperatorAction) {
  Restart();
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
  federation_->Stop();
  const uint64_t size = store_->Size();

  v1::LogEntry repeated = ReadEntry(size);
  repeated.set_event_id(size + 1);
  for (v1::StreamResponse& event : *repeated.mutable_events()) event.set_event_id(size + 1);
  AppendRawLeaf(repeated);
  absl::StatusOr<RederiveReport> report =
      RederiveLog(*store_, TestKeys().relay.PublicKeyHex(), "relay.example", kSkewMs);
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(absl::StrContains(report.status().message(),
                                absl::StrCat("event ", size + 1, ": replays")))
      << report.status();

  // An operator action the relay key did not sign, in a fresh log.
  testing::TempDir other;
  absl::StatusOr<std::unique_ptr<store::LogStore>> store =
      store::LogStore::Open(other.path(), store::LogStoreOptions{/*sync=*/false});
  ASSERT_TRUE(store.ok());
  v1::LogEntry forged;
  forged.set_event_id(1);
  forged.set_kind("operator_action");
  v1::OperatorAction* action = forged.mutable_operator_action();
  action->set_action("peer_add");
  action->set_server_id("mallory.example");
  action->set_pubkey(TestKeys().bob_id.PublicKeyHex());
  action->set_timestamp(kStartMs);
  SignOperatorAction(action, TestKeys().bob_id);
  ASSERT_TRUE((*store)->Append({rules::SerializeDeterministic(forged)}, store::WriteSet()).ok());
  report = RederiveLog(**store, TestKeys().relay.PublicKeyHex(), "relay.example", kSkewMs);
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(absl::StartsWith(report.status().message(), "event 1: ")) << report.status();
}

TEST_F(StateTest, AFailedBatchLeavesNoTrace) {
  Restart();
  const uint64_t size = store_->Size();
  const v1::BanNotification ban = MakeBan(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  counting_->set_fail_appends(true);
  absl::StatusOr<Accepted> failed = federation_->SubmitAndWait(ban);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  counting_->set_fail_appends(false);

  EXPECT_EQ(store_->Size(), size);
  EXPECT_TRUE(sink_.entries().empty() || sink_.entries().back()->event_id() == size);
  EXPECT_FALSE(federation_->IsBanned("guild-a", TestKeys().alice_id.PublicKeyHex()));
  // Neither the ban nor its seen-request record survived: the join passes and the
  // same ban can be submitted again, getting the id the failed one would have had.
  MustAccept(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a"));
  const Accepted accepted = MustAccept(ban);
  EXPECT_EQ(accepted.receipt.event_id(), size + 2);
  EXPECT_TRUE(federation_->IsBanned("guild-a", TestKeys().alice_id.PublicKeyHex()));
}

TEST_F(StateTest, ExpiredSeenRequestsArePurgedAsTheLogGrows) {
  Restart();
  const v1::FederationRequest first =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-a");
  MustAccept(first);
  clock_.AdvanceMs(2 * kSkewMs + 1);
  const v1::FederationRequest second =
      MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "guild-a", clock_.NowMs());
  MustAccept(second);

  absl::StatusOr<DerivedState> state = DerivedState::Load(*store_);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->SeenRequestExpiry(Sha256(first.signature())).has_value());
  EXPECT_EQ(state->SeenRequestExpiry(Sha256(second.signature())), second.timestamp() + kSkewMs);
  absl::StatusOr<std::optional<std::string>> record =
      store_->Get(store::Table::kSeenRequests, SeenRequestKey(Sha256(first.signature())));
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->has_value());
}

// The equivocation record is written with the batch it was refused in: a
// batch that also logs an entry makes one append and no write of its own.
TEST_F(StateTest, AnEquivocationRecordJoinsItsBatchWrite) {
  Restart();
  MustAccept(MakeMigration(TestKeys().alice_id, "new.example", kStartMs));
  const int writes_before = counting_->plain_writes();
  const uint64_t size_before = store_->Size();

  // The gate's OnDurable holds the writer while the next two queue up; they
  // are then decided in one batch.
  sink_.HoldNextBatch();
  absl::Notification gate_done;
  federation_->Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id, "gate"),
                      [&](absl::StatusOr<Accepted>) { gate_done.Notify(); });
  sink_.WaitUntilHeld();
  absl::Notification refused_done, join_done;
  absl::Status refused;
  federation_->Submit(MakeMigration(TestKeys().alice_id, "evil.example", kStartMs),
                      [&](absl::StatusOr<Accepted> outcome) {
                        refused = outcome.status();
                        refused_done.Notify();
                      });
  federation_->Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().alice_id, "guild-e"),
                      [&](absl::StatusOr<Accepted> outcome) {
                        EXPECT_TRUE(outcome.ok()) << outcome.status();
                        join_done.Notify();
                      });
  sink_.Release();
  gate_done.WaitForNotification();
  refused_done.WaitForNotification();
  join_done.WaitForNotification();

  EXPECT_EQ(MachineCode(refused), "equivocation");
  EXPECT_EQ(store_->Size(), size_before + 2);
  EXPECT_EQ(counting_->plain_writes(), writes_before) << "an equivocation was written on its own";
  ASSERT_EQ(federation_->Equivocations().size(), 1u);
  EXPECT_EQ(federation_->Equivocations()[0].rejected_target, "evil.example");

  Restart();
  ASSERT_EQ(federation_->Equivocations().size(), 1u);
  EXPECT_EQ(federation_->Equivocations()[0].rejected_target, "evil.example");
}

TEST_F(StateTest, InviteTokensStayOutOfTheLog) {
  Restart();
  const v1::DMInvite invite = MakeInvite("inv-1");
  MustAccept(invite);
  federation_->Stop();
  bool token_in_log = false;
  ASSERT_TRUE(store_
                  ->ScanLeaves(0, store_->Size(),
                               [&](uint64_t, absl::string_view leaf) {
                                 token_in_log |= absl::StrContains(leaf, invite.token());
                                 return true;
                               })
                  .ok());
  EXPECT_FALSE(token_in_log);
  absl::StatusOr<std::optional<std::string>> token =
      store_->Get(store::Table::kAux, InviteTokenKey("inv-1"));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->value_or(""), invite.token());
}

}  // namespace
}  // namespace fedrelay::federation
