#include "federation/federation.h"

#include <atomic>
#include <deque>
#include <map>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/peer_values.h"
#include "base/status_macros.h"
#include "federation/accept.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "federation/state.h"
#include "spdlog/spdlog.h"
#include "store/log_writer.h"
#include "store/merkle.h"

namespace fedrelay::federation {
namespace {

// Runs closures one at a time, in the order posted, on a thread of its own:
// what follows a durable batch (receipt signing, reading an invite's token,
// answering callers) so the writer thread only decides and writes.
class Completer {
 public:
  Completer() : thread_([this] { Run(); }) {}
  ~Completer() { Stop(); }
  // After Stop (a Submit racing with shutdown) `fn` runs on the caller's thread.
  void Post(std::function<void()> fn) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        queue_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }
  // Runs what was posted, then ends the thread.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    for (;;) {
      std::deque<std::function<void()>> ready;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Completer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
              return c->stopping_ || !c->queue_.empty();
            },
            this));
        if (queue_.empty()) return;
        ready.swap(queue_);
      }
      for (std::function<void()>& fn : ready) fn();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is initialized
};


Counter& EquivocationCounter() {
  return MetricsRegistry::Default().GetCounter(
      "fedrelay_equivocations_total",
      "Migrations refused because they name a second target at the same timestamp.");
}

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
  LockedStateView(const DerivedState* state, absl::Mutex* mu) : state_(state), mu_(mu) {}
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
  std::optional<uint64_t> ReplayExpiry(absl::string_view signature_hash) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->ReplayExpiry(signature_hash);
  }
  uint64_t ReplayHorizon() const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->ReplayHorizon();
  }
  std::vector<std::string> ExpiredReplays(uint64_t before_ms, size_t max) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->ExpiredReplays(before_ms, max);
  }

 private:
  const DerivedState* const state_;
  absl::Mutex* const mu_;
};

PeerInfo ToPeerInfo(const std::string& server_id, const PeerRecord& record) {
  return PeerInfo{server_id, record.pubkey_hex, record.may_ban};
}

using ItemPtr = std::shared_ptr<Item>;

class FederationImpl final : public Federation, private store::BatchHandler<ItemPtr> {
 public:
  FederationImpl(store::LogStore* store, const Ed25519PrivateKey* relay_key,
                 FederationOptions options, EventSink* sink, DerivedState state,
                 std::vector<Equivocation> equivocations)
      : store_(store),
        relay_key_(relay_key),
        relay_public_key_(relay_key->PublicKey()),
        options_(std::move(options)),
        sink_(sink),
        durable_(std::move(state)),
        equivocations_(std::move(equivocations)),
        hints_(&durable_, &mu_),
        overlay_(&durable_) {}

  ~FederationImpl() override { Stop(); }

  void StartWriter() {
    writer_ = std::make_unique<store::LogWriter<ItemPtr>>(
        store_, static_cast<store::BatchHandler<ItemPtr>*>(this));
  }
  absl::Status ReconcileConfigPeers();

  void Submit(Submission submission, DoneFn done) override;
  absl::StatusOr<Accepted> AddPeer(const PeerInfo& peer) override;
  absl::StatusOr<Accepted> RemovePeer(const std::string& server_id) override;
  absl::StatusOr<Accepted> RotatePeerKey(const std::string& server_id,
                                         const std::string& new_pubkey_hex) override;
  absl::StatusOr<Accepted> SetPeerMayBan(const std::string& server_id,
                                         const std::vector<std::string>& may_ban) override;

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
  absl::StatusOr<Accepted> AcceptedFromRecord(const ReplayRecord& record);
  absl::StatusOr<v1::DMInvite> InviteWithToken(uint64_t invite_event_id) const;
  // Flags a new equivocation; its record joins the batch's write.
  store::WriteSet RecordEquivocation(Equivocation equivocation);

  absl::Status CheckNewPeerValues(absl::string_view action_name, const std::string& server_id,
                                  const std::vector<std::string>& may_ban) const;
  // Signs and logs an OperatorAction; `pubkey_hex` and `may_ban` only where
  // the action has them.
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
  // reads it without the lock, every other thread with it.
  mutable absl::Mutex mu_;
  DerivedState durable_;
  std::vector<Equivocation> equivocations_ ABSL_GUARDED_BY(mu_);
  LockedStateView hints_;

