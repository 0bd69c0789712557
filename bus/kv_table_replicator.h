// Keeps a key-value bucket on the bus equal to a small table the sequencer
// owns (docs/scale-out.md): today the API key records (hashes only), which
// fan-out nodes mirror (fanout/api_key_mirror.h) to authenticate the keys the
// sequencer issued and to see its revocations.
//
// Contract: after Wake(), the replicator's thread reads the whole table and
// writes every row the bucket does not hold as it is (rows are never deleted
// from the table, so none are deleted from the bucket). It also compares the
// whole bucket with the table every `resync_ms`, so a bucket deleted or
// emptied behind its back is refilled. NATS being down only delays the copy:
// the replicator retries every `retry_ms`, never blocking its caller.
//
// Thread-safety: Wake and Stop may be called from any thread.
#ifndef FEDRELAY_BUS_KV_TABLE_REPLICATOR_H_
#define FEDRELAY_BUS_KV_TABLE_REPLICATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace fedrelay::bus {

struct KvTableReplicatorOptions {
  std::string nats_url;  // required
  std::string bucket;    // required
  // The whole table: (bucket key, value) rows. Called on the replicator's thread.
  std::function<absl::StatusOr<std::vector<std::pair<std::string, std::string>>>()> read_table;
  std::string what = "table";  // names the table in log lines
  int64_t connect_timeout_ms = 2000;
  int64_t retry_ms = 500;
  int64_t resync_ms = 30000;
};

class KvTableReplicator {
 public:
  // Starts the thread (it connects, then copies the table). Never fails.
  static std::unique_ptr<KvTableReplicator> Start(KvTableReplicatorOptions options);
  ~KvTableReplicator();  // Stop()s

  // The table changed: copy it soon. Never blocks on I/O.
  void Wake();
  // Rounds that ended with the bucket equal to the table (tests wait on it).
  uint64_t synced_rounds() const;
  // Stops the thread. Idempotent.
  void Stop();

  struct Core;

 private:
  explicit KvTableReplicator(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  std::shared_ptr<Core> core_;
};

}  // namespace fedrelay::bus

#endif  // FEDRELAY_BUS_KV_TABLE_REPLICATOR_H_
