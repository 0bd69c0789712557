// The sequencer's side of the bus (docs/scale-out.md): copies every durable
// log entry to the JetStream stream BusNames::stream so that fedrelay-fanout
// nodes can follow the log.
//
// Contract:
// * Stream sequence n holds exactly the leaf of event_id n: each entry is
//   published with Nats-Msg-Id = event_id and an expected last sequence of
//   event_id - 1, so the stream has no gaps and no reordering, and a second
//   sequencer whose log is not this one is refused by the stream itself.
// * The stream is a copy. A receipt is still answered only after the synced
//   RocksDB write; the publisher reads what to publish from the store. On
//   start (and after any error) it compares the stream with the log: when the
//   stream's last entry is this log's entry at that position, it publishes
//   whatever the stream lacks; when the stream is ahead of the log or holds
//   another entry there, it refuses for good (state kRefused, an error in the
//   log, readiness fails): this relay is a stale or foreign sequencer.
// * The secret token of a DM invite (the log holds the invite without it) is
//   published before its entry, on TokenSubject(names, invite_id) in the
//   stream names.tokens_stream, which only fan-out nodes may read.
// * Publishing never blocks the writer: OnDurable only wakes the publisher's
//   own thread. NATS being down only delays the copy; the relay runs on.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_BUS_LOG_PUBLISHER_H_
#define FEDRELAY_BUS_LOG_PUBLISHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus/nats_bus.h"
#include "federation/federation.h"
#include "store/log_store.h"

namespace fedrelay::bus {

struct LogPublisherOptions {
  std::string nats_url;  // required
  BusNames names;        // required
  const store::LogStore* store = nullptr;  // required; must outlive the publisher
  int64_t connect_timeout_ms = 2000;
  int64_t retry_ms = 500;  // between attempts while NATS is unreachable
};

// The subject of one invite's token: <prefix>.tokens.<hex SHA-256 of the invite id>
// (invite ids may hold characters a subject may not).
std::string TokenSubject(const BusNames& names, const std::string& invite_id);

class LogPublisher final : public federation::EventSink {
 public:
  enum class State { kConnecting, kPublishing, kRefused };

  // Starts the publisher thread; connecting happens there, so this never fails.
  static std::unique_ptr<LogPublisher> Start(LogPublisherOptions options);
  ~LogPublisher() override;  // Stop()s

  // Wakes the publisher (the entries and tokens are read from the store).
  // Never blocks on I/O.
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override;
  // Queues a signed checkpoint for names.checkpoint_subject (the newest wins).
  void PublishCheckpoint(uint64_t tree_size, const std::string& note);

  // Publishes what is durable and queued (bounded by `timeout_ms`), then stops. Idempotent.
  void Stop(int64_t timeout_ms = 2000);

  State state() const;
  // Why the publisher refused (empty unless kRefused).
  std::string refusal() const;
  // The highest event_id the stream is known to hold from this log.
  uint64_t published() const;

  struct Core;

 private:
  explicit LogPublisher(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  std::shared_ptr<Core> core_;
};

}  // namespace fedrelay::bus

#endif  // FEDRELAY_BUS_LOG_PUBLISHER_H_
