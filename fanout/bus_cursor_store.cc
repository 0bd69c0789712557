#include "fanout/bus_cursor_store.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"

namespace fedrelay::fanout {

absl::StatusOr<std::optional<std::string>> BusCursorStore::Get(store::Table table,
                                                               absl::string_view key) const {
  if (table != store::Table::kCursors) return log_->Get(table, key);
  ASSIGN_OR_RETURN(uint64_t cursor, cursors_->Get(std::string(key)));
  if (cursor == 0) return std::nullopt;
  return absl::StrCat(cursor);
}

// The bucket is not listed: delivery lists cursors only for its metrics at start.
absl::Status BusCursorStore::Scan(
    store::Table table, absl::string_view prefix,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  if (table == store::Table::kCursors) return absl::OkStatus();
  return log_->Scan(table, prefix, fn);
}

absl::Status BusCursorStore::ScanFrom(
    store::Table table, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  if (table == store::Table::kCursors) return absl::OkStatus();
  return log_->ScanFrom(table, prefix, start, fn);
}

absl::Status BusCursorStore::Write(const store::WriteSet& writes) {
  store::WriteSet local;
  for (const store::WriteSet::Op& op : writes.ops()) {
    if (op.table != store::Table::kCursors) {
      if (op.value.has_value()) {
        local.Put(op.table, op.key, *op.value);
      } else {
        local.Delete(op.table, op.key);
      }
      continue;
    }
    uint64_t event_id = 0;
    if (!op.value.has_value() || !absl::SimpleAtoi(*op.value, &event_id)) {
      return MakeError(ErrorCode::kInternal, "a shared cursor can only move forward to an event id");
    }
    RETURN_IF_ERROR(cursors_->Advance(op.key, event_id).status());
  }
  if (local.empty()) return absl::OkStatus();
  return log_->Write(local);
}

}  // namespace fedrelay::fanout
