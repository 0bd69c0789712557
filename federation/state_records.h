// Internal to federation/: the key scheme and value records of the derived
// state in the store's kState / kSeenRequests tables, shared by state.cc
// (which writes them: AddWrites, and reads them whole: DerivedState::Load)
// and stored_state.cc (which reads them one key at a time).
//
// Thread-safety: pure functions.
#ifndef FEDRELAY_FEDERATION_STATE_RECORDS_H_
#define FEDRELAY_FEDERATION_STATE_RECORDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "federation/state.h"

namespace fedrelay::federation::internal {

// kState: "peer/<id>", "ban/<u32be len(guild)><guild><user>", "home/<user>",
// "prof/<user>", "migr/<user>", "inv/<invite id>", "meta/log_size",
// "meta/replay_horizon". kSeenRequests: "sig/<32-byte signature hash>" and
// the expiry index "exp/<u64be expiry><32-byte signature hash>".
inline constexpr absl::string_view kPeerPrefix = "peer/";
inline constexpr absl::string_view kBanPrefix = "ban/";
inline constexpr absl::string_view kHomePrefix = "home/";
inline constexpr absl::string_view kProfilePrefix = "prof/";
inline constexpr absl::string_view kMigrationPrefix = "migr/";
inline constexpr absl::string_view kInvitePrefix = "inv/";
inline constexpr absl::string_view kLogSizeKey = "meta/log_size";
inline constexpr absl::string_view kForgetHorizonKey = "meta/replay_horizon";
inline constexpr absl::string_view kSeenRequestPrefix = "sig/";
inline constexpr absl::string_view kSeenExpiryPrefix = "exp/";

// The kState key of a ban ("ban/" included).
std::string BanStateKey(absl::string_view guild_id, absl::string_view user_id);

bool DecodePeer(absl::string_view bytes, PeerRecord* peer);
bool DecodeInvite(absl::string_view bytes, InviteRecord* invite);
bool DecodeMigration(absl::string_view bytes, MigrationRecord* migration);
// A record holding one u64 (profile timestamp, log size, forget horizon).
bool DecodeU64(absl::string_view bytes, uint64_t* value);
// The expiry of a seen-request record (its first field).
bool DecodeSeenExpiry(absl::string_view bytes, uint64_t* expiry_ms);

// DATA_LOSS naming the unreadable record.
absl::Status Corrupt(absl::string_view what, absl::string_view key);

}  // namespace fedrelay::federation::internal

#endif  // FEDRELAY_FEDERATION_STATE_RECORDS_H_
