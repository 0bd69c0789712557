// KvTableReplicator: one thread, woken by changes, that writes what the
// bucket lacks (see kv_table_replicator.h).
#include "bus/kv_table_replicator.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/nats_bus.h"
#include "spdlog/spdlog.h"

namespace fedrelay::bus {

struct KvTableReplicator::Core {
  explicit Core(KvTableReplicatorOptions o) : options(std::move(o)) {}

  // One round: OK when the bucket now holds every row of the table.
  // `compare_all` reads the bucket for every row, not only for changed ones.
  absl::Status CopyTable(bool compare_all) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> table = options.read_table();
    if (!table.ok()) return table.status();
    for (const auto& [key, value] : *table) {
      auto known = copied.find(key);
      if (!compare_all && known != copied.end() && known->second == value) continue;
      absl::StatusOr<std::optional<NatsBus::KvValue>> held = bus->KvGet(options.bucket, key);
      if (!held.ok()) return held.status();
      if (!held->has_value() || (*held)->value != value) {
        if (absl::Status put = bus->KvPut(options.bucket, key, value); !put.ok()) return put;
      }
      copied[key] = value;
    }
    return absl::OkStatus();
  }

  void Run() {
    bool reported = false;
    auto next_resync = std::chrono::steady_clock::now();
    for (;;) {
      bool compare_all = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        if (stopping) return;
        compare_all = std::chrono::steady_clock::now() >= next_resync;
        woken = false;
      }
      absl::Status status;
      if (bus == nullptr) {
        absl::StatusOr<std::unique_ptr<NatsBus>> connected =
            NatsBus::Connect(options.nats_url, "fedrelay-" + options.what, options.connect_timeout_ms);
        if (connected.ok()) {
          bus = std::move(*connected);
          compare_all = true;
        } else {
          status = connected.status();
        }
      }
      if (status.ok()) status = CopyTable(compare_all);
      std::unique_lock<std::mutex> lock(mu);
      if (status.ok()) {
        if (reported) spdlog::info("bus: the {} bucket {} is in step again", options.what, options.bucket);
        reported = false;
        ++synced;
        if (compare_all) next_resync = std::chrono::steady_clock::now() +
                                       std::chrono::milliseconds(options.resync_ms);
        wake.wait_until(lock, next_resync, [this] { return stopping || woken; });
      } else {
        if (!reported) {
          spdlog::warn("bus: cannot copy the {} to bucket {} (retrying): {}", options.what,
                       options.bucket, status.ToString());
        }
        reported = true;
        next_resync = std::chrono::steady_clock::now();  // compare everything once back
        wake.wait_for(lock, std::chrono::milliseconds(options.retry_ms), [this] { return stopping; });
      }
    }
  }

  const KvTableReplicatorOptions options;
  std::unique_ptr<NatsBus> bus;                 // the thread's own
  std::map<std::string, std::string> copied;    // rows the bucket held: thread only
  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mu
  bool woken = false;     // guarded by mu
  uint64_t synced = 0;    // guarded by mu
  std::thread thread;
};

std::unique_ptr<KvTableReplicator> KvTableReplicator::Start(KvTableReplicatorOptions options) {
  auto core = std::make_shared<Core>(std::move(options));
  core->thread = std::thread([raw = core.get()] { raw->Run(); });
  return std::unique_ptr<KvTableReplicator>(new KvTableReplicator(std::move(core)));
}

KvTableReplicator::~KvTableReplicator() { Stop(); }

void KvTableReplicator::Wake() {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->woken = true;
  core_->wake.notify_all();
}

uint64_t KvTableReplicator::synced_rounds() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  return core_->synced;
}

void KvTableReplicator::Stop() {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->stopping = true;
    core_->wake.notify_all();
  }
  if (core_->thread.joinable()) core_->thread.join();
}

}  // namespace fedrelay::bus
