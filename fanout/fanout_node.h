// One fan-out node (fedrelay-fanout, docs/scale-out.md): follows the log the
// sequencer publishes on the bus into its own store, and serves it to
// subscribers with the relay's own delivery, visibility, checkpoint and tile
// code, so that fan-out scales by adding nodes.
//
// * Following: an ordered JetStream consumer from the node's own size + 1 (its
//   watermark is its log); every message must be the next event_id (checked
//   here, not only by the client) and pass the federation rules
//   (federation/follower.h); a DM invite's token is fetched from the tokens
//   stream and kept beside the log, as on the sequencer. Leaves, state and
//   tokens go into one RocksDB write per batch, then to delivery.
// * Checkpoints: the sequencer's latest signed checkpoint is taken from the
//   bus, verified with the relay's key, and saved (so served on /checkpoint)
//   only once this node's tree has that size and the same root.
// * Cursors: in the bus's key-value bucket (fanout/bus_cursor_store.h).
// * Submissions and operator commands are refused (UNAVAILABLE): they belong
//   to the sequencer.
//
// Thread-safety: Start once, then Shutdown from any thread.
#ifndef FEDRELAY_FANOUT_FANOUT_NODE_H_
#define FEDRELAY_FANOUT_FANOUT_NODE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fedrelay::fanout {

struct FanoutOptions {
  std::string nats_url;          // required
  std::string stream = "FEDRELAY_LOG";
  std::string subject_prefix = "fedrelay";
  std::string relay_pubkey_hex;  // required: the sequencer's key
  std::string server_id;         // required: the sequencer's relay.server_id
  std::string origin;            // required: the sequencer's relay.origin
  std::string data_dir;          // required: this node's own store
  std::string grpc_listen = "127.0.0.1:0";
  std::string http_listen = "127.0.0.1:0";
  uint64_t max_clock_skew_ms = 300000;  // the sequencer's federation.max_clock_skew_ms
  int64_t checkpoint_poll_ms = 200;
};

class FanoutNode {
 public:
  // Opens the store, connects to NATS (FAILED_PRECONDITION naming the URL when
  // it cannot), starts following and listening.
  static absl::StatusOr<std::unique_ptr<FanoutNode>> Start(const FanoutOptions& options);
  virtual ~FanoutNode() = default;

  virtual int grpc_port() const = 0;
  virtual int http_port() const = 0;
  // Stops listening and following; the store closes. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace fedrelay::fanout

#endif  // FEDRELAY_FANOUT_FANOUT_NODE_H_
