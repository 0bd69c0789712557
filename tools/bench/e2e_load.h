// The end-to-end benchmark's client side (fedrelay-bench --e2e): a fedrelayd
// process on loopback, requests signed before any clock starts, and the real
// gRPC calls a peer makes (Submit streams, unary Federate, Ping, Subscribe),
// plus idle HTTP/2 connections. Nothing here knows the relay's internals.
//
// Thread-safety: each function runs its own threads and returns when they are
// done; a SubscriberSet is used from one thread (its callbacks run on gRPC's).
#ifndef FEDRELAY_TOOLS_BENCH_E2E_LOAD_H_
#define FEDRELAY_TOOLS_BENCH_E2E_LOAD_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"

namespace fedrelay::bench::e2e {

// Key of a bench party: seed SHA-256("fedrelay bench e2e key " + name).
Ed25519PrivateKey PartyKey(const std::string& name);
int64_t NowNs();

// ---- fedrelayd as a child process.
struct DaemonFiles {
  std::string binary;       // fedrelayd
  std::string config_path;  // written by the caller
  std::string ready_path;
  std::string log_path;
};
class Daemon {
 public:
  // Starts fedrelayd and waits (up to `timeout`) for its ready file.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonFiles& files,
                                                       std::chrono::seconds timeout);
  ~Daemon();  // Stop()
  int Stop();  // SIGTERM and wait; the exit status or -1

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  std::string grpc_target() const;
  double ready_seconds() const { return ready_seconds_; }  // exec to ready file
  uint64_t RssBytes() const;   // VmRSS now
  size_t OpenFiles() const;    // entries of /proc/<pid>/fd
  // Polls RSS until it has not grown for `quiet` (at most `limit`) and returns it.
  uint64_t SettledRssBytes(std::chrono::milliseconds quiet, std::chrono::seconds limit) const;

 private:
  Daemon() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  double ready_seconds_ = 0;
};

// ---- Signed requests (built and signed on every core, before timing).
// `count` FederationRequests from `peer` for distinct users, tagged `tag` so
// no two runs' requests collide.
std::vector<v1::FederationRequest> SignedJoins(const std::string& tag, size_t count,
                                               const std::string& peer,
                                               const Ed25519PrivateKey& peer_key);

// Every message kind in realistic proportions, per 20 users: 20 joins, 10
// profile updates, 5 DM invites each answered (4 accepted, 1 rejected), 2
// migrations and 1 ban: 43 submissions. Each user's device cert is made once
// and reused by all its device-signed messages. A user's messages (and the
// answers to its invites) stay on one stream, in order, so each stream's list
// is valid when sent in order. Correlation ids are the index in the stream.
std::vector<std::vector<v1::Submission>> MixedWorkload(const std::string& tag, size_t users,
                                                       int streams, const std::string& peer,
                                                       const Ed25519PrivateKey& peer_key);

// The same requests as Submit items, split round-robin over `streams`.
std::vector<std::vector<v1::Submission>> AsStreams(const std::vector<v1::FederationRequest>& requests,
                                                   int streams);

// ---- Load.
struct LoadResult {
  double seconds = 0;     // first send to last answer
  uint64_t accepted = 0;  // receipts
  uint64_t refused = 0;
  std::string first_refusal;
  std::vector<int64_t> latencies_ns;  // per receipt: offered to the transport -> receipt read
  uint64_t max_event_id = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(accepted) / seconds : 0; }
};
using ReceiptFn = std::function<void(uint64_t event_id, int64_t at_ns)>;

// One Submit stream (its own connection) per list, all sending at once as fast
// as flow control lets them.
LoadResult SubmitStreams(const std::string& target, const std::vector<std::vector<v1::Submission>>& streams,
                         const ReceiptFn& on_receipt = nullptr);
// Unary Federate with `callers` calls outstanding at all times over `connections`.
LoadResult UnaryFederate(const std::string& target, const std::vector<v1::FederationRequest>& requests,
                         int callers, int connections);
// Empty unary Ping calls per second with `callers` outstanding, for `seconds`.
double PingRate(const std::string& target, int callers, double seconds);
// Strict Ed25519 verifications per second on `threads` threads, for `seconds`.
double VerifyRate(int threads, double seconds);

// q-quantile (0..1) of `values_ns`, in milliseconds (sorts the vector).
double QuantileMs(std::vector<int64_t>& values_ns, double q);

// ---- Subscribers: one Subscribe stream per peer, each authenticated with the
// peer's Call signature. kReading reads every event and reports it,
// kStalled never reads, kIdle reads but selects a guild that has no events.
class SubscriberSet {
 public:
  enum class Mode { kReading, kStalled, kIdle };
  struct Peer {
    std::string server_id;
    const Ed25519PrivateKey* key;
  };
  // `resume_after` is the last event id the subscribers have seen (live from there).
  SubscriberSet(const std::string& target, const std::vector<Peer>& peers, Mode mode,
                uint64_t resume_after, std::function<void(uint64_t event_id, int64_t at_ns)> on_event);
  ~SubscriberSet();  // Close()
  // True once every stream is accepted (initial metadata) before `timeout`.
  bool WaitAccepted(std::chrono::seconds timeout);
  int accepted() const { return accepted_.load(); }
  int ended() const { return ended_.load(); }
  void Close();  // cancels every stream and waits for each to end

 private:
  class Stream;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::FederationRelay::Stub>> stubs_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::function<void(uint64_t, int64_t)> on_event_;
  std::atomic<int> accepted_{0};
  std::atomic<int> ended_{0};
};

// ---- `count` idle HTTP/2 connections to 127.0.0.1:port: the client preface
// and SETTINGS, the server's SETTINGS acknowledged, then nothing. Raises this
// process's RLIMIT_NOFILE as far as it needs (up to the hard limit).
class IdleConnections {
 public:
  static absl::StatusOr<std::unique_ptr<IdleConnections>> Open(int port, size_t count);
  ~IdleConnections();
  size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

// Raises RLIMIT_NOFILE's soft limit to at least `wanted` (at most the hard
// limit); returns the soft limit now in force. Children inherit it.
uint64_t RaiseOpenFileLimit(uint64_t wanted);

}  // namespace fedrelay::bench::e2e

#endif  // FEDRELAY_TOOLS_BENCH_E2E_LOAD_H_
