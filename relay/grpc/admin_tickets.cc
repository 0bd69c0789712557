// The Admin service's member-channel ticket commands (fedrelay-ctl ticket ...).
#include "base/errors.h"
#include "relay/grpc/admin_service.h"
#include "relay/grpc/grpc_status.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

void FillTicket(const Ticket& ticket, v1::AdminTicket* out) {
  out->set_ticket_id(ticket.ticket_id);
  out->set_user_id(ticket.user_id);
  out->set_device_id(ticket.device_id);
  out->set_category(ticket.category);
  out->set_summary(ticket.summary);
  out->set_event_id(ticket.event_id);
  out->set_guild_id(ticket.guild_id);
  out->set_created_at(ticket.created_at_ms);
  out->set_closed(ticket.closed);
  out->set_closed_at(ticket.closed_at_ms);
  out->set_resolution(ticket.resolution);
}

absl::Status NoTickets() {
  return MakeError(ErrorCode::kUnavailable, "the member channel is not enabled");
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status, context));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::ListTickets(grpc::CallbackServerContext* context,
                                                    const v1::ListTicketsRequest* request,
                                                    v1::ListTicketsResponse* response) {
  if (tickets_ == nullptr) return Finish(context, NoTickets());
  auto tickets = tickets_->List(request->include_closed());
  if (tickets.ok()) {
    for (const Ticket& ticket : *tickets) FillTicket(ticket, response->add_tickets());
  }
  return Finish(context, tickets.status());
}

grpc::ServerUnaryReactor* AdminService::GetTicket(grpc::CallbackServerContext* context,
                                                  const v1::GetTicketRequest* request,
                                                  v1::AdminTicket* response) {
  if (tickets_ == nullptr) return Finish(context, NoTickets());
  auto ticket = tickets_->Get(request->ticket_id());
  if (ticket.ok()) FillTicket(*ticket, response);
  return Finish(context, ticket.status());
}

grpc::ServerUnaryReactor* AdminService::CloseTicket(grpc::CallbackServerContext* context,
                                                    const v1::CloseTicketRequest* request,
                                                    v1::AdminTicket* response) {
  return FinishOnWorker(context, [this, request, response]() -> absl::Status {
    if (tickets_ == nullptr) return NoTickets();
    auto ticket = tickets_->Close(request->ticket_id(), request->resolution());
    if (ticket.ok()) {
      FillTicket(*ticket, response);
      spdlog::info("operator: closed ticket {}", ticket->ticket_id);
    }
    return ticket.status();
  });
}

}  // namespace fedrelay::relay
