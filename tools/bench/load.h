// The load side of the fan-out benchmarks (fanout.cc in-process, cluster.cc
// against running processes): a receipt-to-delivery latency histogram, the
// counters the submitter and the subscribers share, and a peer's Subscribe
// stream read with gRPC's callback API (a thousand need no thread each). Each
// subscriber also checks that event ids only grow (a gap checker needs the
// expected set; see cluster.cc).
#ifndef FEDRELAY_TOOLS_BENCH_LOAD_H_
#define FEDRELAY_TOOLS_BENCH_LOAD_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/crypto.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"

namespace fedrelay::bench {

using Clock = std::chrono::steady_clock;

inline constexpr int kChannels = 8;  // subscribers spread over this many HTTP/2 connections

inline Ed25519PrivateKey BenchKey(const std::string& name) {
  return *Ed25519PrivateKey::FromSeed(Sha256("fedrelay bench key " + name));
}

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Receipt-to-delivery latencies in 100 µs buckets up to 2 s, plus overflow.
class LatencyHistogram {
 public:
  static constexpr int64_t kBucketNs = 100000;
  static constexpr size_t kBuckets = 20000;

  LatencyHistogram() : buckets_(kBuckets + 1) {}

  void Add(int64_t latency_ns) {
    const size_t bucket = std::min<size_t>(static_cast<size_t>(std::max<int64_t>(latency_ns, 0) / kBucketNs),
                                           kBuckets);
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    int64_t seen = max_ns_.load(std::memory_order_relaxed);
    while (latency_ns > seen && !max_ns_.compare_exchange_weak(seen, latency_ns)) {
    }
  }

  // Upper edge of the bucket holding the q-quantile, in milliseconds.
  double QuantileMs(double q) const {
    uint64_t total = 0;
    for (const auto& bucket : buckets_) total += bucket.load();
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i].load();
      if (seen >= rank) return static_cast<double>((i + 1) * kBucketNs) / 1e6;
    }
    return MaxMs();
  }
  double MaxMs() const { return static_cast<double>(max_ns_.load()) / 1e6; }

 private:
  std::vector<std::atomic<uint64_t>> buckets_;
  std::atomic<int64_t> max_ns_{0};
};

// What the submitter and every subscriber share.
struct Shared {
  explicit Shared(size_t max_event_id) : receipt_ns(max_event_id + 1) {}
  std::vector<std::atomic<int64_t>> receipt_ns;  // by event id; 0 until the receipt arrived
  LatencyHistogram latency;          // receipt -> delivery
  LatencyHistogram receipt_latency;  // submission written -> receipt read
  std::atomic<uint64_t> deliveries{0};
  std::atomic<uint64_t> out_of_order{0};  // an event id not above the stream's previous one
  std::atomic<int> connected{0};
  std::atomic<int> done{0};
  std::mutex mu;
  std::condition_variable cv;
  void Notify() {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
};

// One peer's Subscribe stream, read with gRPC's callback API so a thousand of
// them need no thread each.
class Subscriber final : public grpc::ClientReadReactor<v1::StreamResponse> {
 public:
  Subscriber(v1::FederationRelay::Stub* stub, const std::string& peer, const Ed25519PrivateKey& key,
             const std::string& guild, Shared* shared)
      : shared_(shared) {
    const uint64_t timestamp = SystemClock().NowMs();
    for (const auto& [name, value] : federation::CallSignatureMetadata(
             peer, "relay.example", federation::kSubscribeMethod, timestamp, key)) {
      context_.AddMetadata(name, value);
    }
    request_.set_resume_from_event_id("");
    request_.add_kinds("member_joined");
    if (!guild.empty()) request_.add_guild_ids(guild);
    stub->async()->Subscribe(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok) shared_->connected.fetch_add(1);
    shared_->Notify();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t now = NowNs();
    const uint64_t id = response_.event_id();
    if (id <= last_id_) shared_->out_of_order.fetch_add(1, std::memory_order_relaxed);
    last_id_ = id;
    received_.fetch_add(1, std::memory_order_relaxed);
    if (id < shared_->receipt_ns.size()) {
      const int64_t receipt = shared_->receipt_ns[id].load(std::memory_order_acquire);
      shared_->latency.Add(receipt == 0 ? 0 : now - receipt);
      shared_->deliveries.fetch_add(1, std::memory_order_relaxed);
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    shared_->done.fetch_add(1);
    shared_->Notify();
  }

  const grpc::Status& status() const { return status_; }
  uint64_t received() const { return received_.load(std::memory_order_relaxed); }

 private:
  Shared* const shared_;
  grpc::ClientContext context_;
  v1::SubscribeRequest request_;
  v1::StreamResponse response_;
  grpc::Status status_;
  uint64_t last_id_ = 0;  // gRPC runs one OnReadDone of a stream at a time
  std::atomic<uint64_t> received_{0};
};

// Deliveries do not notify (that would cost every read a lock), so the
// predicate is also polled.
template <typename Predicate>
bool WaitFor(Shared& shared, std::chrono::milliseconds timeout, Predicate predicate) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(shared.mu);
  while (!predicate()) {
    if (Clock::now() >= deadline) return false;
    shared.cv.wait_for(lock, std::chrono::milliseconds(5));
  }
  return true;
}

// Waits until every stream was accepted or ended. False when one was not
// accepted; then every stream has been cancelled and has ended.
inline bool AllAccepted(Shared& shared, std::vector<std::unique_ptr<Subscriber>>& streams,
                        std::chrono::seconds limit) {
  const int count = static_cast<int>(streams.size());
  const bool settled = WaitFor(shared, limit, [&] {
    return shared.connected.load() + shared.done.load() >= count;
  });
  if (settled && shared.connected.load() == count) return true;
  for (auto& stream : streams) stream->Cancel();
  WaitFor(shared, std::chrono::seconds(30), [&] { return shared.done.load() == count; });
  return false;
}

}  // namespace fedrelay::bench

#endif  // FEDRELAY_TOOLS_BENCH_LOAD_H_
