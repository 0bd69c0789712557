#include "relay/downstream/store_cursor_book.h"

#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"

namespace fedrelay::relay {
namespace {

absl::StatusOr<uint64_t> ParseCursor(absl::string_view identity, absl::string_view stored) {
  std::optional<uint64_t> parsed = ParseDecimalU64(stored);
  if (!parsed.has_value()) {
    return MakeError(ErrorCode::kInternal,
                     absl::StrCat("stored cursor of ", std::string(identity), " is corrupt"));
  }
  return *parsed;
}

}  // namespace

absl::StatusOr<uint64_t> StoreCursorBook::Load(const std::string& identity) {
  std::shared_ptr<Slot> slot = SlotFor(identity);
  absl::MutexLock lock(&slot->mu);
  return LoadLocked(identity, *slot);
}

absl::StatusOr<uint64_t> StoreCursorBook::Advance(const std::string& identity, uint64_t event_id) {
  std::shared_ptr<Slot> slot = SlotFor(identity);
  absl::MutexLock lock(&slot->mu);
  ASSIGN_OR_RETURN(const uint64_t current, LoadLocked(identity, *slot));
  if (event_id <= current) return current;
  store::WriteSet writes;
  writes.Put(store::Table::kCursors, identity, absl::StrCat(event_id));
  RETURN_IF_ERROR(store_->Write(writes));
  slot->value = event_id;
  return event_id;
}

absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> StoreCursorBook::List() {
  std::vector<std::pair<std::string, uint64_t>> cursors;
  absl::Status parse_status;
  RETURN_IF_ERROR(store_->Scan(
      store::Table::kCursors, "", [&](absl::string_view identity, absl::string_view value) {
        absl::StatusOr<uint64_t> cursor = ParseCursor(identity, value);
        if (!cursor.ok()) {
          parse_status = cursor.status();
          return false;
        }
        cursors.emplace_back(std::string(identity), *cursor);
        return true;
      }));
  RETURN_IF_ERROR(parse_status);
  return cursors;
}

std::shared_ptr<StoreCursorBook::Slot> StoreCursorBook::SlotFor(const std::string& identity) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Slot>& slot = slots_[identity];
  if (slot == nullptr) slot = std::make_shared<Slot>();
  return slot;
}

absl::StatusOr<uint64_t> StoreCursorBook::LoadLocked(const std::string& identity, Slot& slot) {
  if (slot.value.has_value()) return *slot.value;
  ASSIGN_OR_RETURN(std::optional<std::string> stored, store_->Get(store::Table::kCursors, identity));
  uint64_t value = 0;
  if (stored.has_value()) {
    ASSIGN_OR_RETURN(value, ParseCursor(identity, *stored));
  }
  slot.value = value;
  return value;
}

}  // namespace fedrelay::relay