  // The batch being prepared (writer thread only).
  StateOverlay overlay_;
  std::vector<Equivocation> batch_equivocations_;
  absl::flat_hash_map<std::string, std::shared_ptr<Item>> batch_by_signature_hash_;
  std::vector<std::shared_ptr<Item>> batch_items_;
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
  // Declared before the writer: the writer stops (and posts its last
  // answers) first, then the completer drains.
  Completer completer_;
  std::unique_ptr<store::LogWriter<ItemPtr>> writer_;
};

// ---------------------------------------------------------------------------
// Submissions.

void FederationImpl::Submit(Submission submission, DoneFn done) {
  if (stopped_.load()) {
    done(MakeError(ErrorCode::kUnavailable, "the relay is shutting down"));
    return;
  }
  rules::Context ctx;
  ctx.now_ms = options_.clock->NowMs();
  ctx.max_clock_skew_ms = options_.max_clock_skew_ms;
  ctx.hints = &hints_;
  absl::StatusOr<rules::Verified> verified = rules::Validate(submission, ctx);
  if (!verified.ok()) {
    CountRejection(verified.status());
    done(verified.status());
    return;
  }
  auto item = std::make_shared<Item>();
  item->verified = *std::move(verified);
  item->received_at = ctx.now_ms;
  item->done = std::move(done);
  Enqueue(std::move(item));
}

void FederationImpl::Enqueue(ItemPtr item) { writer_->Submit(std::move(item)); }

void FederationImpl::Answer(ItemPtr& item, absl::StatusOr<store::AppendedLeaf> result) {
  completer_.Post([this, item, result = std::move(result)]() mutable {
    Finish(item, std::move(result));
  });
}

store::Prepared FederationImpl::Prepare(ItemPtr& item, uint64_t leaf_index,
                                        store::WriteSet& side) {
  const EntryPlace place{leaf_index + 1, item->received_at, options_.max_clock_skew_ms};
  AcceptOutcome outcome = AcceptStep(overlay_, item->verified, place);
  if (const auto* seen = std::get_if<SeenSignature>(&outcome)) {
    return ResolveSeenSignature(item, seen->signature_hash);
  }
  if (auto* refusal = std::get_if<Refusal>(&outcome)) {
    if (!item->verified.entry.has_operator_action()) CountRejection(refusal->status);
    if (refusal->equivocation.has_value()) {
      return store::Prepared::Refused(std::move(refusal->status),
                                      RecordEquivocation(*std::move(refusal->equivocation)));
    }
    return store::Prepared::Refused(std::move(refusal->status));
  }
  Admission& admission = std::get<Admission>(outcome);
  for (const StateOp& state_op : admission.ops) {
    AddWrites(state_op, side);
    overlay_.Apply(state_op);
  }
  item->entry = std::make_shared<const v1::LogEntry>(std::move(admission.entry));
  item->invite_event_id = admission.invite_event_id;
  if (!admission.signature_hash.empty()) {
    batch_by_signature_hash_[admission.signature_hash] = item;
  }
  batch_items_.push_back(item);
  return store::Prepared::Leaf(std::move(admission.leaf));
}

// The same signature within the window is `replayed`, except an identical
// resubmission, which is answered with the original's outcome (idempotency):
// once the original's batch is durable if it is in this batch, else at once.
store::Prepared FederationImpl::ResolveSeenSignature(const std::shared_ptr<Item>& item,
                                                     const std::string& signature_hash) {
  const auto refuse = [](absl::Status status) {
    CountRejection(status);
    return store::Prepared::Refused(std::move(status));
  };
  const auto replayed = [&refuse] {
    return refuse(MakeError(ErrorCode::kReplayed, "this signature was already accepted"));
  };
  if (auto pending = batch_by_signature_hash_.find(signature_hash);
      pending != batch_by_signature_hash_.end()) {
    if (pending->second->verified.body_hash != item->verified.body_hash) return replayed();
    // Answered with the original in Finish (the completer runs in order).
    std::shared_ptr<Item> original = pending->second;
    completer_.Post([original, item] { original->waiters.push_back(item); });
    return store::Prepared::Answered();
  }
  absl::StatusOr<std::optional<std::string>> bytes =
      store_->Get(store::Table::kReplay, ReplayKey(signature_hash));
  if (!bytes.ok()) return refuse(bytes.status());
  if (!bytes->has_value()) {
    return refuse(MakeError(ErrorCode::kInternal, "replay memory and replay table disagree"));
  }
  absl::StatusOr<ReplayRecord> record = ParseReplayRecord(**bytes);
  if (!record.ok()) return refuse(record.status());
  if (record->body_hash != item->verified.body_hash) return replayed();
  completer_.Post([this, item, record = *std::move(record)] {
    Complete(*item, AcceptedFromRecord(record));
  });
  return store::Prepared::Answered();
}

