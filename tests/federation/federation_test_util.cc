#include "federation/federation_test_util.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/status_macros.h"
#include "federation/signing.h"
#include "federation/signing_vectors_util.h"

namespace fedrelay::federation::testing {

const Keys& TestKeys() {
  using test_vectors::VectorKey;
  static const Keys* const keys = new Keys{
      VectorKey("relay"),         VectorKey("server-alpha"),  VectorKey("server-beta"),
      VectorKey("user-alice-id"), VectorKey("user-alice-dev"), VectorKey("user-bob-id"),
      VectorKey("user-bob-dev")};
  return *keys;
}

void RecordingSink::OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  absl::MutexLock lock(&mu_);
  entries_.insert(entries_.end(), entries.begin(), entries.end());
  if (!hold_next_) return;
  hold_next_ = false;
  holding_ = true;
  mu_.Await(absl::Condition(+[](bool* holding) { return !*holding; }, &holding_));
}

void RecordingSink::HoldNextBatch() {
  absl::MutexLock lock(&mu_);
  hold_next_ = true;
}

void RecordingSink::WaitUntilHeld() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(+[](bool* holding) { return *holding; }, &holding_));
}

void RecordingSink::Release() {
  absl::MutexLock lock(&mu_);
  holding_ = false;
}

std::vector<std::shared_ptr<const v1::LogEntry>> RecordingSink::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

std::vector<PeerInfo> DefaultPeers() {
  return {PeerInfo{kAlpha, TestKeys().alpha.PublicKeyHex(), {"*"}},
          PeerInfo{kBeta, TestKeys().beta.PublicKeyHex(), {"guild-b"}}};
}

Harness::Harness(std::vector<PeerInfo> config_peers) : config_peers_(std::move(config_peers)) {}

Harness::~Harness() { Close(); }

absl::Status Harness::Open() {
  Close();
  RETURN_IF_ERROR(InitCrypto());
  ASSIGN_OR_RETURN(store_, store::LogStore::Open(dir_.path(), store::LogStoreOptions{/*sync=*/false}));
  appends_ = std::make_unique<store::testing::FailingStore>(store_.get());
  sink_ = std::make_unique<RecordingSink>();
  FederationOptions options;
  options.server_id = "relay.example";
  options.max_clock_skew_ms = kSkewMs;
  options.config_peers = config_peers_;
  options.clock = &clock_;
  ASSIGN_OR_RETURN(federation_,
                   Federation::Open(appends_.get(), &TestKeys().relay, options, sink_.get()));
  return absl::OkStatus();
}

std::vector<absl::StatusOr<Accepted>> Harness::SubmitInOneBatch(
    std::vector<Submission> submissions, const std::function<void(size_t)>& before_submit) {
  // A gate entry of its own: its OnDurable holds the writer while the rest queue.
  sink_->HoldNextBatch();
  absl::Notification gate_done;
  federation_->Submit(MakeJoin(TestKeys().alpha, kAlpha, TestKeys().bob_id,
                               absl::StrCat("gate-", ++batches_held_), clock_.NowMs()),
                      [&](absl::StatusOr<Accepted>) { gate_done.Notify(); });
  sink_->WaitUntilHeld();

  struct Answers {
    std::vector<std::optional<absl::StatusOr<Accepted>>> outcomes;
    size_t count = 0;
    bool All() const { return count == outcomes.size(); }
  };
  absl::Mutex mu;
  Answers answers;
  answers.outcomes.resize(submissions.size());
  for (size_t i = 0; i < submissions.size(); ++i) {
    if (before_submit) before_submit(i);
    federation_->Submit(std::move(submissions[i]), [&, i](absl::StatusOr<Accepted> outcome) {
      absl::MutexLock lock(&mu);
      answers.outcomes[i] = std::move(outcome);
      ++answers.count;
    });
  }
  sink_->Release();
  gate_done.WaitForNotification();
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&answers, &Answers::All));
  auto& outcomes = answers.outcomes;
  std::vector<absl::StatusOr<Accepted>> results;
  for (auto& outcome : outcomes) results.push_back(*std::move(outcome));
  return results;
}

void Harness::Close() {
  if (federation_ != nullptr) federation_->Stop();
  federation_.reset();
  appends_.reset();
  store_.reset();
}

