// The fan-out node's subscriber cursors: relay/downstream/cursor_book.h over
// the bus's key-value bucket (bus/kv_cursors.h), shared by every fan-out node,
// so a subscriber may acknowledge on one node and resume on another. Nothing
// is cached: every Load reads the bucket, so a node never resumes a subscriber
// from a cursor older than the one another node has stored. A cursor only
// moves forward (compare-and-swap).
//
// Thread-safety: thread-safe.
#ifndef FEDRELAY_FANOUT_KV_CURSOR_BOOK_H_
#define FEDRELAY_FANOUT_KV_CURSOR_BOOK_H_

#include <string>
#include <utility>
#include <vector>

#include "bus/kv_cursors.h"
#include "relay/downstream/cursor_book.h"

namespace fedrelay::fanout {

class KvCursorBook final : public relay::CursorBook {
 public:
  // `cursors` must outlive this.
  explicit KvCursorBook(bus::KvCursors* cursors) : cursors_(cursors) {}

  absl::StatusOr<uint64_t> Load(const std::string& identity) override {
    return cursors_->Get(identity);
  }
  absl::StatusOr<uint64_t> Advance(const std::string& identity, uint64_t event_id) override {
    return cursors_->Advance(identity, event_id);
  }
  // Not listed: delivery lists cursors only to show known subscribers on
  // /metrics at start, which a fan-out node leaves to the ones it serves.
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> List() override {
    return std::vector<std::pair<std::string, uint64_t>>{};
  }

 private:
  bus::KvCursors* const cursors_;
};

}  // namespace fedrelay::fanout

#endif  // FEDRELAY_FANOUT_KV_CURSOR_BOOK_H_