v1::RelayReceipt FederationImpl::SignedReceipt(uint64_t event_id, std::string leaf_hash,
                                               uint64_t received_at) const {
  v1::RelayReceipt receipt;
  receipt.set_event_id(event_id);
  receipt.set_leaf_hash(std::move(leaf_hash));
  receipt.set_timestamp(received_at);
  SignReceipt(&receipt, *relay_key_);
  return receipt;
}

// On the completer thread, in the writer's order.
void FederationImpl::Finish(const std::shared_ptr<Item>& item,
                            absl::StatusOr<store::AppendedLeaf> result) {
  absl::StatusOr<Accepted> outcome;
  if (result.ok()) {
    Accepted accepted;
    accepted.receipt = SignedReceipt(item->entry->event_id(), std::move(result->leaf_hash),
                                     item->received_at);
    accepted.entry = item->entry;
    if (item->entry->has_dm_accept()) {
      absl::StatusOr<v1::DMInvite> invite = InviteWithToken(item->invite_event_id);
      if (invite.ok()) {
        accepted.invite = *std::move(invite);
      } else {
        // The decision is durable; only the convenience copy is missing.
        spdlog::error("event {}: cannot load the accepted invite: {}", item->entry->event_id(),
                      invite.status().ToString());
      }
    }
    AcceptedCounter(item->entry->kind()).Increment();
    outcome = std::move(accepted);
  } else {
    // Refusals were counted by Prepare; a failed write is counted here.
    if (item->entry != nullptr && !item->verified.entry.has_operator_action()) {
      CountRejection(result.status());
    }
    outcome = result.status();
  }
  item->outcome = outcome;
  Complete(*item, outcome);
  std::vector<std::shared_ptr<Item>> waiters = std::move(item->waiters);
  for (const std::shared_ptr<Item>& waiter : waiters) Complete(*waiter, outcome);
}

void FederationImpl::Complete(Item& item, const absl::StatusOr<Accepted>& outcome) {
  DoneFn done = std::move(item.done);
  if (done) done(outcome);
}

absl::StatusOr<Accepted> FederationImpl::AcceptedFromRecord(const ReplayRecord& record) {
  Accepted accepted;
  ASSIGN_OR_RETURN(std::string leaf, store_->GetLeaf(record.event_id - 1));
  auto entry = std::make_shared<v1::LogEntry>();
  if (!entry->ParseFromString(leaf)) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("event ", record.event_id, " is unreadable"));
  }
  // Ed25519 signatures are deterministic: this is the receipt the original got.
  accepted.receipt = SignedReceipt(record.event_id, store::HashLeaf(leaf), entry->received_at());
  if (entry->has_dm_accept()) {
    std::optional<InviteRecord> invite;
    {
      absl::ReaderMutexLock lock(&mu_);
      invite = durable_.FindInvite(entry->dm_accept().invite_id());
    }
    if (invite.has_value()) {
      ASSIGN_OR_RETURN(accepted.invite, InviteWithToken(invite->event_id));
    }
  }
  accepted.entry = std::move(entry);
  return accepted;
}

