// fedrelay-client member ...: the member channel over HTTP (docs/member-channel.md).
#ifndef FEDRELAY_TOOLS_CLIENT_MEMBER_H_
#define FEDRELAY_TOOLS_CLIENT_MEMBER_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "base/crypto.h"
#include "base/flags.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace fedrelay::client {

inline constexpr char kMemberHelp[] = R"help(Usage: fedrelay-client member [--http HOST:PORT] SUBCOMMAND ...

The member channel: a user's own device talks to the relay's HTTP listener
(default 127.0.0.1:7480, `listen.http`) with a session token.

  login    --user-key KID_FILE --device-key KDEV_FILE --device-id ID
           [--valid-for-hours 720] [--timestamp MS]
           signs SB("MemberSession", user_id, device_id, timestamp) with K_dev
           under a fresh device cert; prints session_token and expires_at
  register --device-id ID [--platform P] [--app-version V] [--push-provider none]
  events   --device-id ID [--cursor evt_N] [--limit 1..100] [--guild G]
           prints the page as JSON (events, next_cursor, membership_status)
  ack      --device-id ID --event-id evt_N [--acknowledged-at MS]
  ticket   --category C --summary TEXT [--event-id evt_N] [--guild G]
           a support ticket; category ban_appeal names the ban's --event-id

Every subcommand but login needs the session: --session TOKEN, or the
environment variable FEDRELAY_MEMBER_SESSION (keeps it out of `ps`).
Responses are printed as the relay sent them (JSON); refusals as
"refused: <code>: <error> (HTTP <status>, correlation id <id>)".

Exit status: 0 accepted, 1 refused or unreachable, 2 usage error.
)help";

// Builds and signs a device cert from the login flags (--user-key,
// --device-key, --device-id, --valid-for-hours); returns an exit status.
using MemberCertSigner = std::function<int(Args& args, v1::DeviceCert* cert,
                                           std::optional<Ed25519PrivateKey>* identity_key,
                                           std::optional<Ed25519PrivateKey>* device_key)>;

int RunMember(Args& args, uint64_t timeout_ms, const MemberCertSigner& sign_cert);

}  // namespace fedrelay::client

#endif  // FEDRELAY_TOOLS_CLIENT_MEMBER_H_
