// Subscribers' durable cursors: per subscriber identity ("peer:<server id>",
// "key:<key id>"), the event id up to which it has acknowledged the log
// (Acknowledge, docs/protocol-notes.md "Downstream delivery"). Delivery starts
// a stream without resume_from_event_id after it and moves it on Acknowledge.
//
// Contract: a cursor only moves forward, and an Advance is durable before it
// returns (a relay restart, even SIGKILL, never loses an acknowledged cursor).
// An identity that never acknowledged anything is at 0, the start of the log.
// Delivery holds the book through this interface, so a fan-out node can keep
// its subscribers' cursors in another store; StoreCursorBook
// (relay/downstream/store_cursor_book.h) keeps them beside the log.
//
// Thread-safety: implementations are thread-safe.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_CURSOR_BOOK_H_
#define FEDRELAY_RELAY_DOWNSTREAM_CURSOR_BOOK_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace fedrelay::relay {

class CursorBook {
 public:
  virtual ~CursorBook() = default;

  // The identity's cursor (0 when it has none).
  virtual absl::StatusOr<uint64_t> Load(const std::string& identity) = 0;
  // Moves the identity's cursor to `event_id` unless it is already there or
  // beyond; returns the cursor afterwards. Durable before it returns.
  virtual absl::StatusOr<uint64_t> Advance(const std::string& identity, uint64_t event_id) = 0;
  // Every identity that has a cursor, with it (in no particular order).
  virtual absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> List() = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_CURSOR_BOOK_H_