absl::StatusOr<v1::DMInvite> FederationImpl::InviteWithToken(uint64_t invite_event_id) const {
  ASSIGN_OR_RETURN(std::string leaf, store_->GetLeaf(invite_event_id - 1));
  v1::LogEntry entry;
  if (!entry.ParseFromString(leaf) || !entry.has_dm_invite()) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("event ", invite_event_id, " is not a readable DM invite"));
  }
  v1::DMInvite invite = std::move(*entry.mutable_dm_invite());
  ASSIGN_OR_RETURN(std::optional<std::string> token,
                   store_->Get(store::Table::kAux, InviteTokenKey(invite.invite_id())));
  if (token.has_value()) invite.set_token(*std::move(token));
  return invite;
}

store::WriteSet FederationImpl::RecordEquivocation(Equivocation equivocation) {
  spdlog::warn(
      "equivocation: user {} migrated to '{}' at timestamp {} and now claims '{}' for the same "
      "timestamp; refused",
      equivocation.user_id, equivocation.logged_target, equivocation.timestamp,
      equivocation.rejected_target);
  EquivocationCounter().Increment();
  const auto same = [&equivocation](const Equivocation& seen) {
    return seen.user_id == equivocation.user_id && seen.timestamp == equivocation.timestamp &&
           seen.rejected_target == equivocation.rejected_target;
  };
  uint64_t sequence = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (std::any_of(equivocations_.begin(), equivocations_.end(), same)) return {};
    sequence = equivocations_.size();
  }
  if (std::any_of(batch_equivocations_.begin(), batch_equivocations_.end(), same)) return {};
  sequence += batch_equivocations_.size();
  store::WriteSet writes;
  AddEquivocationWrite(sequence, equivocation, writes);
  batch_equivocations_.push_back(std::move(equivocation));
  return writes;
}

void FederationImpl::OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) {
  {
    absl::MutexLock lock(&mu_);
    for (const StateOp& state_op : overlay_.ops()) durable_.Apply(state_op);
    for (Equivocation& equivocation : batch_equivocations_) {
      equivocations_.push_back(std::move(equivocation));
    }
  }
  batch_equivocations_.clear();
  if (batch_items_.size() != leaves.size()) {
    spdlog::error("batch at index {}: {} leaves but {} prepared items", first_index, leaves.size(),
                  batch_items_.size());
  }
  std::vector<std::shared_ptr<const v1::LogEntry>> entries;
  entries.reserve(batch_items_.size());
  for (const std::shared_ptr<Item>& item : batch_items_) entries.push_back(item->entry);
  overlay_.Clear();
  batch_by_signature_hash_.clear();
  batch_items_.clear();
  if (sink_ != nullptr && !entries.empty()) sink_->OnDurable(entries);
}

void FederationImpl::OnBatchFailed() {
  overlay_.Clear();
  batch_equivocations_.clear();
  batch_by_signature_hash_.clear();
  batch_items_.clear();
}

// ---------------------------------------------------------------------------
// Operator actions.

absl::StatusOr<Accepted> FederationImpl::RunOperatorAction(absl::string_view action_name,
                                                           const std::string& server_id,
                                                           const std::string& pubkey_hex,
                                                           const std::vector<std::string>& may_ban,
                                                           PeerSource source) {
  if (stopped_.load()) return MakeError(ErrorCode::kUnavailable, "the relay is shutting down");
  if (!pubkey_hex.empty()) RETURN_IF_ERROR(rules::CheckPinnablePeerKey(pubkey_hex));
  RETURN_IF_ERROR(CheckNewPeerValues(action_name, server_id, may_ban));
  const uint64_t now = options_.clock->NowMs();
  v1::OperatorAction action;
  action.set_action(std::string(action_name));
  action.set_server_id(server_id);
  action.set_pubkey(pubkey_hex);
  for (const std::string& guild : may_ban) action.add_may_ban(guild);
  action.set_timestamp(now);
  SignOperatorAction(&action, *relay_key_);
  ASSIGN_OR_RETURN(rules::Verified verified, rules::ValidateOperatorAction(action, relay_public_key_));
  verified.peer_source = source;

  auto item = std::make_shared<Item>();
  item->verified = std::move(verified);
  item->received_at = now;
  absl::Notification finished;
  absl::StatusOr<Accepted> result;
  item->done = [&](absl::StatusOr<Accepted> outcome) {
    result = std::move(outcome);
    finished.Notify();
  };
  Enqueue(std::move(item));
  finished.WaitForNotification();
  if (result.ok()) {
    spdlog::info("operator action {} {} logged as event {}", action.action(), action.server_id(),
                 result->receipt.event_id());
  }
  return result;
}

