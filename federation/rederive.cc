// RederiveLog: re-derives the whole state from the log alone and checks every
// entry against what the rules say it must be, running the relay's own accept
// step (federation/accept.h) on each, checking signatures on every core;
// RederiveLogFrom continues one.
#include "federation/rederive.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "federation/accept.h"
#include "federation/federation.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "federation/state.h"

namespace fedrelay::federation {
namespace {

absl::Status Divergence(uint64_t event_id, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("event ", event_id, ": ", what));
}

// Names the first difference between the re-derived entry and the logged one.
std::string DescribeDifference(const v1::LogEntry& derived, const v1::LogEntry& logged) {
  if (derived.events_size() != logged.events_size()) {
    return absl::StrCat("the log holds ", logged.events_size(), " derived events, the rules give ",
                        derived.events_size());
  }
  for (int i = 0; i < derived.events_size(); ++i) {
    if (rules::SerializeDeterministic(derived.events(i)) !=
        rules::SerializeDeterministic(logged.events(i))) {
      return absl::StrCat("derived event #", i, " differs from the one the rules give");
    }
  }
  return "the leaf is not the deterministic serialization of the verified request";
}

// Hints for the parallel checks: the peers' pinned keys and the invites'
// targets from the state re-derived so far, which may lag the entry being
// checked. Validate only uses hints to verify early; Decide, run in log order
// against the exact state, confirms or redoes every hinted check (a peer
// re-keyed since is verified again), and an entry whose early checks fail is
// checked again in order against the exact state. Everything else is left to
// Decide.
class SpeculativeHints final : public StateView {
 public:
  SpeculativeHints(const DerivedState* state, absl::Mutex* mu) : state_(state), mu_(mu) {}
  std::optional<PeerRecord> FindPeer(absl::string_view server_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->FindPeer(server_id);
  }
  std::optional<InviteRecord> FindInvite(absl::string_view invite_id) const override {
    absl::ReaderMutexLock lock(mu_);
    return state_->FindInvite(invite_id);
  }
  bool IsBanned(absl::string_view, absl::string_view) const override { return false; }
  std::optional<std::string> FindHomeserver(absl::string_view) const override { return std::nullopt; }
  std::optional<uint64_t> LastProfileTimestamp(absl::string_view) const override { return std::nullopt; }
  std::optional<MigrationRecord> LastMigration(absl::string_view) const override { return std::nullopt; }
  std::optional<uint64_t> SeenRequestExpiry(absl::string_view) const override { return std::nullopt; }
  uint64_t ForgetHorizon() const override { return 0; }
  std::vector<ForgettableRequest> ForgettableRequests(uint64_t, size_t,
                                                      const ForgettableRequest*) const override {
    return {};
  }

 private:
  const DerivedState* const state_;
  absl::Mutex* const mu_;
};

// One entry between the parallel checks and the in-order accept step.
struct CheckedEntry {
  uint64_t index = 0;
  std::string leaf;
  v1::LogEntry logged;
  absl::Status parsed;                     // the leaf is a LogEntry with its event id
  absl::StatusOr<rules::Verified> verified = absl::UnknownError("not checked");
};

class LogRederiver {
 public:
  LogRederiver(std::string relay_public_key, uint64_t max_clock_skew_ms)
      : relay_public_key_(std::move(relay_public_key)),
        max_clock_skew_ms_(max_clock_skew_ms),
        hints_(&state_, &state_mu_) {}
  // Continues from `state` (what the entries before the next one left); every
  // state change is also added to `writes` when set, to persist it.
  LogRederiver(std::string relay_public_key, uint64_t max_clock_skew_ms, DerivedState state,
           store::WriteSet* writes)
      : relay_public_key_(std::move(relay_public_key)),
        max_clock_skew_ms_(max_clock_skew_ms),
        state_(std::move(state)),
        writes_(writes),
        hints_(&state_, &state_mu_) {}

