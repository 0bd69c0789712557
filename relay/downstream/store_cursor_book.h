// The CursorBook (relay/downstream/cursor_book.h) of a relay: the cursors live
// in the log store's cursors table (key: the identity, value: the decimal
// event id), written with synced writes, with a write-through cache so a
// stream start or an Acknowledge reads the store at most once per identity.
//
// Thread-safety: thread-safe; Advance is serialized per identity.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_STORE_CURSOR_BOOK_H_
#define FEDRELAY_RELAY_DOWNSTREAM_STORE_CURSOR_BOOK_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "relay/downstream/cursor_book.h"
#include "store/log_store.h"

namespace fedrelay::relay {

class StoreCursorBook final : public CursorBook {
 public:
  // `store` must outlive this.
  explicit StoreCursorBook(store::LogStore* store) : store_(store) {}

  absl::StatusOr<uint64_t> Load(const std::string& identity) override;
  absl::StatusOr<uint64_t> Advance(const std::string& identity, uint64_t event_id) override;
  // kInternal (naming the identity) when a stored cursor does not parse.
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> List() override;

 private:
  struct Slot {
    absl::Mutex mu;
    std::optional<uint64_t> value ABSL_GUARDED_BY(mu);  // unset until read from the store
  };

  std::shared_ptr<Slot> SlotFor(const std::string& identity);
  absl::StatusOr<uint64_t> LoadLocked(const std::string& identity, Slot& slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(slot.mu);

  store::LogStore* const store_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_STORE_CURSOR_BOOK_H_
