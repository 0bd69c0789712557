#include "base/peer_values.h"

#include <algorithm>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"

namespace fedrelay {

std::string QuoteValue(absl::string_view text) {
  constexpr size_t kMaxShown = 80;
  std::string shown(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) shown += "...";
  return absl::StrCat("\"", absl::CHexEscape(shown), "\"");
}

absl::Status CheckServerId(absl::string_view id) {
  constexpr size_t kMaxLength = 253;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !id.empty() && id.size() <= kMaxLength && alnum(id.front()) && alnum(id.back()) &&
            !absl::StrContains(id, "..");
  for (char c : id) ok = ok && (alnum(c) || c == '.' || c == '-' || c == ':');
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "must be a server id: 1-253 characters of a-z, 0-9, '.', '-', ':', starting and ending "
      "with a letter or digit, no '..'; got ",
      QuoteValue(id)));
}

absl::Status CheckPeerPubkey(absl::string_view hex) {
  absl::StatusOr<std::string> raw = HexDecode(hex, "the value", kEd25519PublicKeyBytes);
  if (!raw.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be an Ed25519 public key: ", raw.status().message()));
  }
  if (!Ed25519IsValidPublicKey(*raw)) {
    return absl::InvalidArgumentError(
        "must be an Ed25519 public key: this is not a point of the curve's prime-order subgroup "
        "(nothing would verify under it); check that it was copied correctly");
  }
  return absl::OkStatus();
}

absl::Status CheckGuildId(absl::string_view guild) {
  bool printable = !guild.empty();
  for (char c : guild) printable = printable && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  if (printable && !absl::StrContains(guild, ',')) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "a guild id must be non-empty without spaces or ','; got ", QuoteValue(guild)));
}

absl::Status CheckGuildList(const std::vector<std::string>& guilds) {
  for (size_t i = 0; i < guilds.size(); ++i) {
    if (absl::Status status = CheckGuildId(guilds[i]); !status.ok()) return status;
    if (std::find(guilds.begin(), guilds.begin() + i, guilds[i]) != guilds.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate guild id ", QuoteValue(guilds[i])));
    }
  }
  if (guilds.size() > 1 && std::find(guilds.begin(), guilds.end(), "*") != guilds.end()) {
    return absl::InvalidArgumentError("\"*\" (every guild) must be the only entry when present");
  }
  return absl::OkStatus();
}

bool SameGuilds(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> sorted_a = a, sorted_b = b;
  std::sort(sorted_a.begin(), sorted_a.end());
  std::sort(sorted_b.begin(), sorted_b.end());
  return sorted_a == sorted_b;
}

}  // namespace fedrelay
