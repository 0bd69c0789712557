#include "federation/federation.h"

#include "federation/federation_impl.h"

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

namespace fedrelay::federation {
namespace internal {

Counter& EquivocationCounter() {
  return MetricsRegistry::Default().GetCounter(
      "fedrelay_equivocations_total",
      "Migrations refused because they name a second target at the same timestamp.");
}

// ---------------------------------------------------------------------------
// Submissions.

// What CheckSubmission hands back: the item, validated, not yet queued.
struct CheckedItem final : CheckedSubmission {
  std::shared_ptr<Item> item;
};

void FederationImpl::Submit(Submission submission, DoneFn done) {
  absl::StatusOr<std::unique_ptr<CheckedSubmission>> checked = CheckSubmission(std::move(submission));
  if (!checked.ok()) {
    done(checked.status());
    return;
  }
  SubmitChecked(*std::move(checked), std::move(done));
}

absl::StatusOr<std::unique_ptr<CheckedSubmission>> FederationImpl::CheckSubmission(Submission submission) {
  if (stopped_.load()) return MakeError(ErrorCode::kUnavailable, "the relay is shutting down");
  rules::Context ctx;
  ctx.now_ms = options_.clock->NowMs();
  ctx.max_clock_skew_ms = options_.max_clock_skew_ms;
  ctx.hints = &hints_;
  absl::StatusOr<rules::Verified> verified = rules::Validate(submission, ctx);
  if (!verified.ok()) {
    CountRejection(verified.status());
    return verified.status();
  }
  auto checked = std::make_unique<CheckedItem>();
  checked->item = std::make_shared<Item>();
  checked->item->verified = *std::move(verified);
  checked->item->received_at = ctx.now_ms;
  return checked;
}

void FederationImpl::SubmitChecked(std::unique_ptr<CheckedSubmission> checked, DoneFn done) {
  if (stopped_.load()) {
    done(MakeError(ErrorCode::kUnavailable, "the relay is shutting down"));
    return;
  }
  // Only CheckSubmission makes this core's CheckedSubmissions.
  std::shared_ptr<Item> item = std::move(static_cast<CheckedItem&>(*checked).item);
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
  StoredState::TakeReadFailure().IgnoreError();  // a hint's, from an earlier call: not this item's
  PendingBatch& batch = OpenBatch();
  AcceptOutcome outcome = AcceptStep(batch.overlay, item->verified, place);
  if (absl::Status unread = StoredState::TakeReadFailure(); !unread.ok()) {
    // The step decided on a lookup that failed: refuse rather than guess.
    spdlog::error("event {}: cannot read the derived state: {}", place.event_id, unread.ToString());
    absl::Status status = MakeError(ErrorCode::kUnavailable, "the relay cannot read its state; retry");
    CountRejection(status);
    return store::Prepared::Refused(std::move(status));
  }
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
    batch.overlay.Apply(state_op);
  }
  item->entry = std::make_shared<const v1::LogEntry>(std::move(admission.entry));
  item->invite_event_id = admission.invite_event_id;
  if (!admission.signature_hash.empty()) batch.by_signature_hash[admission.signature_hash] = item;
  batch.items.push_back(item);
  return store::Prepared::Leaf(std::move(admission.leaf));
}

// The same signature within the window is `replayed`, except an identical
// resubmission, which is answered with the original's outcome (idempotency):
// once the original's batch is durable if it is in a batch not yet durable, else at once.
store::Prepared FederationImpl::ResolveSeenSignature(const std::shared_ptr<Item>& item,
                                                     const std::string& signature_hash) {
  const auto refuse = [](absl::Status status) {
    CountRejection(status);
    return store::Prepared::Refused(std::move(status));
  };
  const auto replayed = [&refuse] {
    return refuse(MakeError(ErrorCode::kReplayed, "this signature was already accepted"));
  };
  std::shared_ptr<Item> original;
  for (const PendingBatch* batch : PendingBatches()) {
    if (auto pending = batch->by_signature_hash.find(signature_hash);
        pending != batch->by_signature_hash.end()) {
      original = pending->second;
    }
  }
  if (original != nullptr) {
    if (original->verified.body_hash != item->verified.body_hash) return replayed();
    // Answered with the original in Finish: its batch is answered after this
    // Prepare, and the completer runs in order.
    completer_.Post([original, item] { original->waiters.push_back(item); });
    return store::Prepared::Answered();
  }
  absl::StatusOr<std::optional<std::string>> bytes =
      store_->Get(store::Table::kSeenRequests, SeenRequestKey(signature_hash));
  if (!bytes.ok()) return refuse(bytes.status());
  if (!bytes->has_value()) {
    return refuse(MakeError(ErrorCode::kInternal, "replay memory and replay table disagree"));
  }
  absl::StatusOr<SeenRequest> record = ParseSeenRequest(**bytes);
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

absl::StatusOr<Accepted> FederationImpl::AcceptedFromRecord(const SeenRequest& record) {
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
      invite = durable_->FindInvite(entry->dm_accept().invite_id());
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
  for (const PendingBatch* batch : PendingBatches()) {
    if (std::any_of(batch->equivocations.begin(), batch->equivocations.end(), same)) return {};
    sequence += batch->equivocations.size();
  }
  store::WriteSet writes;
  AddEquivocationWrite(sequence, equivocation, writes);
  OpenBatch().equivocations.push_back(std::move(equivocation));
  return writes;
}

FederationImpl::PendingBatch& FederationImpl::OpenBatch() {
  if (open_batch_ == nullptr) {
    const StateView* base = written_batches_.empty()
                                ? static_cast<const StateView*>(durable_.get())
                                : &written_batches_.back()->overlay;
    open_batch_ = std::make_unique<PendingBatch>(base);
  }
  return *open_batch_;
}

std::vector<const FederationImpl::PendingBatch*> FederationImpl::PendingBatches() const {
  std::vector<const PendingBatch*> batches;
  for (const std::unique_ptr<PendingBatch>& batch : written_batches_) batches.push_back(batch.get());
  if (open_batch_ != nullptr) batches.push_back(open_batch_.get());
  return batches;
}

void FederationImpl::OnBatchPrepared() {
  OpenBatch();  // a batch of kept writes only has none yet
  written_batches_.push_back(std::move(open_batch_));
}

void FederationImpl::PopWrittenBatch() {
  written_batches_.pop_front();
  // What the popped batch decided is in durable_ now (or failed, and so does
  // the batch after it): the next one reads durable_ directly.
  PendingBatch* next = !written_batches_.empty() ? written_batches_.front().get() : open_batch_.get();
  if (next != nullptr) next->overlay.Rebase(durable_.get());
}

void FederationImpl::OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) {
  PendingBatch& batch = *written_batches_.front();
  {
    absl::MutexLock lock(&mu_);
    for (const StateOp& state_op : batch.overlay.ops()) durable_->Apply(state_op);
    for (Equivocation& equivocation : batch.equivocations) {
      equivocations_.push_back(std::move(equivocation));
    }
  }
  if (batch.items.size() != leaves.size()) {
    spdlog::error("batch at index {}: {} leaves but {} prepared items", first_index, leaves.size(),
                  batch.items.size());
  }
  std::vector<std::shared_ptr<const v1::LogEntry>> entries;
  entries.reserve(batch.items.size());
  for (const std::shared_ptr<Item>& item : batch.items) entries.push_back(item->entry);
  PopWrittenBatch();
  if (sink_ != nullptr && !entries.empty()) sink_->OnDurable(entries);
}

void FederationImpl::OnBatchFailed() { PopWrittenBatch(); }

// ---------------------------------------------------------------------------
// Queries.

std::vector<PeerInfo> FederationImpl::Peers() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<PeerInfo> peers;
  for (const auto& [server_id, record] : durable_->peers()) {
    peers.push_back(ToPeerInfo(server_id, record));
  }
  return peers;
}