// The config loader's value rules (base/peer_values.h), for every new action
// whatever client sent it. Removing, rotating or re-scoping a peer that is
// already in the log names it as logged, so an id logged before these rules
// existed can still be removed.
absl::Status FederationImpl::CheckNewPeerValues(absl::string_view action_name,
                                                const std::string& server_id,
                                                const std::vector<std::string>& may_ban) const {
  if (action_name == rules::kPeerAdd) {
    if (absl::Status check = CheckServerId(server_id); !check.ok()) {
      return MakeError(ErrorCode::kMalformed, absl::StrCat("peer server_id ", check.message()));
    }
  }
  if (action_name == rules::kPeerAdd || action_name == rules::kPeerMayBan) {
    if (absl::Status check = CheckGuildList(may_ban); !check.ok()) {
      return MakeError(ErrorCode::kMalformed, absl::StrCat("peer may_ban: ", check.message()));
    }
  }
  if (action_name == rules::kPeerMayBan) {
    // The same guilds in another order change nothing: refuse, do not log.
    absl::ReaderMutexLock lock(&mu_);
    std::optional<PeerRecord> peer = durable_.FindPeer(server_id);
    if (peer.has_value() && SameGuilds(peer->may_ban, may_ban)) {
      return MakeError(ErrorCode::kConflict,
                       absl::StrCat("peer '", server_id, "' already has that may_ban list"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Accepted> FederationImpl::AddPeer(const PeerInfo& peer) {
  return RunOperatorAction(rules::kPeerAdd, peer.server_id, peer.pubkey_hex, peer.may_ban,
                           PeerSource::kCtl);
}

absl::StatusOr<Accepted> FederationImpl::RemovePeer(const std::string& server_id) {
  return RunOperatorAction(rules::kPeerRemove, server_id, "", {}, PeerSource::kUnknown);
}

absl::StatusOr<Accepted> FederationImpl::RotatePeerKey(const std::string& server_id,
                                                       const std::string& new_pubkey_hex) {
  return RunOperatorAction(rules::kPeerRotate, server_id, new_pubkey_hex, {}, PeerSource::kUnknown);
}

absl::StatusOr<Accepted> FederationImpl::SetPeerMayBan(const std::string& server_id,
                                                       const std::vector<std::string>& may_ban) {
  return RunOperatorAction(rules::kPeerMayBan, server_id, "", may_ban, PeerSource::kUnknown);
}

// Runs before Open returns, so nothing else changes the peer table meanwhile.
absl::Status FederationImpl::ReconcileConfigPeers() {
  std::map<std::string, PeerInfo> configured;
  for (const PeerInfo& peer : options_.config_peers) {
    RETURN_IF_ERROR(rules::RequireNonEmpty(peer.pubkey_hex, "peer pubkey"));
    RETURN_IF_ERROR(rules::CheckPeerFields(peer.server_id, peer.pubkey_hex, peer.may_ban));
    if (!configured.emplace(peer.server_id, peer).second) {
      return MakeError(ErrorCode::kMalformed,
                       absl::StrCat("peer '", peer.server_id, "' is configured twice"));
    }
  }
  std::map<std::string, PeerRecord> logged;
  {
    absl::ReaderMutexLock lock(&mu_);
    logged = durable_.peers();
  }

  for (const auto& [server_id, peer] : configured) {
    auto it = logged.find(server_id);
    if (it == logged.end()) {
      RETURN_IF_ERROR(RunOperatorAction(rules::kPeerAdd, server_id, peer.pubkey_hex, peer.may_ban,
                                        PeerSource::kConfig)
                          .status());
      continue;
    }
    if (it->second.pubkey_hex != peer.pubkey_hex) {
      RETURN_IF_ERROR(
          RunOperatorAction(rules::kPeerRotate, server_id, peer.pubkey_hex, {}, PeerSource::kConfig)
              .status());
    }
    if (!SameGuilds(it->second.may_ban, peer.may_ban)) {
      RETURN_IF_ERROR(
          RunOperatorAction(rules::kPeerMayBan, server_id, "", peer.may_ban, PeerSource::kConfig)
              .status());
    }
  }
  // A peer keeps the owner that added it: one added with fedrelay-ctl and
  // later listed in the config takes the config's values while listed, and
  // stays when taken out again, until fedrelay-ctl removes it.
  for (const auto& [server_id, record] : logged) {
    if (record.source != PeerSource::kConfig || configured.contains(server_id)) continue;
    RETURN_IF_ERROR(
        RunOperatorAction(rules::kPeerRemove, server_id, "", {}, PeerSource::kConfig).status());
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Queries.

std::vector<PeerInfo> FederationImpl::Peers() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<PeerInfo> peers;
  for (const auto& [server_id, record] : durable_.peers()) {
    peers.push_back(ToPeerInfo(server_id, record));
  }
  return peers;
}

std::optional<PeerInfo> FederationImpl::Peer(const std::string& server_id) const {
  absl::ReaderMutexLock lock(&mu_);
  std::optional<PeerRecord> record = durable_.FindPeer(server_id);
  if (!record.has_value()) return std::nullopt;
  return ToPeerInfo(server_id, *record);
}

std::optional<std::string> FederationImpl::HomeserverOf(const std::string& user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return durable_.FindHomeserver(user_id);
}

bool FederationImpl::IsBanned(const std::string& guild_id, const std::string& user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return durable_.IsBanned(guild_id, user_id);
}

std::optional<InviteInfo> FederationImpl::Invite(const std::string& invite_id) const {
  std::optional<InviteRecord> record;
  {
    absl::ReaderMutexLock lock(&mu_);
    record = durable_.FindInvite(invite_id);
  }
  if (!record.has_value()) return std::nullopt;
  absl::Status token_read;
  InviteInfo info = ToInviteInfo(invite_id, *std::move(record), *store_, &token_read);
  if (!token_read.ok()) {
    spdlog::error("cannot read the token of invite {}: {}", invite_id, token_read.ToString());
  }
  return info;
}

std::vector<Equivocation> FederationImpl::Equivocations() const {
  absl::ReaderMutexLock lock(&mu_);
  return equivocations_;
}

void FederationImpl::Stop() {
  stopped_.store(true);
  if (writer_ != nullptr) writer_->Stop();
  completer_.Stop();
}

}  // namespace

void CountRejection(const absl::Status& status) {
  MetricsRegistry::Default()
      .GetCounter("fedrelay_rejections_total", "Requests rejected, by machine code.",
                  {{"code", MachineCode(status)}})
      .Increment();
}

absl::StatusOr<std::unique_ptr<Federation>> Federation::Open(store::LogStore* store,
                                                             const Ed25519PrivateKey* relay_key,
                                                             FederationOptions options,
                                                             EventSink* sink) {
  if (store == nullptr || relay_key == nullptr) {
    return absl::InvalidArgumentError("Federation::Open needs a store and the relay key");
  }
  if (options.clock == nullptr) options.clock = &SystemClock();
  RETURN_IF_ERROR(InitCrypto());
  ASSIGN_OR_RETURN(DerivedState state, DerivedState::Load(*store));
  if (state.log_size() != store->Size()) {
    return absl::DataLossError(absl::StrCat(
        "the derived state covers ", state.log_size(), " log entries but the log holds ",
        store->Size(), "; the state tables do not belong to this log (check it with fedrelay-audit)"));
  }
  ASSIGN_OR_RETURN(std::vector<Equivocation> equivocations, LoadEquivocations(*store));
  EquivocationCounter();  // on /metrics from the start (at 0), not from the first refusal
  auto federation = std::make_unique<FederationImpl>(store, relay_key, std::move(options), sink,
                                                     std::move(state), std::move(equivocations));
  federation->StartWriter();
  RETURN_IF_ERROR(federation->ReconcileConfigPeers());
  return federation;
}

absl::StatusOr<Accepted> Federation::SubmitAndWait(Submission submission) {
  absl::Notification finished;
  absl::StatusOr<Accepted> result;
  Submit(std::move(submission), [&](absl::StatusOr<Accepted> outcome) {
    result = std::move(outcome);
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

}  // namespace fedrelay::federation
