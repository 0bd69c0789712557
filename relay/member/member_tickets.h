// Support tickets and ban appeals from the member channel (POST
// /member/channel/support/ticket), read and closed by operators with
// `fedrelay-ctl ticket list|show|close`.
//
// Durable: each ticket is a JSON record in kAux ("member/ticket/<ticket_id>",
// synced); ids are "st_<ULID>", so key order is creation order. Bounded:
// a summary is at most kMaxTicketSummaryBytes, a user has at most
// kMaxOpenTicketsPerUser open tickets and the relay kMaxOpenTickets (kAux
// "member/open/<user>/<ticket_id>" marks the open ones); beyond either the
// answer is rate_limited until an operator closes some. The per-minute rate
// is the channel's business (it owns the rate limiters).
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_MEMBER_MEMBER_TICKETS_H_
#define FEDRELAY_RELAY_MEMBER_MEMBER_TICKETS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "store/key_value_store.h"

namespace fedrelay::relay {

inline constexpr size_t kMaxTicketSummaryBytes = 2000;
inline constexpr size_t kMaxOpenTicketsPerUser = 3;
inline constexpr size_t kMaxOpenTickets = 10000;
inline constexpr absl::string_view kTicketCategoryBanAppeal = "ban_appeal";

struct Ticket {
  std::string ticket_id;  // "st_<ULID>"
  std::string user_id;
  std::string device_id;
  std::string category;
  std::string summary;
  std::string event_id;  // "evt_<n>" a ban appeal names; else ""
  std::string guild_id;  // the guild it concerns, if any
  uint64_t created_at_ms = 0;
  bool closed = false;
  uint64_t closed_at_ms = 0;
  std::string resolution;  // the operator's note on close
};

class MemberTickets {
 public:
  struct Limits {
    size_t open_per_user = kMaxOpenTicketsPerUser;
    size_t open_total = kMaxOpenTickets;
  };
  explicit MemberTickets(store::KeyValueStore* store, const Clock* clock = &SystemClock());
  MemberTickets(store::KeyValueStore* store, const Clock* clock, Limits limits);

  // Loads the count of open tickets.
  absl::Status Load();

  // kMalformed for a category that is not 1..64 of [a-z0-9_.-] or a summary
  // that is empty or longer than kMaxTicketSummaryBytes.
  static absl::Status Validate(const Ticket& ticket);

  // Stores a new open ticket from `ticket`'s user fields (id and times are
  // set here). kMalformed for a category that is not 1..64 of [a-z0-9_.-] or a
  // summary that is empty or too long; kRateLimited when a bound is reached.
  absl::StatusOr<Ticket> Create(Ticket ticket);

  // Oldest first; `include_closed` false lists the open ones only.
  absl::StatusOr<std::vector<Ticket>> List(bool include_closed) const;
  // kNotFound when there is no such ticket.
  absl::StatusOr<Ticket> Get(absl::string_view ticket_id) const;
  // Closes an open ticket with the operator's note; closing a closed ticket
  // returns it unchanged. kNotFound when there is none.
  absl::StatusOr<Ticket> Close(absl::string_view ticket_id, absl::string_view resolution);

 private:
  store::KeyValueStore* const store_;
  const Clock* const clock_;
  const Limits limits_;
  mutable absl::Mutex mu_;
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_MEMBER_MEMBER_TICKETS_H_
