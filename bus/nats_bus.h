// One connection to a NATS server with JetStream, and the few stream and
// key-value operations fedrelay's bus needs (docs/scale-out.md). It wraps the
// C client (libnats) so that no other file includes nats.h, and turns every
// client failure into an absl::Status (UNAVAILABLE for the server being
// unreachable or slow, FAILED_PRECONDITION for a refused expectation).
//
// Names on the bus all derive from two settings (bus.stream and
// bus.subject_prefix), see BusNames.
//
// Thread-safety: a NatsBus may be used from several threads at once (the C
// client's connection and JetStream context are thread-safe).
#ifndef FEDRELAY_BUS_NATS_BUS_H_
#define FEDRELAY_BUS_NATS_BUS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedrelay::bus {

struct BusNames {
  std::string stream;              // the log: sequence n holds the leaf of event_id n
  std::string log_subject;         // <prefix>.log
  std::string tokens_stream;       // <stream>_TOKENS: DM invite tokens, by invite id
  std::string tokens_subject;      // <prefix>.tokens (one subject per invite below it)
  std::string checkpoint_stream;   // <stream>_CHECKPOINT: the latest signed checkpoint
  std::string checkpoint_subject;  // <prefix>.checkpoint
  std::string cursor_bucket;       // <stream>_CURSORS: key-value bucket of subscriber cursors
  std::string api_key_bucket;      // <stream>_APIKEYS: the sequencer's API key records (hashes only)

  static BusNames From(const std::string& stream, const std::string& subject_prefix);
};

// The JetStream error code of a refused expected-last-sequence publish.
inline constexpr int kWrongLastSequence = 10071;

// The outcome of one publish: where the message went, and whether the stream
// already had a message with that id (then nothing was stored).
struct PublishAck {
  uint64_t sequence = 0;
  bool duplicate = false;
};

// A refused publish: `js_code` is JetStream's error code (0 when the failure
// was not JetStream's verdict, e.g. a timeout).
struct PublishError {
  absl::Status status;
  int js_code = 0;
};

class NatsBus {
 public:
  // Connects to `url` (nats://host:port) within `timeout_ms`; the connection
  // reconnects by itself afterwards. `client_name` shows in the server's
  // connection list.
  static absl::StatusOr<std::unique_ptr<NatsBus>> Connect(const std::string& url,
                                                          const std::string& client_name,
                                                          int64_t timeout_ms);
  ~NatsBus();
  NatsBus(const NatsBus&) = delete;
  NatsBus& operator=(const NatsBus&) = delete;

  // Creates the stream `name` on `subjects` (file storage, limits retention,
  // a 2-minute duplicate window) unless it exists; returns its last sequence.
  // `max_msgs_per_subject` 0 = unlimited.
  absl::StatusOr<uint64_t> EnsureStream(const std::string& name,
                                        const std::vector<std::string>& subjects,
                                        int64_t max_msgs_per_subject = 0);
  // The stream's last sequence (0 when empty); NOT_FOUND when there is no such stream.
  absl::StatusOr<uint64_t> LastSequence(const std::string& stream);
  // The data of message `sequence`; nullopt when the stream has none there.
  absl::StatusOr<std::optional<std::string>> GetMessage(const std::string& stream,
                                                        uint64_t sequence);
  // The data of the newest message on `subject` in `stream`; nullopt when none.
  absl::StatusOr<std::optional<std::string>> GetLastMessage(const std::string& stream,
                                                            const std::string& subject);
  // Deletes the stream (tests and operators rebuilding the copy).
  absl::Status DeleteStream(const std::string& stream);

  // Publishes `data` on `subject` and waits for the stream's answer. `msg_id`
  // (Nats-Msg-Id) lets the stream drop a repeat; `expected_last_sequence` > 0
  // makes it refuse the message unless its last sequence is exactly that.
  absl::StatusOr<PublishAck> Publish(const std::string& subject, absl::string_view data,
                                     const std::string& msg_id, uint64_t expected_last_sequence,
                                     PublishError* error);

  // Key-value bucket `bucket` (created when missing, history 1).
  absl::Status EnsureBucket(const std::string& bucket);
  struct KvValue {
    std::string value;
    uint64_t revision = 0;
  };
  // nullopt when the key has no value.
  absl::StatusOr<std::optional<KvValue>> KvGet(const std::string& bucket, const std::string& key);
  // Compare-and-swap: writes `value` only if the key's revision is still
  // `last_revision` (0 = the key must not exist yet). FAILED_PRECONDITION when
  // someone else wrote first. Returns the new revision.
  absl::StatusOr<uint64_t> KvSwap(const std::string& bucket, const std::string& key,
                                  absl::string_view value, uint64_t last_revision);

  // Writes `value` whatever the key held.
  absl::Status KvPut(const std::string& bucket, const std::string& key, absl::string_view value);

  // Every key of `bucket`: first its current values, then a kCaughtUp mark,
  // then each change as it happens.
  struct KvUpdate {
    enum class Kind { kPut, kDelete, kCaughtUp };
    Kind kind = Kind::kPut;
    std::string key;
    std::string value;  // kPut only
  };
  class KvWatcher {
   public:
    virtual ~KvWatcher() = default;
    // The next update within `timeout_ms`; nullopt on timeout.
    virtual absl::StatusOr<std::optional<KvUpdate>> Next(int64_t timeout_ms) = 0;
  };
  absl::StatusOr<std::unique_ptr<KvWatcher>> KvWatch(const std::string& bucket);

  // Whether the connection is up now (it reconnects by itself after a loss).
  bool Connected() const;

  // Core NATS: a plain publish (no stream), and a synchronous subscription.
  absl::Status PublishCore(const std::string& subject, absl::string_view data);

  // An ordered JetStream consumer of `stream` starting at `start_sequence`:
  // messages arrive in stream order without gaps (the client recreates the
  // consumer when it notices one).
  class Follower {
   public:
    virtual ~Follower() = default;
    // The next message within `timeout_ms`: (sequence, data). nullopt on timeout.
    virtual absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> Next(
        int64_t timeout_ms) = 0;
  };
  absl::StatusOr<std::unique_ptr<Follower>> Follow(const std::string& stream,
                                                   const std::string& subject,
                                                   uint64_t start_sequence);

  struct Impl;

 private:
  explicit NatsBus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedrelay::bus

#endif  // FEDRELAY_BUS_NATS_BUS_H_
