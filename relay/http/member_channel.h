// The member channel on the HTTP listener (SPEC section 6; docs/member-channel.md):
// a user's own device logs in with a device-signed MemberSession, registers,
// polls the user's own events by cursor, acknowledges them, and files support
// tickets and ban appeals.
//
//   POST /member/session                          -> {session_token, expires_at, ...}
//   POST /member/channel/device/register          -> {channel_binding_id, status, poll_interval_seconds, server_time}
//   GET  /member/channel/events?device_id=&cursor=&limit=[&guild_id=]
//   POST /member/channel/events/{event_id}/ack    -> {status: "acknowledged", event_id, acknowledged_at}
//   POST /member/channel/support/ticket           -> {status: "accepted", ticket_id, created_at}
//
// Every handler runs on the channel's own worker threads (they wait for
// synced store writes), never on an HTTP io thread; when the workers' queue
// is full the answer is 503 unavailable. Errors are the server's JSON error
// body; each is also logged at info with its correlation id.
//
// Thread-safety: Register before HttpServer::Start; Stop after HttpServer::Stop
// and before the store, federation core or index go away.
#ifndef FEDRELAY_RELAY_HTTP_MEMBER_CHANNEL_H_
#define FEDRELAY_RELAY_HTTP_MEMBER_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/clock.h"
#include "config/config.h"
#include "federation/federation.h"
#include "relay/http/http_server.h"
#include "relay/member/member_index.h"
#include "relay/member/member_sessions.h"
#include "relay/member/member_tickets.h"
#include "store/log_store.h"

namespace fedrelay::relay {

// Largest member channel request body; larger ones are 413 payload_too_large.
inline constexpr size_t kMaxMemberBodyBytes = 64 << 10;
inline constexpr int kMemberPollIntervalSeconds = 30;
inline constexpr uint64_t kMemberDefaultLimit = 25;
inline constexpr uint64_t kMemberMaxLimit = 100;
// Tickets a user may file per minute.
inline constexpr uint32_t kTicketsPerMinute = 5;

struct MemberChannelOptions {
  store::LogStore* store = nullptr;
  const federation::Federation* federation = nullptr;
  MemberIndex* index = nullptr;
  MemberSessions* sessions = nullptr;
  MemberTickets* tickets = nullptr;
  config::RateLimits rate_limits;
  const Clock* clock = &SystemClock();
  int threads = 2;
  size_t max_queued_requests = 1024;
};

class MemberChannel {
 public:
  virtual ~MemberChannel() = default;
  // Finishes queued requests (answering them) and joins the workers.
  virtual void Stop() = 0;
};

// Registers the endpoints on `server` and starts the workers.
std::unique_ptr<MemberChannel> RegisterMemberChannel(HttpServer& server,
                                                     const MemberChannelOptions& options);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_MEMBER_CHANNEL_H_
