// Internal to federation/: the federation core's implementation class, shared
// by federation.cc (submissions, the writer's BatchHandler, completion,
// queries) and federation_operator_actions.cc (operator actions and the
// reconciliation of config peers). Nothing outside federation/ includes it.
//
// Threads and what each owns: see federation.h and docs/architecture.md.
#ifndef FEDRELAY_FEDERATION_FEDERATION_IMPL_H_
#define FEDRELAY_FEDERATION_FEDERATION_IMPL_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/serial_worker.h"
#include "base/peer_values.h"
#include "base/status_macros.h"
#include "federation/accept.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "federation/state.h"
#include "federation/stored_state.h"
#include "spdlog/spdlog.h"
#include "store/log_writer.h"
#include "store/merkle.h"

#include "federation/federation.h"

namespace fedrelay::federation::internal {

Counter& EquivocationCounter();

// One submission on its way through the writer. Prepare runs on the writer
// thread, Finish later on the completer thread (the queue between them orders
// the two), so the fields need no lock.
struct Item {
  rules::Verified verified;
  uint64_t received_at = 0;  // when Validate ran: every rule is judged at this time
  DoneFn done;

  // Admitted by Prepare.
  std::shared_ptr<const v1::LogEntry> entry;
  uint64_t invite_event_id = 0;

  // The final answer once known, and resubmissions waiting for it.
  std::optional<absl::StatusOr<Accepted>> outcome;
  std::vector<std::shared_ptr<Item>> waiters;
};

// The durable state as seen from caller threads, for Validate's hints.
class LockedStateView final : public StateView {
 public:
  LockedStateView(const StateView* state, absl::Mutex* mu) : state_(state), mu_(mu) {}
  std::optional<PeerRecord> FindPeer(absl::string_view server_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->FindPeer(server_id);
  }
  bool IsBanned(absl::string_view guild_id, absl::string_view user_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->IsBanned(guild_id, user_id);
  }
  std::optional<std::string> FindHomeserver(absl::string_view user_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->FindHomeserver(user_id);
  }
  std::optional<uint64_t> LastProfileTimestamp(absl::string_view user_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->LastProfileTimestamp(user_id);
  }
  std::optional<MigrationRecord> LastMigration(absl::string_view user_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->LastMigration(user_id);
  }
  std::optional<InviteRecord> FindInvite(absl::string_view invite_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->FindInvite(invite_id);
  }
  std::optional<uint64_t> SeenRequestExpiry(absl::string_view signature_hash) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->SeenRequestExpiry(signature_hash);
  }
  uint64_t ForgetHorizon() const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->ForgetHorizon();
  }
  std::vector<ForgettableRequest> ForgettableRequests(
      uint64_t before_ms, size_t max, const ForgettableRequest* after = nullptr) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->ForgettableRequests(before_ms, max, after);
  }

 private:
  const StateView* const state_;
  absl::Mutex* const mu_;
};

inline PeerInfo ToPeerInfo(const std::string& server_id, const PeerRecord& record) {
  return PeerInfo{server_id, record.pubkey_hex, record.may_ban};
}

using ItemPtr = std::shared_ptr<Item>;

class FederationImpl final : public Federation, private store::BatchHandler<ItemPtr> {
 public:
  FederationImpl(store::LogStore* store, const Ed25519PrivateKey* relay_key,
                 FederationOptions options, EventSink* sink, std::unique_ptr<StoredState> state,
                 std::vector<Equivocation> equivocations)
      : store_(store),
        relay_key_(relay_key),
        relay_public_key_(relay_key->PublicKey()),
        options_(std::move(options)),
        sink_(sink),
        durable_(std::move(state)),
        equivocations_(std::move(equivocations)),
        hints_(durable_.get(), &mu_) {}

  ~FederationImpl() override { Stop(); }

  void StartWriter() {
    writer_ = std::make_unique<store::LogWriter<ItemPtr>>(
        store_, static_cast<store::BatchHandler<ItemPtr>*>(this));
  }
  absl::Status ReconcileConfigPeers();

  void Submit(Submission submission, DoneFn done) override;
  absl::StatusOr<std::unique_ptr<CheckedSubmission>> CheckSubmission(Submission submission) override;
  void SubmitChecked(std::unique_ptr<CheckedSubmission> checked, DoneFn done) override;
  void AddPeer(const PeerInfo& peer, DoneFn done) override;
  void RemovePeer(const std::string& server_id, DoneFn done) override;
  void RotatePeerKey(const std::string& server_id, const std::string& new_pubkey_hex,
                     DoneFn done) override;
  void SetPeerMayBan(const std::string& server_id, const std::vector<std::string>& may_ban,
                     DoneFn done) override;

  std::vector<PeerInfo> Peers() const override;
  std::optional<PeerInfo> Peer(const std::string& server_id) const override;
  std::optional<std::string> HomeserverOf(const std::string& user_id) const override;
  bool IsBanned(const std::string& guild_id, const std::string& user_id) const override;
  std::optional<InviteInfo> Invite(const std::string& invite_id) const override;
  std::vector<Equivocation> Equivocations() const override;

