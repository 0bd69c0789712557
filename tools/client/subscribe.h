// fedrelay-client's downstream commands: subscribe and ack, as a peer (Call
// signature) or with an API key.
#ifndef FEDRELAY_TOOLS_CLIENT_SUBSCRIBE_H_
#define FEDRELAY_TOOLS_CLIENT_SUBSCRIBE_H_

#include "tools/client/cli.h"

namespace fedrelay::client::cli {

inline constexpr char kSubscribeHelp[] = R"(Usage: fedrelay-client subscribe (--server-id ID --server-key FILE | --api-key-file FILE)
           [--resume N] [--guild G]... [--kind K]... [--count N] [--ack]

Subscribes as peer ID (a Call signature made with its key FILE) or with the
downstream API key in FILE (fedrelay-ctl apikey create), and prints each event
as one line of JSON (StreamResponse, proto field names) on stdout.

  --resume N   the last event already processed: 0 = from the start; omitted =
               from this subscriber's acknowledged cursor
  --guild G    only events of these guilds (repeatable); --kind K only these
               kinds, e.g. member_joined, ban, dm_invite (repeatable)
  --count N    stop after N events; the whole call must then finish within
               --timeout-ms. Without it, runs until interrupted.
  --ack        Acknowledge each log entry once all its events are printed, that
               is when the first event of a later entry arrives (one entry can
               carry several events with one event_id, e.g. ban + member_removed).
               The last entry printed is not acknowledged: ack it by hand.

Exit status: 0 after --count events, 1 when the relay refuses or ends the
stream, 2 usage error.
)";

inline constexpr char kAckHelp[] = R"(Usage: fedrelay-client ack (--server-id ID --server-key FILE | --api-key-file FILE) EVENT_ID

Moves the subscriber's durable cursor to EVENT_ID (never backwards) and prints
the cursor the relay now holds. A later `subscribe` without --resume continues
after it.
)";

int Subscribe(Args& args, Relay& relay);
int Ack(Args& args, Relay& relay);

}  // namespace fedrelay::client::cli

#endif  // FEDRELAY_TOOLS_CLIENT_SUBSCRIBE_H_
