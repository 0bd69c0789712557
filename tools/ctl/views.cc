#include "tools/ctl/views.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "federation/rules/rules.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "tools/ctl/common.h"

namespace fedrelay::ctl {

const char kViewsUsage[] = R"(Views (read only):
  tail [-n N] [--kind K] [--follow] [--interval-ms MS]
                                       the last N log entries (default 10), decoded, one per
                                       line; --kind only entries of kind K (ban, migration,
                                       operator_action, ...); --follow keeps printing new
                                       entries as the log grows (polls every MS ms, default
                                       500) until SIGINT/SIGTERM
  subscribers                          open downstream streams: identity, transport, filters,
                                       acked cursor, lag in events and seconds, connected since
  bans [--guild G] [--user U]          bans in the log (all, or of guild G and/or user U)
  user USER_ID                         a user's homeserver, latest profile, bans and the DM
                                       invites to them still pending
  rejections                           the last 256 requests the relay refused, oldest first:
                                       time, machine code, sender, kind and reason
  checkpoint                           the latest signed checkpoint note and its verifier key
)";

namespace {

using v1::AdminViews;

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

// One line saying what a log entry is (the full entry is in --json).
std::string Summary(const v1::LogEntry& entry) {
  switch (entry.request_case()) {
    case v1::LogEntry::kFederationRequest: {
      const auto& m = entry.federation_request();
      return absl::StrCat(m.origin_server_id(), " federates user ", m.user_pubkey(), " (\"",
                          m.user_display_name(), "\") in guild ", m.guild_id());
    }
    case v1::LogEntry::kBan: {
      const auto& m = entry.ban();
      return absl::StrCat(m.origin_server_id(), " bans ", m.banned_user_pubkey(), " from guild ",
                          m.guild_id(), ": ", m.reason());
    }
    case v1::LogEntry::kDmInvite: {
      const auto& m = entry.dm_invite();
      return absl::StrCat("invite ", m.invite_id(), " from ", m.inviter_id(), " to ",
                          m.target_user_id(), " (guild ", m.guild_id(), ")");
    }
    case v1::LogEntry::kDmAccept: return absl::StrCat("invite ", entry.dm_accept().invite_id(), " accepted");
    case v1::LogEntry::kDmReject: return absl::StrCat("invite ", entry.dm_reject().invite_id(), " rejected");
    case v1::LogEntry::kMigration:
      return absl::StrCat("user ", entry.migration().user_id(), " moves to ",
                          entry.migration().new_homeserver());
    case v1::LogEntry::kProfile:
      return absl::StrCat("user ", entry.profile().user_id(), " profile: \"",
                          entry.profile().display_name(), "\"");
    case v1::LogEntry::kOperatorAction: {
      const auto& m = entry.operator_action();
      std::string text = absl::StrCat(m.action(), " ", m.server_id());
      if (!m.pubkey().empty()) absl::StrAppend(&text, " pubkey=", m.pubkey());
      if (m.action() == federation::rules::kPeerAdd || m.action() == federation::rules::kPeerMayBan) {
        absl::StrAppend(&text, " may_ban=", Joined(m.may_ban()));
      }
      return text;
    }
    case v1::LogEntry::REQUEST_NOT_SET: break;
  }
  return "(empty)";
}

void PrintEntry(const v1::LogEntry& entry) {
  if (g_json) {
    PrintJson(entry);
    return;
  }
  std::cout << "event " << entry.event_id() << "  at " << entry.received_at() << "  "
            << entry.kind() << "  " << Summary(entry) << "\n"
            << std::flush;
}

int Tail(Args& args, AdminViews::Stub& views, const std::string& socket) {
  uint64_t last = 10, interval_ms = 500;
  std::string kind;
  const bool follow = args.Flag("--follow");
  if (!args.Number("-n", &last) || !args.Value("--kind", &kind) ||
      !args.Number("--interval-ms", &interval_ms)) {
    return Usage(args.error());
  }
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  if (interval_ms == 0) return Usage("--interval-ms must be at least 1");
  if (last > 256) return Usage("-n is at most 256");
  v1::TailLogRequest request;
  request.set_kind(kind);
  v1::TailLogResponse response;
  uint64_t after = 0;
  if (last > 0) {
    request.set_last(static_cast<uint32_t>(last));
    grpc::ClientContext context;
    Bound(context);
    if (auto status = views.TailLog(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    for (const auto& entry : response.entries()) PrintEntry(entry);
    after = response.scanned_through();
  } else {
    grpc::ClientContext context;  // -n 0: nothing old, only what follows
    Bound(context);
    request.set_last(1);
    if (auto status = views.TailLog(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    after = response.log_size();
  }
  if (!follow) return 0;
  signal(SIGINT, OnStopSignal);
  signal(SIGTERM, OnStopSignal);
  request.set_last(0);
  while (!g_stop.load()) {
    request.set_after_event_id(after);
    response.Clear();
    grpc::ClientContext context;
    Bound(context);
    if (auto status = views.TailLog(&context, request, &response); !status.ok()) {
      if (g_stop.load()) break;
      return FailRpc(status, socket);
    }
    for (const auto& entry : response.entries()) PrintEntry(entry);
    const bool more = response.scanned_through() < response.log_size();
    after = response.scanned_through();
    if (more) continue;  // keep reading without a pause while behind
    for (uint64_t slept = 0; slept < interval_ms && !g_stop.load(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(50, interval_ms - slept)));
    }
  }
  return 0;
}

int Subscribers(Args& args, AdminViews::Stub& views, const std::string& socket) {
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  grpc::ClientContext context;
  Bound(context);
  v1::ListSubscribersResponse response;
  if (auto status = views.ListSubscribers(&context, {}, &response); !status.ok()) {
    return FailRpc(status, socket);
  }
  if (g_json) return PrintJson(response);
  if (response.subscribers().empty()) std::cout << "no open subscriber streams\n";
  for (const auto& s : response.subscribers()) {
    std::cout << s.identity() << "  " << s.transport() << "  guilds=" << Joined(s.guild_ids())
              << "  kinds=" << Joined(s.kinds()) << "  acked=" << s.acked_event_id()
              << "  sent_through=" << s.sent_through() << "  lag=" << s.lag_events() << " events/"
              << s.lag_seconds() << "s  connected_since=" << s.connected_since() << "\n";
  }
  return 0;
}

void PrintBan(const v1::AdminBan& ban) {
  std::cout << "guild " << ban.guild_id() << "  user " << ban.user_id() << "  event "
            << ban.event_id() << "\n";
}

int Bans(Args& args, AdminViews::Stub& views, const std::string& socket) {
  v1::ListBansRequest request;
  std::string guild, user;
  if (!args.Value("--guild", &guild) || !args.Value("--user", &user)) return Usage(args.error());
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  request.set_guild_id(guild);
  request.set_user_id(user);
  grpc::ClientContext context;
  Bound(context);
  v1::ListBansResponse response;
  if (auto status = views.ListBans(&context, request, &response); !status.ok()) {
    return FailRpc(status, socket);
  }
  if (g_json) return PrintJson(response);
  if (response.bans().empty()) std::cout << "no bans\n";
  for (const auto& ban : response.bans()) PrintBan(ban);
  return 0;
}

int User(Args& args, AdminViews::Stub& views, const std::string& socket) {
  v1::GetUserRequest request;
  request.set_user_id(args.Positional());
  if (request.user_id().empty()) return Usage("user needs USER_ID (64 hex characters)");
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  grpc::ClientContext context;
  Bound(context);
  v1::AdminUser response;
  if (auto status = views.GetUser(&context, request, &response); !status.ok()) {
    return FailRpc(status, socket);
  }
  if (g_json) return PrintJson(response);
  std::cout << "user:         " << response.user_id() << "\n"
            << "homeserver:   " << (response.homeserver().empty() ? "(none logged)" : response.homeserver())
            << "\n";
  if (response.profile_event_id() == 0) {
    std::cout << "profile:      (none logged)\n";
  } else {
    std::cout << "profile:      event " << response.profile_event_id() << "\n"
              << "display name: " << response.display_name() << "\n"
              << "avatar url:   " << response.avatar_url() << "\n"
              << "bio:          " << response.bio() << "\n";
  }
  std::cout << "bans:         " << response.bans_size() << "\n";
  for (const auto& ban : response.bans()) {
    std::cout << "  guild " << ban.guild_id() << "  event " << ban.event_id() << "\n";
  }
  std::cout << "pending invites: " << response.pending_invites_size() << "\n";
  for (const auto& invite : response.pending_invites()) {
    std::cout << "  invite " << invite.invite_id() << "  from " << invite.inviter_id() << "  guild "
              << invite.guild_id() << "  host " << invite.host_server_url() << "  event "
              << invite.event_id() << "\n";
  }
  return 0;
}

int Rejections(Args& args, AdminViews::Stub& views, const std::string& socket) {
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  grpc::ClientContext context;
  Bound(context);
  v1::ListRejectionsResponse response;
  if (auto status = views.ListRejections(&context, {}, &response); !status.ok()) {
    return FailRpc(status, socket);
  }
  if (g_json) return PrintJson(response);
  std::cout << response.total() << " refused since start; the last " << response.rejections_size()
            << " (at most " << response.capacity() << "):\n";
  for (const auto& r : response.rejections()) {
    std::cout << r.at_ms() << "  " << r.code() << "  " << r.peer() << "  "
              << (r.kind().empty() ? "-" : r.kind()) << "  " << r.message() << "\n";
  }
  return 0;
}

int Checkpoint(Args& args, const std::shared_ptr<grpc::Channel>& channel, const std::string& socket) {
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  auto admin = v1::Admin::NewStub(channel);
  grpc::ClientContext context;
  Bound(context);
  v1::AdminStatusResponse response;
  if (auto status = admin->Status(&context, {}, &response); !status.ok()) return FailRpc(status, socket);
  if (g_json) {
    return PrintJson(nlohmann::json{{"tree_size", response.checkpoint_size()},
                                    {"note", response.checkpoint_note()},
                                    {"verifier_key", response.verifier_key()}});
  }
  if (response.checkpoint_note().empty()) {
    std::cout << "no checkpoint published yet\n";
  } else {
    std::cout << response.checkpoint_note();
  }
  std::cout << "verifier key: " << response.verifier_key() << "\n";
  return 0;
}

}  // namespace

bool RunView(Args& args, const std::shared_ptr<grpc::Channel>& channel, const std::string& socket,
             int* exit_code) {
  auto views = AdminViews::NewStub(channel);
  if (args.Command("tail")) {
    *exit_code = Tail(args, *views, socket);
  } else if (args.Command("subscribers")) {
    *exit_code = Subscribers(args, *views, socket);
  } else if (args.Command("bans")) {
    *exit_code = Bans(args, *views, socket);
  } else if (args.Command("user")) {
    *exit_code = User(args, *views, socket);
  } else if (args.Command("rejections")) {
    *exit_code = Rejections(args, *views, socket);
  } else if (args.Command("checkpoint")) {
    *exit_code = Checkpoint(args, channel, socket);
  } else {
    return false;
  }
  return true;
}

}  // namespace fedrelay::ctl
