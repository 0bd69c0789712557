#include "relay/member/member_tickets.h"

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "relay/ulid.h"

namespace fedrelay::relay {
namespace {

constexpr absl::string_view kTicketPrefix = "member/ticket/";
constexpr absl::string_view kOpenPrefix = "member/open/";
constexpr size_t kMaxCategoryLength = 64;
constexpr size_t kMaxResolutionBytes = 2000;

std::string TicketKey(absl::string_view ticket_id) { return absl::StrCat(kTicketPrefix, ticket_id); }
std::string OpenPrefix(absl::string_view user_id) { return absl::StrCat(kOpenPrefix, user_id, "/"); }

std::string Serialize(const Ticket& t) {
  return nlohmann::json{{"ticket_id", t.ticket_id},     {"user_id", t.user_id},
                        {"device_id", t.device_id},     {"category", t.category},
                        {"summary", t.summary},         {"event_id", t.event_id},
                        {"guild_id", t.guild_id},       {"created_at", t.created_at_ms},
                        {"closed", t.closed},           {"closed_at", t.closed_at_ms},
                        {"resolution", t.resolution}}
      .dump();
}

absl::StatusOr<Ticket> Parse(absl::string_view bytes) {
  const auto json = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return MakeError(ErrorCode::kInternal, "corrupt ticket record");
  }
  Ticket t;
  t.ticket_id = json.value("ticket_id", "");
  t.user_id = json.value("user_id", "");
  t.device_id = json.value("device_id", "");
  t.category = json.value("category", "");
  t.summary = json.value("summary", "");
  t.event_id = json.value("event_id", "");
  t.guild_id = json.value("guild_id", "");
  t.created_at_ms = json.value("created_at", uint64_t{0});
  t.closed = json.value("closed", false);
  t.closed_at_ms = json.value("closed_at", uint64_t{0});
  t.resolution = json.value("resolution", "");
  return t;
}

absl::Status ValidateCategory(absl::string_view category) {
  if (category.empty() || category.size() > kMaxCategoryLength) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("category must be 1..", kMaxCategoryLength, " characters"));
  }
  for (char c : category) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
      return MakeError(ErrorCode::kMalformed, "category may hold only a-z, 0-9, '_', '.' and '-'");
    }
  }
  return absl::OkStatus();
}

}  // namespace

MemberTickets::MemberTickets(store::KeyValueStore* store, const Clock* clock)
    : MemberTickets(store, clock, Limits()) {}

MemberTickets::MemberTickets(store::KeyValueStore* store, const Clock* clock, Limits limits)
    : store_(store), clock_(clock), limits_(limits) {}

absl::Status MemberTickets::Load() {
  size_t open = 0;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, kOpenPrefix, [&](absl::string_view, absl::string_view) {
    ++open;
    return true;
  }));
  absl::MutexLock lock(&mu_);
  open_ = open;
  return absl::OkStatus();
}

absl::Status MemberTickets::Validate(const Ticket& ticket) {
  RETURN_IF_ERROR(ValidateCategory(ticket.category));
  if (ticket.summary.empty() || ticket.summary.size() > kMaxTicketSummaryBytes) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("summary must be 1..", kMaxTicketSummaryBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Ticket> MemberTickets::Create(Ticket ticket) {
  RETURN_IF_ERROR(Validate(ticket));
  absl::MutexLock lock(&mu_);
  if (open_ >= limits_.open_total) {
    return MakeError(ErrorCode::kRateLimited,
                     "the relay holds as many open tickets as it accepts; try again later");
  }
  size_t user_open = 0;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, OpenPrefix(ticket.user_id),
                               [&](absl::string_view, absl::string_view) {
                                 return ++user_open < limits_.open_per_user;
                               }));
  if (user_open >= limits_.open_per_user) {
    return MakeError(ErrorCode::kRateLimited,
                     absl::StrCat("at most ", limits_.open_per_user,
                                  " open tickets per user; wait until an operator closes one"));
  }
  ticket.ticket_id = absl::StrCat("st_", NewUlid());
  ticket.created_at_ms = clock_->NowMs();
  ticket.closed = false;
  ticket.closed_at_ms = 0;
  ticket.resolution.clear();
  store::WriteSet writes;
  writes.Put(store::Table::kAux, TicketKey(ticket.ticket_id), Serialize(ticket));
  writes.Put(store::Table::kAux, absl::StrCat(OpenPrefix(ticket.user_id), ticket.ticket_id), "");
  RETURN_IF_ERROR(store_->Write(writes));
  ++open_;
  return ticket;
}

absl::StatusOr<std::vector<Ticket>> MemberTickets::List(bool include_closed) const {
  std::vector<Ticket> tickets;
  absl::Status parse_status;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, kTicketPrefix,
                               [&](absl::string_view, absl::string_view value) {
                                 auto ticket = Parse(value);
                                 if (!ticket.ok()) {
                                   parse_status = ticket.status();
                                   return false;
                                 }
                                 if (include_closed || !ticket->closed) {
                                   tickets.push_back(*std::move(ticket));
                                 }
                                 return true;
                               }));
  RETURN_IF_ERROR(parse_status);
  return tickets;
}

absl::StatusOr<Ticket> MemberTickets::Get(absl::string_view ticket_id) const {
  std::optional<std::string> bytes;
  if (!ticket_id.empty() && ticket_id.find('/') == absl::string_view::npos) {
    ASSIGN_OR_RETURN(bytes, store_->Get(store::Table::kAux, TicketKey(ticket_id)));
  }
  if (!bytes.has_value()) {
    return MakeError(ErrorCode::kNotFound, absl::StrCat("no ticket with id '", ticket_id, "'"));
  }
  return Parse(*bytes);
}

absl::StatusOr<Ticket> MemberTickets::Close(absl::string_view ticket_id,
                                            absl::string_view resolution) {
  if (resolution.size() > kMaxResolutionBytes) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("a note is at most ", kMaxResolutionBytes, " bytes"));
  }
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Ticket ticket, Get(ticket_id));
  if (ticket.closed) return ticket;
  ticket.closed = true;
  ticket.closed_at_ms = clock_->NowMs();
  ticket.resolution = std::string(resolution);
  store::WriteSet writes;
  writes.Put(store::Table::kAux, TicketKey(ticket.ticket_id), Serialize(ticket));
  writes.Delete(store::Table::kAux, absl::StrCat(OpenPrefix(ticket.user_id), ticket.ticket_id));
  RETURN_IF_ERROR(store_->Write(writes));
  if (open_ > 0) --open_;
  return ticket;
}

}  // namespace fedrelay::relay
