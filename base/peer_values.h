// The value rules for a federation peer: its server id, its pinned key and the
// guilds it may ban in. One set of rules for every way a peer reaches the
// relay: the config loader (config/config.cc) and the federation core's
// operator actions (fedrelay-ctl, any admin client) both call these, so a
// value the config refuses cannot be logged through the admin socket either.
// Each returns INVALID_ARGUMENT whose message says what is wrong ("must be a
// server id: ...; got \"X\""), without the key name; callers prefix it.
// Thread-safety: pure functions.
#ifndef FEDRELAY_BASE_PEER_VALUES_H_
#define FEDRELAY_BASE_PEER_VALUES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedrelay {

// 1-253 characters of a-z, 0-9, '.', '-', ':', starting and ending with a
// letter or digit, no "..". Lowercase only: ids are compared byte for byte.
absl::Status CheckServerId(absl::string_view id);

// 64 lowercase hex characters naming a point of Ed25519's prime-order subgroup.
absl::Status CheckPeerPubkey(absl::string_view hex);

// One guild id of a may_ban list: non-empty printable ASCII without spaces or
// ',' (the signed peer entries join the list with commas), or "*".
absl::Status CheckGuildId(absl::string_view guild);

// A whole may_ban list: every entry passes CheckGuildId, none is repeated, and
// "*" (every guild) is the only entry when present. [] = may not ban.
absl::Status CheckGuildList(const std::vector<std::string>& guilds);

// Whether two may_ban lists allow the same guilds (order does not matter).
bool SameGuilds(const std::vector<std::string>& a, const std::vector<std::string>& b);

// `text` quoted and C-escaped for an error message, cut at 80 characters.
std::string QuoteValue(absl::string_view text);

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_PEER_VALUES_H_