v1::DeviceCert MakeCert(const Ed25519PrivateKey& device, const Ed25519PrivateKey& identity,
                        uint64_t issued_at, uint64_t expiry) {
  v1::DeviceCert cert;
  cert.set_pubkey(device.PublicKeyHex());
  cert.set_device_id("device-1");
  cert.set_issued_at(issued_at);
  cert.set_expiry(expiry);
  SignDeviceCert(&cert, identity);
  return cert;
}

v1::FederationRequest MakeJoin(const Ed25519PrivateKey& server, const std::string& server_id,
                               const Ed25519PrivateKey& user, const std::string& guild_id,
                               uint64_t timestamp, const std::string& name) {
  v1::FederationRequest request;
  request.set_origin_server_id(server_id);
  request.set_origin_server_pubkey(server.PublicKeyHex());
  request.set_user_pubkey(user.PublicKeyHex());
  request.set_user_display_name(name);
  request.set_guild_id(guild_id);
  request.set_timestamp(timestamp);
  SignFederationRequest(&request, server);
  return request;
}

v1::BanNotification MakeBan(const Ed25519PrivateKey& server, const std::string& server_id,
                            const Ed25519PrivateKey& user, const std::string& guild_id,
                            uint64_t timestamp) {
  v1::BanNotification ban;
  ban.set_origin_server_id(server_id);
  ban.set_banned_user_pubkey(user.PublicKeyHex());
  ban.set_guild_id(guild_id);
  ban.set_reason("spam");
  ban.set_evidence_hash(absl::StrCat("sha256:", std::string(64, 'a')));
  ban.set_timestamp(timestamp);
  SignBanNotification(&ban, server);
  return ban;
}

v1::DMInvite MakeInvite(const std::string& invite_id, uint64_t timestamp,
                        const std::string& guild_id) {
  const Keys& keys = TestKeys();
  v1::DMInvite invite;
  invite.set_token(absl::StrCat("secret-token-", invite_id));
  invite.set_invite_id(invite_id);
  invite.set_inviter_id(keys.alice_id.PublicKeyHex());
  invite.set_guild_id(guild_id);
  invite.set_guild_name("Alice and Bob");
  invite.set_host_server_url("https://alpha.example");
  invite.set_timestamp(timestamp);
  invite.set_inviter_pubkey(keys.alice_id.PublicKeyHex());
  *invite.mutable_device_cert() = MakeCert(keys.alice_dev, keys.alice_id);
  invite.set_target_user_id(keys.bob_id.PublicKeyHex());
  SignDMInvite(&invite, keys.alice_dev);
  return invite;
}

v1::AcceptDMInviteRequest MakeAccept(const std::string& invite_id, uint64_t timestamp) {
  v1::AcceptDMInviteRequest request;
  request.set_invite_id(invite_id);
  request.set_timestamp(timestamp);
  *request.mutable_device_cert() = MakeCert(TestKeys().bob_dev, TestKeys().bob_id);
  SignDMDecision(&request, TestKeys().bob_dev);
  return request;
}

v1::RejectDMInviteRequest MakeReject(const std::string& invite_id, uint64_t timestamp) {
  v1::RejectDMInviteRequest request;
  request.set_invite_id(invite_id);
  request.set_timestamp(timestamp);
  *request.mutable_device_cert() = MakeCert(TestKeys().bob_dev, TestKeys().bob_id);
  SignDMDecision(&request, TestKeys().bob_dev);
  return request;
}

v1::UpdateHomeServerRequest MakeMigration(const Ed25519PrivateKey& user, const std::string& target,
                                          uint64_t timestamp) {
  v1::UpdateHomeServerRequest request;
  request.set_user_id(user.PublicKeyHex());
  request.set_new_homeserver(target);
  request.set_timestamp(timestamp);
  SignMigration(&request, user);
  return request;
}

v1::UpdateFederatedProfileRequest MakeProfile(const Ed25519PrivateKey& user_id_key,
                                              const Ed25519PrivateKey& device,
                                              const std::string& name, uint64_t timestamp) {
  v1::UpdateFederatedProfileRequest request;
  request.set_user_id(user_id_key.PublicKeyHex());
  request.set_display_name(name);
  request.set_avatar_url("https://alpha.example/avatar.png");
  request.set_bio("hello");
  *request.mutable_device_cert() = MakeCert(device, user_id_key);
  request.set_timestamp(timestamp);
  SignProfile(&request, device);
  return request;
}

}  // namespace fedrelay::federation::testing