  // The signature checks: any thread, any order.
  void Check(CheckedEntry& entry) const {
    const uint64_t event_id = entry.index + 1;
    if (!entry.logged.ParseFromString(entry.leaf)) {
      entry.parsed = Divergence(event_id, "the leaf is not a LogEntry");
      return;
    }
    if (entry.logged.event_id() != event_id) {
      entry.parsed = Divergence(event_id, absl::StrCat("the entry says event_id ", entry.logged.event_id()));
      return;
    }
    entry.verified = Validate(entry.logged, &hints_);
  }

  // Everything else, in log order.
  absl::Status Apply(CheckedEntry& entry) {
    RETURN_IF_ERROR(entry.parsed);
    const uint64_t event_id = entry.index + 1;
    const v1::LogEntry& logged = entry.logged;
    // An early failure may come from hints that lagged: judge it again exactly.
    if (!entry.verified.ok()) entry.verified = Validate(logged, &state_);
    absl::StatusOr<rules::Verified>& verified = entry.verified;
    if (!verified.ok()) {
      return Divergence(event_id, absl::StrCat("rejected on re-derivation: ", verified.status().message()));
    }
    if (logged.kind() != verified->entry.kind()) {
      return Divergence(event_id, absl::StrCat("kind '", logged.kind(), "' but the entry carries ",
                                               verified->entry.kind()));
    }
    // The relay's own accept step, against the state the entries before this one left.
    AcceptOutcome outcome =
        AcceptStep(state_, *verified, EntryPlace{event_id, logged.received_at(), max_clock_skew_ms_});
    if (std::holds_alternative<SeenSignature>(outcome)) {
      return Divergence(event_id, "replays the signature of an earlier entry");
    }
    if (const auto* refusal = std::get_if<Refusal>(&outcome)) {
      return Divergence(event_id, absl::StrCat("rejected on re-derivation: ", refusal->status.message()));
    }
    const Admission& admission = std::get<Admission>(outcome);
    if (admission.leaf != entry.leaf) {
      return Divergence(event_id, DescribeDifference(admission.entry, logged));
    }
    absl::MutexLock lock(&state_mu_);
    for (const StateOp& state_op : admission.ops) {
      state_.Apply(state_op);
      if (writes_ != nullptr) AddWrites(state_op, *writes_);
    }
    return absl::OkStatus();
  }

  DerivedState& state() { return state_; }

 private:
  // Every rule is judged as it stood when the relay received the request.
  absl::StatusOr<rules::Verified> Validate(const v1::LogEntry& logged, const StateView* hints) const {
    rules::Context ctx;
    ctx.now_ms = logged.received_at();
    ctx.max_clock_skew_ms = max_clock_skew_ms_;
    ctx.hints = hints;
    ctx.from_log = true;
    return rules::ValidateLogged(logged, relay_public_key_, ctx);
  }

