#include "relay/signed_messages_util.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"
#include "store/merkle.h"

namespace fedrelay::testing {
namespace {

constexpr auto kDeadline = std::chrono::seconds(20);

Ed25519PrivateKey ServerKey(const std::string& peer) { return TestKey("server-" + peer); }
Ed25519PrivateKey IdentityKey(const std::string& user) { return TestKey("user-" + user + "-id"); }
Ed25519PrivateKey DeviceKey(const std::string& user) { return TestKey("user-" + user + "-dev"); }

// The cert a user's device presents at `timestamp`.
v1::DeviceCert CertAround(const std::string& user, uint64_t timestamp) {
  return SignedCert(user, timestamp - 60000, timestamp + 3600000);
}

const v1::RelayReceipt& ReceiptOf(const v1::RelayReceipt& response) { return response; }
const v1::RelayReceipt& ReceiptOf(const v1::FederationResponse& response) {
  return response.receipt();
}
const v1::RelayReceipt& ReceiptOf(const v1::AcceptDMInviteResponse& response) {
  return response.receipt();
}

template <typename Response, typename Rpc>
UnaryOutcome Call(Rpc rpc) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  Response response;
  UnaryOutcome outcome;
  outcome.status = rpc(&context, &response);
  outcome.receipt = ReceiptOf(response);
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    outcome.trailers.emplace(std::string(key.data(), key.size()),
                             std::string(value.data(), value.size()));
  }
  return outcome;
}

}  // namespace

uint64_t NowMs() { return SystemClock().NowMs(); }

std::string UserId(const std::string& user) { return IdentityKey(user).PublicKeyHex(); }

v1::FederationRequest SignedJoin(const std::string& peer, const std::string& user,
                                 const std::string& guild, uint64_t timestamp) {
  v1::FederationRequest request;
  request.set_origin_server_id(peer + ".example");
  request.set_origin_server_pubkey(ServerKey(peer).PublicKeyHex());
  request.set_user_pubkey(UserId(user));
  request.set_user_display_name("User " + user);
  request.set_guild_id(guild);
  request.set_timestamp(timestamp);
  federation::SignFederationRequest(&request, ServerKey(peer));
  return request;
}

v1::BanNotification SignedBan(const std::string& peer, const std::string& user,
                              const std::string& guild, uint64_t timestamp) {
  v1::BanNotification ban;
  ban.set_origin_server_id(peer + ".example");
  ban.set_banned_user_pubkey(UserId(user));
  ban.set_guild_id(guild);
  ban.set_reason("spam");
  ban.set_evidence_hash("sha256:" + HexEncode(Sha256("evidence of " + user)));
  ban.set_timestamp(timestamp);
  federation::SignBanNotification(&ban, ServerKey(peer));
  return ban;
}

v1::DeviceCert SignedCert(const std::string& user, uint64_t issued_at, uint64_t expiry) {
  v1::DeviceCert cert;
  cert.set_pubkey(DeviceKey(user).PublicKeyHex());
  cert.set_device_id(user + "-phone");
  cert.set_issued_at(issued_at);
  cert.set_expiry(expiry);
  federation::SignDeviceCert(&cert, IdentityKey(user));
  return cert;
}

v1::DMInvite SignedInvite(const std::string& invite_id, const std::string& inviter,
                          const std::string& target, uint64_t timestamp,
                          const std::string& token) {
  v1::DMInvite invite;
  invite.set_token(token.empty() ? "token-for-" + invite_id : token);
  invite.set_invite_id(invite_id);
  invite.set_inviter_id(UserId(inviter));
  invite.set_inviter_pubkey(invite.inviter_id());
  invite.set_guild_id("g1");
  invite.set_guild_name("Guild One");
  invite.set_host_server_url("https://alpha.example");
  invite.set_timestamp(timestamp);
  invite.set_target_user_id(UserId(target));
  *invite.mutable_device_cert() = CertAround(inviter, timestamp);
  federation::SignDMInvite(&invite, DeviceKey(inviter));
  return invite;
}

v1::AcceptDMInviteRequest SignedAccept(const std::string& invite_id, const std::string& user,
                                       uint64_t timestamp) {
  v1::AcceptDMInviteRequest accept;
  accept.set_invite_id(invite_id);
  accept.set_timestamp(timestamp);
  *accept.mutable_device_cert() = CertAround(user, timestamp);
  federation::SignDMDecision(&accept, DeviceKey(user));
  return accept;
}

v1::RejectDMInviteRequest SignedReject(const std::string& invite_id, const std::string& user,
                                       uint64_t timestamp) {
  v1::RejectDMInviteRequest reject;
  reject.set_invite_id(invite_id);
  reject.set_timestamp(timestamp);
  *reject.mutable_device_cert() = CertAround(user, timestamp);
  federation::SignDMDecision(&reject, DeviceKey(user));
  return reject;
}

v1::UpdateHomeServerRequest SignedMigration(const std::string& user,
                                            const std::string& new_homeserver, uint64_t timestamp) {
  v1::UpdateHomeServerRequest migration;
  migration.set_user_id(UserId(user));
  migration.set_new_homeserver(new_homeserver);
  migration.set_timestamp(timestamp);
  federation::SignMigration(&migration, IdentityKey(user));
  return migration;
}