  void Stop() override;

 private:
  void Enqueue(ItemPtr item);

  // store::BatchHandler, on the writer thread.
  // "What is this item at `leaf_index`?": runs the accept step against the
  // batch overlay and stages what it admits.
  store::Prepared Prepare(ItemPtr& item, uint64_t leaf_index, store::WriteSet& side) override;
  void OnBatchPrepared() override;
  void OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) override;
  void OnBatchFailed() override;
  // Hands the writer's answer to the completer thread (Finish).
  void Answer(ItemPtr& item, absl::StatusOr<store::AppendedLeaf> result) override;

  store::Prepared ResolveSeenSignature(const std::shared_ptr<Item>& item,
                                       const std::string& signature_hash);
  v1::RelayReceipt SignedReceipt(uint64_t event_id, std::string leaf_hash,
                                 uint64_t received_at) const;
  void Finish(const std::shared_ptr<Item>& item, absl::StatusOr<store::AppendedLeaf> result);
  void Complete(Item& item, const absl::StatusOr<Accepted>& outcome);
  absl::StatusOr<Accepted> AcceptedFromRecord(const SeenRequest& record);
  absl::StatusOr<v1::DMInvite> InviteWithToken(uint64_t invite_event_id) const;
  // Flags a new equivocation; its record joins the batch's write.
  store::WriteSet RecordEquivocation(Equivocation equivocation);

  absl::Status CheckNewPeerValues(absl::string_view action_name, const std::string& server_id,
                                  const std::vector<std::string>& may_ban) const;
  // Checks, signs and validates an OperatorAction, ready to enqueue.
  absl::StatusOr<std::shared_ptr<Item>> MakeOperatorAction(absl::string_view action_name,
                                                           const std::string& server_id,
                                                           const std::string& pubkey_hex,
                                                           const std::vector<std::string>& may_ban,
                                                           PeerSource source) const;
  // Signs and logs an OperatorAction; `pubkey_hex` and `may_ban` only where
  // the action has them. `done` as for Submit.
  void StartOperatorAction(absl::string_view action_name, const std::string& server_id,
                           const std::string& pubkey_hex, const std::vector<std::string>& may_ban,
                           PeerSource source, DoneFn done);
  // The same, waiting for the answer (reconciliation at Open).
  absl::StatusOr<Accepted> RunOperatorAction(absl::string_view action_name,
                                             const std::string& server_id,
                                             const std::string& pubkey_hex,
                                             const std::vector<std::string>& may_ban,
                                             PeerSource source);

  store::LogStore* const store_;
  const Ed25519PrivateKey* const relay_key_;
  const std::string relay_public_key_;
  const FederationOptions options_;
  EventSink* const sink_;

  // durable_ changes only on the writer thread, under mu_; the writer thread
  // reads it without the lock, every other thread with it. It reads the
  // store on demand (federation/stored_state.h): nothing is loaded whole.
  mutable absl::Mutex mu_;
  const std::unique_ptr<StoredState> durable_;
  std::vector<Equivocation> equivocations_ ABSL_GUARDED_BY(mu_);
  LockedStateView hints_;

  // What a batch decided until it is durable (writer thread only).
  struct PendingBatch {
    explicit PendingBatch(const StateView* base) : overlay(base) {}
    StateOverlay overlay;  // over the batch before it, or over durable_
    std::vector<Equivocation> equivocations;
    absl::flat_hash_map<std::string, std::shared_ptr<Item>> by_signature_hash;
    std::vector<std::shared_ptr<Item>> items;
  };
  // The batch being prepared, created by its first Prepare.
  PendingBatch& OpenBatch();
  // Every batch not yet durable, oldest first, the one being prepared last.
  std::vector<const PendingBatch*> PendingBatches() const;
  // The oldest written batch has ended: the one after it now reads durable_.
  void PopWrittenBatch();
  // The batch being prepared reads through the ones being written (the writer
  // writes one while it prepares the next), oldest first.
  std::unique_ptr<PendingBatch> open_batch_;
  std::deque<std::unique_ptr<PendingBatch>> written_batches_;
  // fedrelay_accepted_total by entry kind, looked up once per kind (writer thread only).
  absl::flat_hash_map<std::string, Counter*> accepted_counters_;
  Counter& AcceptedCounter(const std::string& kind) {
    Counter*& counter = accepted_counters_[kind];
    if (counter == nullptr) {
      counter = &MetricsRegistry::Default().GetCounter(
          "fedrelay_accepted_total", "Entries appended to the log, by kind.", {{"kind", kind}});
    }
    return *counter;
  }

  std::atomic<bool> stopped_{false};
  // What follows a durable batch (receipt signing, reading an invite's
  // token, answering callers), so the writer thread only decides and writes.
  // Declared before the writer: the writer stops (and posts its last
  // answers) first, then the completer drains.
  SerialWorker completer_;
  std::unique_ptr<store::LogWriter<ItemPtr>> writer_;
};

}  // namespace fedrelay::federation::internal

#endif  // FEDRELAY_FEDERATION_FEDERATION_IMPL_H_
