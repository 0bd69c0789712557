// fedrelay-client's commands that build, sign and send one message each
// (and ping, info, pubkey, device-cert), with their --help texts.
#ifndef FEDRELAY_TOOLS_CLIENT_MESSAGES_H_
#define FEDRELAY_TOOLS_CLIENT_MESSAGES_H_

#include "tools/client/cli.h"

namespace fedrelay::client::cli {

inline constexpr char kPingHelp[] = R"(Usage: fedrelay-client [--relay HOST:PORT] ping

Sends a Ping and prints the round-trip time and the relay's clock (Unix ms)
with its offset from ours.
)";

inline constexpr char kInfoHelp[] = R"(Usage: fedrelay-client [--relay HOST:PORT] info

Prints GetServerInfo: server id, relay public key, log origin, C2SP verifier
key, allowed clock skew, version and rate limits.
)";

inline constexpr char kPubkeyHelp[] = R"(Usage: fedrelay-client pubkey --key FILE

Prints the lowercase hex Ed25519 public key of a key file (a user's K_id is
their user id). Offline.
)";

inline constexpr char kDeviceCertHelp[] = R"(Usage: fedrelay-client device-cert --user-key KID_FILE --device-key KDEV_FILE
           --device-id ID [--valid-for-hours 720]

Prints, as JSON, the DeviceCert the user's identity key K_id signs for a device
key K_dev: the same cert the invite, accept, reject and profile commands attach.
It is issued a minute in the past (clock skew) and expires after
--valid-for-hours. Offline.
)";

inline constexpr char kFederateHelp[] = R"(Usage: fedrelay-client federate --server-id ID --server-key FILE --user HEX
           --display-name NAME --guild G [--timestamp MS]

A FederationRequest from server ID (signed with its key FILE, whose public key
must be the one the relay pins for ID): user HEX (their K_id public key) joins
guild G. Prints the receipt and the User the relay derived.
)";

inline constexpr char kBanHelp[] = R"(Usage: fedrelay-client ban --server-id ID --server-key FILE --user HEX --guild G
           --reason R (--evidence-file F | --evidence-hash sha256:HEX) [--timestamp MS]

A BanNotification from server ID: user HEX is banned from guild G. The
evidence hash is SHA-256 of F, or given as "sha256:" + 64 lowercase hex. The
relay accepts it only from a peer allowed to ban in G (may_ban).
)";

inline constexpr char kInviteHelp[] = R"(Usage: fedrelay-client invite --inviter-key KID_FILE --device-key KDEV_FILE
           --device-id ID --target HEX --guild G --guild-name N --host URL
           [--invite-id UUID] [--token T] [--timestamp MS] [--valid-for-hours 720]

A DMInvite from the user of KID_FILE (inviter_id = inviter_pubkey = their K_id)
to user HEX, signed by their device key with a fresh device cert. The invite id
defaults to a random UUID v4 and the token to 32 random bytes in hex; the
invite id is printed, the token is not (the target receives it on accept).
)";

inline constexpr char kDecisionHelp[] = R"(Usage: fedrelay-client accept|reject --user-key KID_FILE --device-key KDEV_FILE
           --device-id ID --invite-id UUID [--timestamp MS] [--valid-for-hours 720]

The invite target's decision on invite UUID, signed by their device key with a
fresh device cert from KID_FILE (which must be the invite's target). accept
prints the invite's token, host server URL and guild.
)";

inline constexpr char kMigrateHelp[] = R"(Usage: fedrelay-client migrate --user-key KID_FILE --to URL [--timestamp MS]

An UpdateHomeServerRequest: the user of KID_FILE moves to homeserver URL,
signed with their identity key. Timestamps must increase per user.
)";

inline constexpr char kProfileHelp[] = R"(Usage: fedrelay-client profile --user-key KID_FILE --device-key KDEV_FILE
           --device-id ID [--display-name N] [--avatar-url U] [--bio B]
           [--timestamp MS] [--valid-for-hours 720]

An UpdateFederatedProfileRequest for the user of KID_FILE, signed by their
device key with a fresh device cert. The update replaces all three fields
(an omitted field is published empty). Timestamps must increase per user.
)";

int Ping(Args& args, Relay& relay);
int Info(Args& args, Relay& relay);
int Pubkey(Args& args);
int DeviceCert(Args& args);
int Federate(Args& args, Relay& relay);
int Ban(Args& args, Relay& relay);
int Invite(Args& args, Relay& relay);
// accept (`accept` = true) or reject.
int Decide(Args& args, Relay& relay, bool accept);
int Migrate(Args& args, Relay& relay);
int Profile(Args& args, Relay& relay);

}  // namespace fedrelay::client::cli

#endif  // FEDRELAY_TOOLS_CLIENT_MESSAGES_H_