v1::UpdateFederatedProfileRequest SignedProfile(const std::string& user,
                                                const std::string& display_name,
                                                uint64_t timestamp) {
  v1::UpdateFederatedProfileRequest profile;
  profile.set_user_id(UserId(user));
  profile.set_display_name(display_name);
  profile.set_bio("bio of " + user);
  profile.set_timestamp(timestamp);
  *profile.mutable_device_cert() = CertAround(user, timestamp);
  federation::SignProfile(&profile, DeviceKey(user));
  return profile;
}

v1::Submission AsSubmission(const std::string& correlation_id, const v1::FederationRequest& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_federation_request() = m;
  return item;
}
v1::Submission AsSubmission(const std::string& correlation_id, const v1::BanNotification& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_ban() = m;
  return item;
}
v1::Submission AsSubmission(const std::string& correlation_id, const v1::DMInvite& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_dm_invite()->mutable_invite() = m;
  return item;
}
v1::Submission AsSubmission(const std::string& correlation_id, const v1::AcceptDMInviteRequest& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_dm_accept() = m;
  return item;
}
v1::Submission AsSubmission(const std::string& correlation_id, const v1::RejectDMInviteRequest& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_dm_reject() = m;
  return item;
}
v1::Submission AsSubmission(const std::string& correlation_id,
                            const v1::UpdateHomeServerRequest& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_migration() = m;
  return item;
}
v1::Submission AsSubmission(const std::string& correlation_id,
                            const v1::UpdateFederatedProfileRequest& m) {
  v1::Submission item;
  item.set_correlation_id(correlation_id);
  *item.mutable_profile() = m;
  return item;
}

UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::FederationRequest& m) {
  return Call<v1::FederationResponse>(
      [&](grpc::ClientContext* c, v1::FederationResponse* r) { return stub.Federate(c, m, r); });
}
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::BanNotification& m) {
  return Call<v1::RelayReceipt>(
      [&](grpc::ClientContext* c, v1::RelayReceipt* r) { return stub.PropagateBan(c, m, r); });
}
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::DMInvite& m) {
  v1::ReceiveDMInviteRequest request;
  *request.mutable_invite() = m;
  return Call<v1::RelayReceipt>([&](grpc::ClientContext* c, v1::RelayReceipt* r) {
    return stub.ReceiveDMInvite(c, request, r);
  });
}
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::AcceptDMInviteRequest& m) {
  return Call<v1::AcceptDMInviteResponse>(
      [&](grpc::ClientContext* c, v1::AcceptDMInviteResponse* r) {
        return stub.AcceptDMInvite(c, m, r);
      });
}
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::RejectDMInviteRequest& m) {
  return Call<v1::RelayReceipt>(
      [&](grpc::ClientContext* c, v1::RelayReceipt* r) { return stub.RejectDMInvite(c, m, r); });
}
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::UpdateHomeServerRequest& m) {
  return Call<v1::RelayReceipt>(
      [&](grpc::ClientContext* c, v1::RelayReceipt* r) { return stub.UpdateHomeServer(c, m, r); });
}
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub,
                       const v1::UpdateFederatedProfileRequest& m) {
  return Call<v1::RelayReceipt>([&](grpc::ClientContext* c, v1::RelayReceipt* r) {
    return stub.UpdateFederatedProfile(c, m, r);
  });
}

std::vector<v1::LogEntry> LogEntries(const std::shared_ptr<grpc::Channel>& channel) {
  auto audit = v1::AuditLog::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  v1::GetEntriesRequest request;
  request.set_start(0);
  request.set_end(uint64_t{1} << 40);
  auto reader = audit->GetEntries(&context, request);
  std::vector<v1::LogEntry> entries;
  v1::LogEntry entry;
  while (reader->Read(&entry)) entries.push_back(entry);
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << "GetEntries: " << status.error_message();
  return entries;
}

absl::Status CheckReceiptFor(const v1::RelayReceipt& receipt, const v1::LogEntry& entry) {
  if (receipt.event_id() != entry.event_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("receipt for event ", receipt.event_id(), ", entry ", entry.event_id()));
  }
  if (receipt.leaf_hash() != store::HashLeaf(federation::rules::SerializeDeterministic(entry))) {
    return absl::FailedPreconditionError(
        absl::StrCat("receipt leaf_hash is not the hash of entry ", entry.event_id()));
  }
  if (!Ed25519Verify(TestKey("relay").PublicKey(), federation::ReceiptSigningBytes(receipt),
                     receipt.signature())) {
    return absl::FailedPreconditionError(
        absl::StrCat("receipt for event ", receipt.event_id(), " is not signed by the relay key"));
  }
  return absl::OkStatus();
}

double MetricValue(int http_port, const std::string& series, double absent) {
  const HttpResult metrics = HttpRequest(http_port, "GET", "/metrics");
  for (absl::string_view line : absl::StrSplit(metrics.body, '\n')) {
    if (absl::ConsumePrefix(&line, series + " ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return absent;
}

}  // namespace fedrelay::testing
