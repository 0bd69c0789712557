// A relay core under test: a real RocksDB LogStore in a temp dir, a FakeClock,
// the fixed keys of tests/vectors/signing.json, and builders for signed
// requests of every kind.
#ifndef FEDRELAY_TESTS_FEDERATION_FEDERATION_TEST_UTIL_H_
#define FEDRELAY_TESTS_FEDERATION_FEDERATION_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "common/temp_dir.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "store/failing_store_util.h"
#include "store/log_store.h"

namespace fedrelay::federation::testing {

// Relay time at the start of every test; certs from MakeCert are valid for a
// day around it.
inline constexpr uint64_t kStartMs = 1'800'000'000'000;
inline constexpr uint64_t kSkewMs = 300'000;
inline constexpr char kAlpha[] = "alpha.example";  // may ban anywhere
inline constexpr char kBeta[] = "beta.example";    // may ban in guild-b only

// The fixed keys, loaded from signing.json by name.
struct Keys {
  Ed25519PrivateKey relay, alpha, beta, alice_id, alice_dev, bob_id, bob_dev;
};
const Keys& TestKeys();

// A fresh directory $TMPDIR/fedrelay-fed-XXXXXX, removed with its contents on
// destruction.
class TempDir : public ::fedrelay::testing::TempDir {
 public:
  TempDir() : ::fedrelay::testing::TempDir("fedrelay-fed-") {}
};

// Keeps every durable entry the federation hands downstream. It can also hold
// the writer thread (which calls OnDurable) so that submissions queue up and
// are then decided together in one batch.
class RecordingSink : public EventSink {
 public:
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override;
  std::vector<std::shared_ptr<const v1::LogEntry>> entries() const;

  // The next OnDurable blocks until Release(); WaitUntilHeld() returns once it does.
  void HoldNextBatch();
  void WaitUntilHeld();
  void Release();

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<const v1::LogEntry>> entries_ ABSL_GUARDED_BY(mu_);
  bool hold_next_ ABSL_GUARDED_BY(mu_) = false;
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
};

// alpha (may_ban "*") and beta (may_ban "guild-b").
std::vector<PeerInfo> DefaultPeers();

class Harness {
 public:
  explicit Harness(std::vector<PeerInfo> config_peers = DefaultPeers());
  ~Harness();

  // Opens (or reopens) the store and the federation over the same directory.
  absl::Status Open();
  void Close();

  store::LogStore& store() { return *appends_; }
  // The store as the federation sees it: a test can hold or fail its appends.
  store::testing::FailingStore& appends() { return *appends_; }
  Federation& federation() { return *federation_; }
  FakeClock& clock() { return clock_; }
  RecordingSink& sink() { return *sink_; }
  const std::string& dir() const { return dir_.path(); }
  std::vector<PeerInfo>& config_peers() { return config_peers_; }

  // Submits all of `submissions` while the writer is held, so they are
  // prepared in one batch, in order; returns their outcomes in that order.
  // `before_submit(i)`, if set, runs before the i-th is submitted (validated),
  // e.g. to move the clock.
  std::vector<absl::StatusOr<Accepted>> SubmitInOneBatch(
      std::vector<Submission> submissions,
      const std::function<void(size_t)>& before_submit = nullptr);

 private:
  TempDir dir_;
  FakeClock clock_{kStartMs};
  std::vector<PeerInfo> config_peers_;
  std::unique_ptr<RecordingSink> sink_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<store::testing::FailingStore> appends_;  // wraps store_
  std::unique_ptr<Federation> federation_;
  int batches_held_ = 0;
};

// Signed builders. Timestamps default to the harness start time.
v1::DeviceCert MakeCert(const Ed25519PrivateKey& device, const Ed25519PrivateKey& identity,
                        uint64_t issued_at = kStartMs - 86'400'000,
                        uint64_t expiry = kStartMs + 86'400'000);
v1::FederationRequest MakeJoin(const Ed25519PrivateKey& server, const std::string& server_id,
                               const Ed25519PrivateKey& user, const std::string& guild_id,
                               uint64_t timestamp = kStartMs, const std::string& name = "Alice");
v1::BanNotification MakeBan(const Ed25519PrivateKey& server, const std::string& server_id,
                            const Ed25519PrivateKey& user, const std::string& guild_id,
                            uint64_t timestamp = kStartMs);
// alice (device alice_dev) invites bob.
v1::DMInvite MakeInvite(const std::string& invite_id, uint64_t timestamp = kStartMs,
                        const std::string& guild_id = "dm-guild");
// bob (device bob_dev) decides, unless other keys are given.
v1::AcceptDMInviteRequest MakeAccept(const std::string& invite_id, uint64_t timestamp = kStartMs);
v1::RejectDMInviteRequest MakeReject(const std::string& invite_id, uint64_t timestamp = kStartMs);
v1::UpdateHomeServerRequest MakeMigration(const Ed25519PrivateKey& user, const std::string& target,
                                          uint64_t timestamp = kStartMs);
v1::UpdateFederatedProfileRequest MakeProfile(const Ed25519PrivateKey& user_id_key,
                                              const Ed25519PrivateKey& device,
                                              const std::string& name,
                                              uint64_t timestamp = kStartMs);

}  // namespace fedrelay::federation::testing

#endif  // FEDRELAY_TESTS_FEDERATION_FEDERATION_TEST_UTIL_H_
