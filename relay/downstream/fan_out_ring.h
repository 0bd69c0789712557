// The delivery's ring of recent durable entries: the one place where the
// federation core's writer thread hands entries to downstream delivery.
//
//   writer thread: Publish (append, O(batch), then signal; no subscriber is
//                  touched, so write latency does not grow with subscribers)
//   fan-out thread: NextBatch (waits, encodes each new entry once, marks it
//                  ready) and then wakes the streams (relay/downstream/delivery.cc)
//   streams:       Read (the ready entries their filter may select)
//
// The ring keeps at most `capacity` entries with consecutive ids; a stream
// whose next entry has left it reads the log on disk instead. Streams only
// ever see entries marked ready, and never past them, so no stream reads an
// entry before the federation state that visibility consults knows it.
//
// Thread-safety: thread-safe; Publish never blocks on anything but the ring's
// own short lock.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_FAN_OUT_RING_H_
#define FEDRELAY_RELAY_DOWNSTREAM_FAN_OUT_RING_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "relay/downstream/visibility.h"

namespace fedrelay::relay::downstream {

// A durable entry as the streams share it: decoded once (filters and
// visibility read it), what visibility needs from the federation state looked
// up once, and each event encoded once for the wire, so a thousand
// subscribers of one event write the same refcounted bytes.
struct FanOutEntry {
  std::shared_ptr<const v1::LogEntry> entry;
  std::shared_ptr<const EntryFacts> facts;  // Visibility::Resolve(*entry)
  std::vector<grpc::Slice> encoded;         // by index in entry->events()
  // By index too: the encoding of an event's recipients-only copy
  // (EventFacts::with_token); empty slices for the other events.
  std::vector<grpc::Slice> encoded_own;
  uint64_t event_id() const { return entry->event_id(); }
};
using FanOutEntryPtr = std::shared_ptr<const FanOutEntry>;

// `message` serialized into one slice.
grpc::Slice EncodeMessage(const google::protobuf::MessageLite& message);
// An entry read from the log, resolved and encoded as the ring does its entries.
FanOutEntryPtr MakeFanOutEntry(std::shared_ptr<const v1::LogEntry> entry, const Visibility& visibility);

// A peer whose open streams were authorized by a key that is no longer pinned
// (removed, or rotated to a new key): its streams end.
struct UnpinnedPeer {
  std::string server_id;
  absl::string_view why;  // static text
};

// What the fan-out thread got from one NextBatch.
struct ReadyBatch {
  std::vector<FanOutEntryPtr> entries;  // newly ready and still in the ring, in order
  uint64_t through = 0;                  // every entry up to this id is now ready
  std::vector<UnpinnedPeer> unpinned;    // from entries of this round, in order
};

class FanOutRing {
 public:
  // `log_size`: the log's size now (entries up to it are read from disk).
  FanOutRing(size_t capacity, uint64_t log_size);

  // Writer thread: appends `entries` (consecutive ids following the last
  // published) and signals NextBatch.
  void Publish(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries);

  // The fan-out thread (one): waits until entries were published since the
  // last call, resolves and encodes them (encodings, `visibility`'s facts), marks them
  // ready and returns them; nullopt once Stop was called.
  std::optional<ReadyBatch> NextBatch(const Visibility& visibility);
  void Stop();

  // The last event id streams may read. Lock-free.
  uint64_t ready() const { return ready_->load(); }
  // The same value, shared, for metrics callbacks that may outlive the ring.
  std::shared_ptr<const std::atomic<uint64_t>> ready_counter() const { return ready_; }

  enum class ReadResult { kRead, kNothingReady, kNotInRing };
  // Appends to `out` the ready entries from `from_id` on (at most `max`) that
  // `filter` may select and sets `*through` to the last id looked at.
  // kNothingReady when `from_id` is beyond the ready entries, kNotInRing when
  // it is older than the ring (read the log).
  ReadResult Read(uint64_t from_id, uint64_t max, const EventFilter& filter,
                  std::deque<FanOutEntryPtr>* out, uint64_t* through) const;

 private:
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || published_ > ready_through_ || !unpinned_.empty();
  }

  const size_t capacity_;
  mutable absl::Mutex mu_;
  // Consecutive ids; entries after ready_through_ are not yet ready (the fan-out
  // thread fills in their encodings outside the lock).
  std::deque<std::shared_ptr<FanOutEntry>> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t published_ ABSL_GUARDED_BY(mu_);  // last event id handed in
  uint64_t ready_through_ ABSL_GUARDED_BY(mu_);  // last event id marked ready
  std::vector<UnpinnedPeer> unpinned_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  const std::shared_ptr<std::atomic<uint64_t>> ready_;  // = ready_through_
};

}  // namespace fedrelay::relay::downstream

#endif  // FEDRELAY_RELAY_DOWNSTREAM_FAN_OUT_RING_H_
