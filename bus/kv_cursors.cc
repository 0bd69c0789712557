#include "bus/kv_cursors.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"

namespace fedrelay::bus {
namespace {

// Compare-and-swap rounds before giving up (each lost round means another
// node moved the cursor; it rarely takes more than one).
constexpr int kMaxSwapRounds = 16;

struct Stored {
  uint64_t value = 0;
  uint64_t revision = 0;  // 0 = no such key
};

absl::StatusOr<Stored> Load(NatsBus& bus, const std::string& bucket, const std::string& key,
                            const std::string& identity) {
  ASSIGN_OR_RETURN(std::optional<NatsBus::KvValue> entry, bus.KvGet(bucket, key));
  if (!entry.has_value()) return Stored{};
  Stored stored;
  stored.revision = entry->revision;
  if (!absl::SimpleAtoi(entry->value, &stored.value)) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("stored cursor of ", identity, " is corrupt"));
  }
  return stored;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvCursors>> KvCursors::Open(NatsBus* bus, std::string bucket) {
  RETURN_IF_ERROR(bus->EnsureBucket(bucket));
  return std::unique_ptr<KvCursors>(new KvCursors(bus, std::move(bucket)));
}

absl::StatusOr<uint64_t> KvCursors::Get(const std::string& identity) {
  ASSIGN_OR_RETURN(Stored stored, Load(*bus_, bucket_, HexEncode(identity), identity));
  return stored.value;
}

absl::StatusOr<uint64_t> KvCursors::Advance(const std::string& identity, uint64_t event_id) {
  const std::string key = HexEncode(identity);
  for (int round = 0; round < kMaxSwapRounds; ++round) {
    ASSIGN_OR_RETURN(Stored stored, Load(*bus_, bucket_, key, identity));
    if (event_id <= stored.value) return stored.value;
    absl::StatusOr<uint64_t> swapped =
        bus_->KvSwap(bucket_, key, absl::StrCat(event_id), stored.revision);
    if (swapped.ok()) return event_id;
    if (!absl::IsFailedPrecondition(swapped.status())) return swapped.status();
    // Another node wrote first: look again.
  }
  return MakeError(ErrorCode::kUnavailable,
                   absl::StrCat("the cursor of ", identity, " keeps moving; try again"));
}

}  // namespace fedrelay::bus
