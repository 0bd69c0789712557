// The fan-out node's store as delivery sees it: the node's own RocksDB log,
// except that subscriber cursors (Table::kCursors) live in the bus's
// key-value bucket (bus/kv_cursors.h), shared by every fan-out node, so a
// subscriber may acknowledge on one node and resume on another. A cursor
// write only ever moves the shared cursor forward.
//
// Thread-safety: as store::LogStore.
#ifndef FEDRELAY_FANOUT_BUS_CURSOR_STORE_H_
#define FEDRELAY_FANOUT_BUS_CURSOR_STORE_H_

#include "bus/kv_cursors.h"
#include "store/log_store.h"

namespace fedrelay::fanout {

class BusCursorStore final : public store::LogStore {
 public:
  // Both must outlive this.
  BusCursorStore(store::LogStore* log, bus::KvCursors* cursors) : log_(log), cursors_(cursors) {}

  uint64_t Size() const override { return log_->Size(); }
  absl::StatusOr<std::vector<std::string>> Append(const std::vector<std::string>& leaves,
                                                  const store::WriteSet& side) override {
    return log_->Append(leaves, side);
  }
  absl::StatusOr<std::string> GetLeaf(uint64_t index) const override { return log_->GetLeaf(index); }
  absl::Status ScanLeaves(uint64_t begin, uint64_t end,
                          const std::function<bool(uint64_t, absl::string_view)>& fn) const override {
    return log_->ScanLeaves(begin, end, fn);
  }
  const store::SubtreeHashReader& Nodes() const override { return log_->Nodes(); }
  absl::StatusOr<std::string> ReadTile(int level, uint64_t index, int width) const override {
    return log_->ReadTile(level, index, width);
  }
  absl::StatusOr<std::string> ReadEntryBundle(uint64_t index, int width) const override {
    return log_->ReadEntryBundle(index, width);
  }
  absl::Status SaveCheckpoint(const store::StoredCheckpoint& checkpoint) override {
    return log_->SaveCheckpoint(checkpoint);
  }
  std::optional<store::StoredCheckpoint> LatestCheckpoint() const override {
    return log_->LatestCheckpoint();
  }
  absl::Status VerifyIntegrity(
      const std::function<void(uint64_t, uint64_t)>& progress) const override {
    return log_->VerifyIntegrity(progress);
  }

  // Cursors go to the bucket; everything else to the log's tables.
  absl::StatusOr<std::optional<std::string>> Get(store::Table table,
                                                 absl::string_view key) const override;
  absl::Status Scan(store::Table table, absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override;
  absl::Status ScanFrom(store::Table table, absl::string_view prefix, absl::string_view start,
                        const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override;
  absl::Status Write(const store::WriteSet& writes) override;

 private:
  store::LogStore* const log_;
  bus::KvCursors* const cursors_;
};

}  // namespace fedrelay::fanout

#endif  // FEDRELAY_FANOUT_BUS_CURSOR_STORE_H_
