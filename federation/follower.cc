#include "federation/follower.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/accept.h"
#include "federation/signing.h"
#include "federation/rules/rules.h"
#include "federation/state.h"
#include "federation/stored_state.h"

namespace fedrelay::federation {
namespace {

absl::Status NotTheSequencer() {
  return MakeError(ErrorCode::kUnavailable,
                   "this is a fan-out node: submit to the sequencer (docs/scale-out.md)");
}

class FollowerImpl final : public FollowerFederation {
 public:
  FollowerImpl(store::LogStore* store, std::string relay_public_key, uint64_t max_clock_skew_ms,
               std::unique_ptr<StoredState> state)
      : store_(store),
        relay_public_key_(std::move(relay_public_key)),
        max_clock_skew_ms_(max_clock_skew_ms),
        durable_(std::move(state)),
        overlay_(durable_.get()) {}

  absl::StatusOr<std::shared_ptr<const v1::LogEntry>> Check(uint64_t event_id,
                                                            absl::string_view leaf,
                                                            store::WriteSet& side) override {
    auto logged = std::make_shared<v1::LogEntry>();
    if (!logged->ParseFromString(std::string(leaf))) {
      return absl::DataLossError(absl::StrCat("event ", event_id, ": the leaf is not a LogEntry"));
    }
    if (logged->event_id() != event_id) {
      return absl::DataLossError(
          absl::StrCat("event ", event_id, ": the entry says event_id ", logged->event_id()));
    }
    // The overlay is read under the lock only by this thread's writes; queries
    // read the durable state.
    rules::Context ctx;
    ctx.now_ms = logged->received_at();
    ctx.max_clock_skew_ms = max_clock_skew_ms_;
    ctx.hints = &overlay_;
    ctx.from_log = true;
    StoredState::TakeReadFailure().IgnoreError();
    absl::StatusOr<rules::Verified> verified =
        rules::ValidateLogged(*logged, relay_public_key_, ctx);
    if (!verified.ok()) {
      return absl::DataLossError(
          absl::StrCat("event ", event_id, ": refused: ", verified.status().message()));
    }
    AcceptOutcome outcome = AcceptStep(
        overlay_, *verified, EntryPlace{event_id, logged->received_at(), max_clock_skew_ms_});
    if (absl::Status unread = StoredState::TakeReadFailure(); !unread.ok()) {
      return absl::UnavailableError(absl::StrCat("event ", event_id,
                                                 ": cannot read the derived state: ",
                                                 unread.message()));
    }
    if (const auto* refusal = std::get_if<Refusal>(&outcome)) {
      return absl::DataLossError(
          absl::StrCat("event ", event_id, ": refused: ", refusal->status.message()));
    }
    if (std::holds_alternative<SeenSignature>(outcome)) {
      return absl::DataLossError(
          absl::StrCat("event ", event_id, ": replays the signature of an earlier entry"));
    }
    const Admission& admission = std::get<Admission>(outcome);
    if (admission.leaf != leaf) {
      return absl::DataLossError(
          absl::StrCat("event ", event_id, ": the leaf is not what the rules give"));
    }
    for (const StateOp& op : admission.ops) {
      overlay_.Apply(op);
      AddWrites(op, side);
    }
    return logged;
  }

  void Commit() override {
    absl::WriterMutexLock lock(&mu_);
    for (const StateOp& op : overlay_.ops()) durable_->Apply(op);
    overlay_.Clear();
  }

  void Abandon() override { overlay_.Clear(); }

  void Submit(Submission, DoneFn done) override { done(NotTheSequencer()); }
  void AddPeer(const PeerInfo&, DoneFn done) override { done(NotTheSequencer()); }
  void RemovePeer(const std::string&, DoneFn done) override { done(NotTheSequencer()); }
  void RotatePeerKey(const std::string&, const std::string&, DoneFn done) override {
    done(NotTheSequencer());
  }
  void SetPeerMayBan(const std::string&, const std::vector<std::string>&, DoneFn done) override {
    done(NotTheSequencer());
  }

  std::vector<PeerInfo> Peers() const override {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<PeerInfo> peers;
    for (const auto& [server_id, record] : durable_->peers()) {
      peers.push_back(PeerInfo{server_id, record.pubkey_hex, record.may_ban});
    }
    return peers;
  }
  std::optional<PeerInfo> Peer(const std::string& server_id) const override {
    absl::ReaderMutexLock lock(&mu_);
    std::optional<PeerRecord> record = durable_->FindPeer(server_id);
    if (!record.has_value()) return std::nullopt;
    return PeerInfo{server_id, record->pubkey_hex, record->may_ban};
  }
  std::optional<std::string> HomeserverOf(const std::string& user_id) const override {
    absl::ReaderMutexLock lock(&mu_);
    return durable_->FindHomeserver(user_id);
  }
  bool IsBanned(const std::string& guild_id, const std::string& user_id) const override {
    absl::ReaderMutexLock lock(&mu_);
    return durable_->IsBannedOrUnreadable(guild_id, user_id);
  }
  std::optional<InviteInfo> Invite(const std::string& invite_id) const override {
    std::optional<InviteRecord> record;
    {
      absl::ReaderMutexLock lock(&mu_);
      record = durable_->FindInvite(invite_id);
    }
    if (!record.has_value()) return std::nullopt;
    // The token came over the bus's tokens stream, beside the log (never in it).
    absl::Status token_read;
    return ToInviteInfo(invite_id, *std::move(record), *store_, &token_read);
  }
  std::vector<Equivocation> Equivocations() const override { return {}; }
  void Stop() override {}

 private:
  store::LogStore* const store_;
  const std::string relay_public_key_;
  const uint64_t max_clock_skew_ms_;
  mutable absl::Mutex mu_;
  // Read from the store on demand (federation/stored_state.h). Changed only by
  // Commit on the follower thread, under mu_; that thread reads it unlocked.
  const std::unique_ptr<StoredState> durable_;
  StateOverlay overlay_;  // the follower thread's; reads durable_ (never written meanwhile)
};

}  // namespace

absl::StatusOr<std::unique_ptr<FollowerFederation>> FollowerFederation::Open(
    store::LogStore* store, const std::string& relay_public_key_hex, uint64_t max_clock_skew_ms) {
  RETURN_IF_ERROR(InitCrypto());
  ASSIGN_OR_RETURN(std::string relay_public_key,
                   ParsePublicKeyHex(relay_public_key_hex, "relay public key"));
  ASSIGN_OR_RETURN(std::unique_ptr<StoredState> state, StoredState::Open(store));
  if (state->log_size() != store->Size()) {
    return absl::DataLossError(absl::StrCat("the state covers ", state->log_size(),
                                            " entries but the log holds ", store->Size()));
  }
  return std::unique_ptr<FollowerFederation>(new FollowerImpl(
      store, std::move(relay_public_key), max_clock_skew_ms, std::move(state)));
}

}  // namespace fedrelay::federation