std::optional<PeerInfo> FederationImpl::Peer(const std::string& server_id) const {
  absl::ReaderMutexLock lock(&mu_);
  std::optional<PeerRecord> record = durable_->FindPeer(server_id);
  if (!record.has_value()) return std::nullopt;
  return ToPeerInfo(server_id, *record);
}

std::optional<std::string> FederationImpl::HomeserverOf(const std::string& user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return durable_->FindHomeserver(user_id);
}

bool FederationImpl::IsBanned(const std::string& guild_id, const std::string& user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return durable_->IsBannedOrUnreadable(guild_id, user_id);
}

std::optional<InviteInfo> FederationImpl::Invite(const std::string& invite_id) const {
  std::optional<InviteRecord> record;
  {
    absl::ReaderMutexLock lock(&mu_);
    record = durable_->FindInvite(invite_id);
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

}  // namespace internal

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
  ASSIGN_OR_RETURN(std::unique_ptr<StoredState> state, StoredState::Open(store));
  if (state->log_size() != store->Size()) {
    return absl::DataLossError(absl::StrCat(
        "the derived state covers ", state->log_size(), " log entries but the log holds ",
        store->Size(), "; the state tables do not belong to this log (check it with fedrelay-audit)"));
  }
  ASSIGN_OR_RETURN(std::vector<Equivocation> equivocations, LoadEquivocations(*store));
  internal::EquivocationCounter();  // on /metrics from the start (at 0), not from the first refusal
  auto federation = std::make_unique<internal::FederationImpl>(store, relay_key, std::move(options), sink,
                                                     std::move(state), std::move(equivocations));
  federation->StartWriter();
  RETURN_IF_ERROR(federation->ReconcileConfigPeers());
  return federation;
}

