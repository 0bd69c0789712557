// Signed requests of every kind, and the unary RPC that carries each, for
// integration tests that talk to the real fedrelayd over gRPC.
//
// Naming: peer "alpha" is server id "alpha.example" signing with
// TestKey("server-alpha"); user "x" has K_id TestKey("user-x-id") and K_dev
// TestKey("user-x-dev"). Any name works (TestKey derives a key from it), so a
// test can use users of its own and share a relay with other tests.
#ifndef FEDRELAY_TESTS_RELAY_SIGNED_MESSAGES_UTIL_H_
#define FEDRELAY_TESTS_RELAY_SIGNED_MESSAGES_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"

namespace fedrelay::testing {

uint64_t NowMs();

// Hex K_id of test user `user` (its federated user id).
std::string UserId(const std::string& user);

// Each is signed over its current fields with the signer's test key.
v1::FederationRequest SignedJoin(const std::string& peer, const std::string& user,
                                 const std::string& guild, uint64_t timestamp);
v1::BanNotification SignedBan(const std::string& peer, const std::string& user,
                              const std::string& guild, uint64_t timestamp);
// K_dev of `user`, signed by `user`'s K_id.
v1::DeviceCert SignedCert(const std::string& user, uint64_t issued_at, uint64_t expiry);
// The device cert is valid from a minute before `timestamp` to an hour after.
// An empty `token` means "token-for-" + invite_id.
v1::DMInvite SignedInvite(const std::string& invite_id, const std::string& inviter,
                          const std::string& target, uint64_t timestamp,
                          const std::string& token = "");
v1::AcceptDMInviteRequest SignedAccept(const std::string& invite_id, const std::string& user,
                                       uint64_t timestamp);
v1::RejectDMInviteRequest SignedReject(const std::string& invite_id, const std::string& user,
                                       uint64_t timestamp);
v1::UpdateHomeServerRequest SignedMigration(const std::string& user,
                                            const std::string& new_homeserver, uint64_t timestamp);
v1::UpdateFederatedProfileRequest SignedProfile(const std::string& user,
                                                const std::string& display_name,
                                                uint64_t timestamp);

// The message as a Submit stream item.
v1::Submission AsSubmission(const std::string& correlation_id, const v1::FederationRequest& m);
v1::Submission AsSubmission(const std::string& correlation_id, const v1::BanNotification& m);
v1::Submission AsSubmission(const std::string& correlation_id, const v1::DMInvite& m);
v1::Submission AsSubmission(const std::string& correlation_id, const v1::AcceptDMInviteRequest& m);
v1::Submission AsSubmission(const std::string& correlation_id, const v1::RejectDMInviteRequest& m);
v1::Submission AsSubmission(const std::string& correlation_id,
                            const v1::UpdateHomeServerRequest& m);
v1::Submission AsSubmission(const std::string& correlation_id,
                            const v1::UpdateFederatedProfileRequest& m);

// What a unary write RPC returned: its status, the receipt (empty unless OK)
// and the server's trailing metadata (e.g. retry-after-ms).
struct UnaryOutcome {
  grpc::Status status;
  v1::RelayReceipt receipt;
  std::multimap<std::string, std::string> trailers;
};

// Sends the message with the unary RPC for its kind (Federate, PropagateBan,
// ReceiveDMInvite, AcceptDMInvite, RejectDMInvite, UpdateHomeServer,
// UpdateFederatedProfile), with a 20 s deadline.
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::FederationRequest& m);
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::BanNotification& m);
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::DMInvite& m);
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::AcceptDMInviteRequest& m);
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::RejectDMInviteRequest& m);
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::UpdateHomeServerRequest& m);
UnaryOutcome SendUnary(v1::FederationRelay::Stub& stub, const v1::UpdateFederatedProfileRequest& m);

// Every entry of the log, in order, through the public AuditLog.GetEntries
// (which reads the whole log; the checkpoint may trail it).
std::vector<v1::LogEntry> LogEntries(const std::shared_ptr<grpc::Channel>& channel);

// OK when `receipt` is signed by the relay's test key ("relay") and its
// leaf_hash is the RFC 6962 hash of `entry` (whose event_id it must carry).
absl::Status CheckReceiptFor(const v1::RelayReceipt& receipt, const v1::LogEntry& entry);

// The value of one /metrics series (e.g. `fedrelay_rejections_total{code="banned"}`),
// `absent` when the relay does not list it (a test that must see the series
// passes a value no real series has, e.g. -1).
double MetricValue(int http_port, const std::string& series, double absent = 0);

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_SIGNED_MESSAGES_UTIL_H_
