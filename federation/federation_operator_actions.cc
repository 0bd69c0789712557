// The federation core's operator actions (relay-signed peer changes) and the
// reconciliation of config peers at Open.
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/errors.h"
#include "base/peer_values.h"
#include "base/status_macros.h"
#include "federation/federation_impl.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "spdlog/spdlog.h"

namespace fedrelay::federation::internal {

// ---------------------------------------------------------------------------
// Operator actions.

void FederationImpl::StartOperatorAction(absl::string_view action_name,
                                         const std::string& server_id,
                                         const std::string& pubkey_hex,
                                         const std::vector<std::string>& may_ban,
                                         PeerSource source, DoneFn done) {
  absl::StatusOr<std::shared_ptr<Item>> item =
      MakeOperatorAction(action_name, server_id, pubkey_hex, may_ban, source);
  if (!item.ok()) {
    done(item.status());
    return;
  }
  (*item)->done = [action = std::string(action_name), server_id,
                   done = std::move(done)](absl::StatusOr<Accepted> outcome) {
    if (outcome.ok()) {
      spdlog::info("operator action {} {} logged as event {}", action, server_id,
                   outcome->receipt.event_id());
    }
    done(std::move(outcome));
  };
  Enqueue(*std::move(item));
}

absl::StatusOr<Accepted> FederationImpl::RunOperatorAction(absl::string_view action_name,
                                                           const std::string& server_id,
                                                           const std::string& pubkey_hex,
                                                           const std::vector<std::string>& may_ban,
                                                           PeerSource source) {
  absl::Notification finished;
  absl::StatusOr<Accepted> result;
  StartOperatorAction(action_name, server_id, pubkey_hex, may_ban, source,
                      [&](absl::StatusOr<Accepted> outcome) {
                        result = std::move(outcome);
                        finished.Notify();
                      });
  finished.WaitForNotification();
  return result;
}

absl::StatusOr<std::shared_ptr<Item>> FederationImpl::MakeOperatorAction(
    absl::string_view action_name, const std::string& server_id, const std::string& pubkey_hex,
    const std::vector<std::string>& may_ban, PeerSource source) const {
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
  return item;
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
    std::optional<PeerRecord> peer = durable_->FindPeer(server_id);
    if (peer.has_value() && SameGuilds(peer->may_ban, may_ban)) {
      return MakeError(ErrorCode::kConflict,
                       absl::StrCat("peer '", server_id, "' already has that may_ban list"));
    }
  }
  return absl::OkStatus();
}

void FederationImpl::AddPeer(const PeerInfo& peer, DoneFn done) {
  StartOperatorAction(rules::kPeerAdd, peer.server_id, peer.pubkey_hex, peer.may_ban,
                      PeerSource::kCtl, std::move(done));
}

void FederationImpl::RemovePeer(const std::string& server_id, DoneFn done) {
  StartOperatorAction(rules::kPeerRemove, server_id, "", {}, PeerSource::kUnknown,
                      std::move(done));
}

void FederationImpl::RotatePeerKey(const std::string& server_id, const std::string& new_pubkey_hex,
                                   DoneFn done) {
  StartOperatorAction(rules::kPeerRotate, server_id, new_pubkey_hex, {}, PeerSource::kUnknown,
                      std::move(done));
}

void FederationImpl::SetPeerMayBan(const std::string& server_id,
                                   const std::vector<std::string>& may_ban, DoneFn done) {
  StartOperatorAction(rules::kPeerMayBan, server_id, "", may_ban, PeerSource::kUnknown,
                      std::move(done));
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
    logged = durable_->peers();
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

}  // namespace fedrelay::federation::internal