namespace {
// Runs `start` with a done callback and waits for it.
absl::StatusOr<Accepted> Wait(const std::function<void(DoneFn)>& start) {
  absl::Notification finished;
  absl::StatusOr<Accepted> result;
  start([&](absl::StatusOr<Accepted> outcome) {
    result = std::move(outcome);
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

// The default halves: nothing is checked ahead, Submit does it all.
struct Unchecked final : CheckedSubmission {
  explicit Unchecked(Submission s) : submission(std::move(s)) {}
  Submission submission;
};
}  // namespace

absl::StatusOr<std::unique_ptr<CheckedSubmission>> Federation::CheckSubmission(Submission submission) {
  return std::make_unique<Unchecked>(std::move(submission));
}

void Federation::SubmitChecked(std::unique_ptr<CheckedSubmission> checked, DoneFn done) {
  Submit(std::move(static_cast<Unchecked&>(*checked).submission), std::move(done));
}

absl::StatusOr<Accepted> Federation::SubmitAndWait(Submission submission) {
  return Wait([&](DoneFn done) { Submit(std::move(submission), std::move(done)); });
}

absl::StatusOr<Accepted> Federation::AddPeer(const PeerInfo& peer) {
  return Wait([&](DoneFn done) { AddPeer(peer, std::move(done)); });
}

absl::StatusOr<Accepted> Federation::RemovePeer(const std::string& server_id) {
  return Wait([&](DoneFn done) { RemovePeer(server_id, std::move(done)); });
}

absl::StatusOr<Accepted> Federation::RotatePeerKey(const std::string& server_id,
                                                   const std::string& new_pubkey_hex) {
  return Wait([&](DoneFn done) { RotatePeerKey(server_id, new_pubkey_hex, std::move(done)); });
}

absl::StatusOr<Accepted> Federation::SetPeerMayBan(const std::string& server_id,
                                                   const std::vector<std::string>& may_ban) {
  return Wait([&](DoneFn done) { SetPeerMayBan(server_id, may_ban, std::move(done)); });
}

}  // namespace fedrelay::federation