  const std::string relay_public_key_;
  const uint64_t max_clock_skew_ms_;
  // Written by Apply only; read there without the lock and by Check's hints with it.
  absl::Mutex state_mu_;
  DerivedState state_;
  store::WriteSet* const writes_ = nullptr;
  SpeculativeHints hints_;
};

// Checks one chunk of entries on every core (the calling thread included).
void CheckChunk(const LogRederiver& rederiver, std::vector<CheckedEntry>& chunk) {
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < chunk.size(); i = next.fetch_add(1)) rederiver.Check(chunk[i]);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace

// Runs entries [begin, end) through `replayer`: signatures are checked a chunk
// ahead on every core while the previous chunk goes through the accept step in
// order on this thread. Counts what it applied in `done`.
absl::Status ApplyRange(const store::LogReader& log, uint64_t begin, uint64_t end,
                        LogRederiver& rederiver,
                        const std::function<void(uint64_t done, uint64_t total)>& progress,
                        uint64_t& done) {
  const uint64_t total = end > begin ? end - begin : 0;
  absl::Status failure;
  constexpr size_t kChunkEntries = 2048;
  std::vector<CheckedEntry> reading, checking, applying;
  std::thread checker;
  auto apply_all = [&](std::vector<CheckedEntry>& chunk) {
    for (CheckedEntry& entry : chunk) {
      failure = rederiver.Apply(entry);
      if (!failure.ok()) return false;
      ++done;
      if (progress && (done % 4096 == 0 || done == total)) progress(done, total);
    }
    chunk.clear();
    return true;
  };
  // Starts checking what was read, then applies what was checked before.
  auto hand_on = [&] {
    if (checker.joinable()) checker.join();
    applying.swap(checking);
    checking.swap(reading);
    checker = std::thread([&rederiver, &checking] { CheckChunk(rederiver, checking); });
    return apply_all(applying);
  };
  absl::Status scanned = log.ScanLeaves(begin, end, [&](uint64_t index, absl::string_view leaf) {
    CheckedEntry& entry = reading.emplace_back();
    entry.index = index;
    entry.leaf = std::string(leaf);
    return reading.size() < kChunkEntries || hand_on();
  });
  if (scanned.ok() && failure.ok()) hand_on();
  if (checker.joinable()) checker.join();
  if (scanned.ok() && failure.ok()) apply_all(checking);
  RETURN_IF_ERROR(scanned);
  return failure;
}

absl::StatusOr<RederiveReport> RederiveLog(
    const store::LogReader& log, const std::string& relay_pubkey_hex,
    const std::string& /*server_id*/, uint64_t max_clock_skew_ms,
    const std::function<void(uint64_t done, uint64_t total)>& progress, DerivedState* derived) {
  RETURN_IF_ERROR(InitCrypto());
  ASSIGN_OR_RETURN(std::string relay_public_key,
                   ParsePublicKeyHex(relay_pubkey_hex, "relay public key"));
  LogRederiver rederiver(std::move(relay_public_key), max_clock_skew_ms);
  const uint64_t total = log.Size();
  uint64_t done = 0;
  RETURN_IF_ERROR(ApplyRange(log, 0, total, rederiver, progress, done));
  if (done != total) {
    return absl::DataLossError(absl::StrCat("the log holds ", total, " entries but only ", done,
                                            " could be read"));
  }

  DerivedState& state = rederiver.state();
  RederiveReport report;
  report.entries = done;
  report.bans = state.ban_count();
  report.users_with_homeserver = state.homeserver_count();
  report.profiles = state.profile_count();
  report.invites = state.invite_count();
  report.peers = state.peers().size();
  if (derived != nullptr) *derived = std::move(state);
  return report;
}

absl::StatusOr<RederiveReport> RederiveLogFrom(
    const store::LogReader& log, uint64_t begin, const std::string& relay_pubkey_hex,
    uint64_t max_clock_skew_ms, DerivedState* state, store::WriteSet* writes,
    const std::function<void(uint64_t done, uint64_t total)>& progress) {
  RETURN_IF_ERROR(InitCrypto());
  ASSIGN_OR_RETURN(std::string relay_public_key,
                   ParsePublicKeyHex(relay_pubkey_hex, "relay public key"));
  LogRederiver rederiver(std::move(relay_public_key), max_clock_skew_ms, std::move(*state), writes);
  const uint64_t end = log.Size();
  const uint64_t total = end > begin ? end - begin : 0;
  uint64_t done = 0;
  absl::Status applied = ApplyRange(log, begin, end, rederiver, progress, done);
  *state = std::move(rederiver.state());  // the caller's state is never left moved-from
  RETURN_IF_ERROR(applied);
  if (done != total) {
    return absl::DataLossError(absl::StrCat("entries [", begin, ", ", end, ") hold ", total,
                                            " entries but only ", done, " could be read"));
  }
  RederiveReport report;
  report.entries = done;
  report.bans = state->ban_count();
  report.users_with_homeserver = state->homeserver_count();
  report.profiles = state->profile_count();
  report.invites = state->invite_count();
  report.peers = state->peers().size();
  return report;
}

}  // namespace fedrelay::federation
