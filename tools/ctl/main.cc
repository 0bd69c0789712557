// fedrelay-ctl: the operator's tool. See `fedrelay-ctl --help`.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "base/crypto.h"
#include "base/flags.h"
#include "config/config.h"
#include "fedrelay/v1/admin.grpc.pb.h"
#include "relay/grpc/admin_service.h"
#include "store/note.h"
#include "tools/ctl/common.h"
#include "tools/ctl/views.h"

namespace {

using fedrelay::Args;
using fedrelay::ctl::Bound;
using fedrelay::ctl::Fail;
using fedrelay::ctl::FailRpc;
using fedrelay::ctl::g_json;
using fedrelay::ctl::PrintJson;
using fedrelay::ctl::Usage;

constexpr char kUsage[] = R"(fedrelay-ctl - operate a running fedrelayd

Usage: fedrelay-ctl [--config FILE | --data-dir DIR | --socket PATH] [--timeout-ms MS] [--json]
                    COMMAND ...

Which relay: the admin socket <data_dir>/admin.sock of a running fedrelayd
(mode 0600: run as the relay's user). --config reads data_dir from the relay's
config; --data-dir names it; the default is the embedded default's var/data.
--timeout-ms bounds each call (default 10000): a relay that does not answer
in time is an error (exit 1), never a hang. --json makes every command print
one JSON document on stdout (tail: one JSON object per line) instead of its
human output; protobuf answers use the proto3 JSON mapping with proto field
names (64-bit integers are strings); errors still go to stderr.

Commands talking to the relay:
  status                               log size, latest checkpoint, peers, verifier key
  peer list                            pinned peers and what they may ban
  peer add SERVER_ID --pubkey HEX [--may-ban GUILD|*]...
  peer remove SERVER_ID
  peer rotate SERVER_ID --pubkey HEX   pin a new key for a peer
  peer may-ban SERVER_ID [--may-ban GUILD|*]...   (none = may not ban)
  equivocations                        migrations signed for two targets at one timestamp
  Every peer change is a relay-signed entry in the log; the receipt is printed.
  apikey create --name NAME            issue a downstream API key (scope rest.full);
                                       the key is printed this once and never again
  apikey list                          key ids, names, scopes, created/revoked times
  apikey revoke KEY_ID                 revoke a key; its open streams end at once
  bridge bind USER_ID --key KEY_ID --recipient ADDRESS
                                       send the user's notifications (dm invites, bans,
                                       migrations) to the bridge holding that API key
  bridge list                          bindings, then every notification and its state
  bridge unbind USER_ID                stop notifying the user through a bridge
  bridge conversations KEY_ID [--stored]
                                       ask the connected bridge for its conversations
                                       (UploadConversations) and print its report;
                                       --stored prints the last stored report only
  ticket list [--all]                  member channel support tickets and ban appeals
                                       (open ones; --all includes closed ones)
  ticket show TICKET_ID                one ticket in full
  ticket close TICKET_ID [--note TEXT] close a ticket (closing a closed one changes nothing)
  access list                          integrations waiting on /v1/ws for access: request id,
                                       clientId, displayName (unverified), scopes, address, age
  access approve REQUEST_ID            mint an API key for it; the key goes to the waiting
                                       integration only (listed by apikey list, revocable)
  access deny REQUEST_ID               refuse it (the integration gets access_denied user_denied)

%VIEWS%
Offline commands:
  keygen --out FILE [--name NAME]      create a 0600 Ed25519 key file, print its keys
  vkey --key FILE [--name NAME]        print the C2SP note verifier key of a key file
  demo-keys --out DIR                  write the example peers' well-known demo keys
                                       (alpha.example.key, beta.example.key) for the
                                       README tour; existing files are kept. Demo only.

Exit status: 0 success, 1 the relay refused or failed, 2 usage error.
)";

void PrintReceipt(const fedrelay::v1::RelayReceipt& receipt) {
  if (g_json) {
    PrintJson(receipt);
    return;
  }
  std::cout << "logged as event " << receipt.event_id() << "\n";
}

std::string DemoSeedName(const std::string& server_id) {
  return "server-" + server_id.substr(0, server_id.find('.'));
}

int DemoKeys(Args& args) {
  std::string out;
  if (!args.Value("--out", &out)) return Usage(args.error());
  if (out.empty()) return Usage("demo-keys needs --out DIR");
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return Fail("cannot create " + out + ": " + ec.message());
  for (const std::string server_id : {"alpha.example", "beta.example"}) {
    const std::string path = out + "/" + server_id + ".key";
    if (std::filesystem::exists(path)) continue;
    auto key = fedrelay::Ed25519PrivateKey::FromSeed(
        fedrelay::Sha256("fedrelay test key " + DemoSeedName(server_id)));
    if (!key.ok()) return Fail(std::string(key.status().message()));
    if (auto status = fedrelay::WriteKeyFile(path, *key); !status.ok()) {
      return Fail(std::string(status.message()));
    }
    if (g_json) {
      PrintJson(nlohmann::json{{"path", path}, {"server_id", server_id},
                               {"public_key", key->PublicKeyHex()}});
      continue;
    }
    std::cout << "wrote demo key " << path << " (" << server_id << ", public key "
              << key->PublicKeyHex() << ")\n";
  }
  return 0;
}

int Keygen(Args& args) {
  std::string out, name = "relay.example/log";
  if (!args.Value("--out", &out) || !args.Value("--name", &name)) return Usage(args.error());
  if (out.empty()) return Usage("keygen needs --out FILE");
  const auto key = fedrelay::Ed25519PrivateKey::Generate();
  if (auto status = fedrelay::WriteKeyFile(out, key); !status.ok()) return Fail(std::string(status.message()));
  if (g_json) {
    return PrintJson(nlohmann::json{
        {"key_file", out},
        {"public_key", key.PublicKeyHex()},
        {"verifier_key", fedrelay::store::FormatVerifierKey(name, key.PublicKey())}});
  }
  std::cout << "key file:     " << out << " (mode 0600)\n"
            << "public key:   " << key.PublicKeyHex() << "\n"
            << "verifier key: " << fedrelay::store::FormatVerifierKey(name, key.PublicKey()) << "\n";
  return 0;
}

int Vkey(Args& args) {
  std::string path, name = "relay.example/log";
  if (!args.Value("--key", &path) || !args.Value("--name", &name)) return Usage(args.error());
  if (path.empty()) return Usage("vkey needs --key FILE");
  auto key = fedrelay::ReadKeyFile(path);
  if (!key.ok()) return Fail(std::string(key.status().message()));
  if (g_json) {
    return PrintJson(nlohmann::json{
        {"verifier_key", fedrelay::store::FormatVerifierKey(name, key->PublicKey())}});
  }
  std::cout << fedrelay::store::FormatVerifierKey(name, key->PublicKey()) << "\n";
  return 0;
}

int Peer(Args& args, fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  const std::string verb = args.Positional();
  grpc::ClientContext context;
  Bound(context);
  fedrelay::v1::RelayReceipt receipt;
  grpc::Status status;
  if (verb == "list") {
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::ListPeersResponse response;
    status = admin.ListPeers(&context, {}, &response);
    if (!status.ok()) return FailRpc(status, socket);
    if (g_json) return PrintJson(response);
    for (const auto& peer : response.peers()) {
      std::cout << peer.server_id() << "  " << peer.pubkey() << "  may_ban=[";
      for (int i = 0; i < peer.may_ban_size(); ++i) std::cout << (i ? "," : "") << peer.may_ban(i);
      std::cout << "]\n";
    }
    return 0;
  }
  if (verb != "add" && verb != "remove" && verb != "rotate" && verb != "may-ban") {
    return Usage(verb.empty() ? "peer needs list, add, remove, rotate or may-ban"
                              : "unknown peer command '" + verb + "'");
  }
  const std::string server_id = args.Positional();
  if (server_id.empty()) return Usage("peer " + verb + " needs SERVER_ID");
  std::string pubkey;
  std::vector<std::string> may_ban;
  if (!args.Value("--pubkey", &pubkey) || !args.Values("--may-ban", &may_ban)) return Usage(args.error());
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  // Refuse rather than silently drop a flag the operator expected to take effect.
  if (!pubkey.empty() && (verb == "remove" || verb == "may-ban")) {
    return Usage("peer " + verb + " takes no --pubkey (use peer rotate)");
  }
  if (!may_ban.empty() && (verb == "remove" || verb == "rotate")) {
    return Usage("peer " + verb + " takes no --may-ban (use peer may-ban)");
  }
  if (verb == "add") {
    if (pubkey.empty()) return Usage("peer add needs --pubkey HEX");
    fedrelay::v1::AddPeerRequest request;
    request.mutable_peer()->set_server_id(server_id);
    request.mutable_peer()->set_pubkey(pubkey);
    for (const auto& guild : may_ban) request.mutable_peer()->add_may_ban(guild);
    status = admin.AddPeer(&context, request, &receipt);
  } else if (verb == "remove") {
    fedrelay::v1::RemovePeerRequest request;
    request.set_server_id(server_id);
    status = admin.RemovePeer(&context, request, &receipt);
  } else if (verb == "rotate") {
    if (pubkey.empty()) return Usage("peer rotate needs --pubkey HEX");
    fedrelay::v1::RotatePeerKeyRequest request;
    request.set_server_id(server_id);
    request.set_new_pubkey(pubkey);
    status = admin.RotatePeerKey(&context, request, &receipt);
  } else {  // may-ban
    fedrelay::v1::SetPeerMayBanRequest request;
    request.set_server_id(server_id);
    for (const auto& guild : may_ban) request.add_may_ban(guild);
    status = admin.SetPeerMayBan(&context, request, &receipt);
  }
  if (!status.ok()) return FailRpc(status, socket);
  PrintReceipt(receipt);
  return 0;
}

int Status(fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  grpc::ClientContext context;
  Bound(context);
  fedrelay::v1::AdminStatusResponse response;
  if (auto status = admin.Status(&context, {}, &response); !status.ok()) return FailRpc(status, socket);
  if (g_json) return PrintJson(response);
  std::cout << "log size:        " << response.log_size() << "\n"
            << "checkpoint size: " << response.checkpoint_size() << "\n"
            << "peers:           " << response.peers() << "\n"
            << "equivocations:   " << response.equivocations() << "\n"
            << "relay key:       " << response.relay_pubkey() << "\n"
            << "verifier key:    " << response.verifier_key() << "\n"
            << "checkpoint:\n" << response.checkpoint_note();
  return 0;
}

int Equivocations(fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  grpc::ClientContext context;
  Bound(context);
  fedrelay::v1::ListEquivocationsResponse response;
  if (auto status = admin.ListEquivocations(&context, {}, &response); !status.ok()) {
    return FailRpc(status, socket);
  }
  if (g_json) return PrintJson(response);
  if (response.equivocations().empty()) std::cout << "no equivocations seen\n";
  for (const auto& seen : response.equivocations()) {
    std::cout << "user " << seen.user_id() << " at " << seen.timestamp() << ": logged "
              << seen.logged_target() << ", refused " << seen.rejected_target() << " (seen at "
              << seen.seen_at_ms() << ")\n";
  }
  return 0;
}

void PrintApiKey(const fedrelay::v1::AdminApiKey& key) {
  if (g_json) {
    PrintJson(key);
    return;
  }
  std::cout << key.key_id() << "  " << (key.revoked() ? "revoked" : "active ") << "  scopes=[";
  for (int i = 0; i < key.scopes_size(); ++i) std::cout << (i ? "," : "") << key.scopes(i);
  std::cout << "]  created_at=" << key.created_at();
  if (key.revoked()) std::cout << "  revoked_at=" << key.revoked_at();
  std::cout << "  name=" << key.name() << "\n";
}

int ApiKey(Args& args, fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  const std::string verb = args.Positional();
  grpc::ClientContext context;
  Bound(context);
  if (verb == "create") {
    std::string name;
    if (!args.Value("--name", &name)) return Usage(args.error());
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    if (name.empty()) return Usage("apikey create needs --name NAME");
    fedrelay::v1::CreateApiKeyRequest request;
    request.set_name(name);
    fedrelay::v1::CreateApiKeyResponse response;
    if (auto status = admin.CreateApiKey(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(response);  // the key, this once, as in the human output
    std::cout << "key id:  " << response.key().key_id() << "\n"
              << "name:    " << response.key().name() << "\n"
              << "api key: " << response.api_key() << "\n"
              << "This is the only time the key is shown; the relay keeps only its hash.\n";
    return 0;
  }
  if (verb == "list") {
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::ListApiKeysResponse response;
    if (auto status = admin.ListApiKeys(&context, {}, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(response);
    if (response.keys().empty()) std::cout << "no API keys\n";
    for (const auto& key : response.keys()) PrintApiKey(key);
    return 0;
  }
  if (verb == "revoke") {
    const std::string key_id = args.Positional();
    if (key_id.empty()) return Usage("apikey revoke needs KEY_ID");
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::RevokeApiKeyRequest request;
    request.set_key_id(key_id);
    fedrelay::v1::AdminApiKey response;
    if (auto status = admin.RevokeApiKey(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    PrintApiKey(response);
    return 0;
  }
  return Usage(verb.empty() ? "apikey needs create, list or revoke" : "unknown apikey command '" + verb + "'");
}

int Bridge(Args& args, fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  const std::string verb = args.Positional();
  grpc::ClientContext context;
  Bound(context);
  if (verb == "bind") {
    const std::string user_id = args.Positional();
    std::string key_id, recipient;
    if (!args.Value("--key", &key_id) || !args.Value("--recipient", &recipient)) return Usage(args.error());
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    if (user_id.empty() || key_id.empty() || recipient.empty()) {
      return Usage("bridge bind needs USER_ID --key KEY_ID --recipient ADDRESS");
    }
    fedrelay::v1::BindBridgeRequest request;
    request.set_user_id(user_id);
    request.set_key_id(key_id);
    request.set_recipient(recipient);
    fedrelay::v1::AdminBridgeBinding response;
    if (auto status = admin.BindBridge(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(response);
    std::cout << "bound " << response.user_id() << " to key " << response.key_id() << " recipient "
              << response.recipient() << "\n";
    return 0;
  }
  if (verb == "list") {
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::ListBridgeResponse response;
    if (auto status = admin.ListBridge(&context, {}, &response); !status.ok()) return FailRpc(status, socket);
    if (g_json) return PrintJson(response);
    if (response.bindings().empty()) std::cout << "no bridge bindings\n";
    for (const auto& b : response.bindings()) {
      std::cout << "binding " << b.user_id() << "  key=" << b.key_id() << "  recipient=" << b.recipient()
                << "  created_at=" << b.created_at() << "\n";
    }
    for (const auto& n : response.notifications()) {
      std::cout << "notification " << n.token() << "  " << n.kind() << "  state=" << n.state()
                << "  event=" << n.event_id() << "  user=" << n.user_id() << "  key=" << n.key_id()
                << "  attempts=" << n.attempts() << (n.last_code().empty() ? "" : "  last_code=")
                << n.last_code() << (n.read() ? "  read" : "") << "\n";
    }
    return 0;
  }
  if (verb == "unbind") {
    const std::string user_id = args.Positional();
    if (user_id.empty()) return Usage("bridge unbind needs USER_ID");
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::UnbindBridgeRequest request;
    request.set_user_id(user_id);
    fedrelay::v1::UnbindBridgeResponse response;
    if (auto status = admin.UnbindBridge(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(nlohmann::json{{"unbound", user_id}});
    std::cout << "unbound " << user_id << "\n";
    return 0;
  }
  if (verb == "conversations") {
    const bool stored = args.Flag("--stored");
    const std::string key_id = args.Positional();
    if (key_id.empty()) return Usage("bridge conversations needs KEY_ID");
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::BridgeConversationsRequest request;
    request.set_key_id(key_id);
    request.set_refresh(!stored);
    fedrelay::v1::BridgeConversationsResponse response;
    if (auto status = admin.BridgeConversations(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(response);
    if (!response.found()) {
      std::cout << "no conversations report from key " << key_id << " yet\n";
      return 0;
    }
    std::cout << "received_at:   " << response.received_at() << "\n"
              << "token:         " << response.token() << "\n"
              << "conversations: " << response.conversations() << "\n";
    return 0;
  }
  return Usage(verb.empty() ? "bridge needs bind, list, unbind or conversations"
                            : "unknown bridge command '" + verb + "'");
}

void PrintTicketLine(const fedrelay::v1::AdminTicket& ticket) {
  if (g_json) {
    PrintJson(ticket);
    return;
  }
  std::cout << ticket.ticket_id() << "  " << (ticket.closed() ? "closed" : "open  ") << "  "
            << ticket.category() << "  user=" << ticket.user_id() << "  created_at="
            << ticket.created_at();
  if (!ticket.event_id().empty()) std::cout << "  event=" << ticket.event_id();
  if (!ticket.guild_id().empty()) std::cout << "  guild=" << ticket.guild_id();
  std::cout << "\n";
}

void PrintTicket(const fedrelay::v1::AdminTicket& ticket) {
  if (g_json) {
    PrintJson(ticket);
    return;
  }
  std::cout << "ticket id:  " << ticket.ticket_id() << "\n"
            << "status:     " << (ticket.closed() ? "closed" : "open") << "\n"
            << "category:   " << ticket.category() << "\n"
            << "user:       " << ticket.user_id() << "\n"
            << "device:     " << ticket.device_id() << "\n"
            << "created_at: " << ticket.created_at() << "\n";
  if (!ticket.event_id().empty()) std::cout << "event:      " << ticket.event_id() << "\n";
  if (!ticket.guild_id().empty()) std::cout << "guild:      " << ticket.guild_id() << "\n";
  if (ticket.closed()) {
    std::cout << "closed_at:  " << ticket.closed_at() << "\n"
              << "note:       " << ticket.resolution() << "\n";
  }
  std::cout << "summary:    " << ticket.summary() << "\n";
}

int Ticket(Args& args, fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  const std::string verb = args.Positional();
  grpc::ClientContext context;
  Bound(context);
  if (verb == "list") {
    const bool all = args.Flag("--all");
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::ListTicketsRequest request;
    request.set_include_closed(all);
    fedrelay::v1::ListTicketsResponse response;
    if (auto status = admin.ListTickets(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(response);
    if (response.tickets().empty()) std::cout << (all ? "no tickets\n" : "no open tickets\n");
    for (const auto& ticket : response.tickets()) PrintTicketLine(ticket);
    return 0;
  }
  if (verb == "show" || verb == "close") {
    const std::string ticket_id = args.Positional();
    if (ticket_id.empty()) return Usage("ticket " + verb + " needs TICKET_ID");
    std::string note;
    if (verb == "close" && !args.Value("--note", &note)) return Usage(args.error());
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::AdminTicket response;
    grpc::Status status;
    if (verb == "show") {
      fedrelay::v1::GetTicketRequest request;
      request.set_ticket_id(ticket_id);
      status = admin.GetTicket(&context, request, &response);
    } else {
      fedrelay::v1::CloseTicketRequest request;
      request.set_ticket_id(ticket_id);
      request.set_resolution(note);
      status = admin.CloseTicket(&context, request, &response);
    }
    if (!status.ok()) return FailRpc(status, socket);
    PrintTicket(response);
    return 0;
  }
  return Usage(verb.empty() ? "ticket needs list, show or close" : "unknown ticket command '" + verb + "'");
}

int Access(Args& args, fedrelay::v1::Admin::Stub& admin, const std::string& socket) {
  const std::string verb = args.Positional();
  grpc::ClientContext context;
  Bound(context);
  if (verb == "list") {
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    fedrelay::v1::ListAccessRequestsResponse response;
    if (auto status = admin.ListAccessRequests(&context, {}, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(response);
    if (response.requests().empty()) std::cout << "no pending access requests\n";
    for (const auto& request : response.requests()) {
      std::cout << request.request_id() << "  client_id=" << request.client_id() << "  scopes=[";
      for (int i = 0; i < request.scopes_size(); ++i) std::cout << (i ? "," : "") << request.scopes(i);
      std::cout << "]  from=" << request.remote_address() << "  age=" << request.age_ms() / 1000
                << "s  display_name (unverified)=\"" << request.display_name() << "\"\n";
    }
    return 0;
  }
  if (verb == "approve" || verb == "deny") {
    const std::string request_id = args.Positional();
    if (request_id.empty()) return Usage("access " + verb + " needs REQUEST_ID");
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    if (verb == "approve") {
      fedrelay::v1::ApproveAccessRequestRequest request;
      request.set_request_id(request_id);
      fedrelay::v1::AdminApiKey response;
      if (auto status = admin.ApproveAccessRequest(&context, request, &response); !status.ok()) {
        return FailRpc(status, socket);
      }
      if (!g_json) std::cout << "approved " << request_id << ": the integration received its key\n";
      PrintApiKey(response);
      return 0;
    }
    fedrelay::v1::DenyAccessRequestRequest request;
    request.set_request_id(request_id);
    fedrelay::v1::DenyAccessRequestResponse response;
    if (auto status = admin.DenyAccessRequest(&context, request, &response); !status.ok()) {
      return FailRpc(status, socket);
    }
    if (g_json) return PrintJson(nlohmann::json{{"denied", request_id}});
    std::cout << "denied " << request_id << "\n";
    return 0;
  }
  return Usage(verb.empty() ? "access needs list, approve or deny" : "unknown access command '" + verb + "'");
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (args.Flag("--help") || args.Flag("-h") || argc == 1) {
    std::string usage = kUsage;
    usage.replace(usage.find("%VIEWS%"), 7, fedrelay::ctl::kViewsUsage);
    std::cout << usage;
    return argc == 1 ? 2 : 0;
  }
  if (!fedrelay::InitCrypto().ok()) return Fail("libsodium failed to initialize");
  g_json = args.Flag("--json");
  std::string config_path, data_dir = "var/data", socket;
  if (!args.Value("--config", &config_path) || !args.Value("--data-dir", &data_dir) ||
      !args.Value("--socket", &socket) || !args.Number("--timeout-ms", &fedrelay::ctl::g_timeout_ms)) {
    return Usage(args.error());
  }
  if (fedrelay::ctl::g_timeout_ms == 0) return Usage("--timeout-ms must be at least 1");
  if (args.Command("demo-keys")) return DemoKeys(args);
  if (args.Command("keygen")) return Keygen(args);
  if (args.Command("vkey")) return Vkey(args);

  if (!config_path.empty()) {
    auto config = fedrelay::config::LoadConfigFile(config_path);
    if (!config.ok()) return Fail(std::string(config.status().message()));
    data_dir = config->data_dir;
  }
  if (socket.empty()) socket = fedrelay::relay::AdminSocketPath(data_dir);
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  auto admin = fedrelay::v1::Admin::NewStub(channel);
  // Commands without arguments refuse extra ones, like every other command.
  if (args.Command("status")) {
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    return Status(*admin, socket);
  }
  if (args.Command("peer")) return Peer(args, *admin, socket);
  if (args.Command("equivocations")) {
    if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
    return Equivocations(*admin, socket);
  }
  if (args.Command("apikey")) return ApiKey(args, *admin, socket);
  if (args.Command("bridge")) return Bridge(args, *admin, socket);
  if (args.Command("ticket")) return Ticket(args, *admin, socket);
  if (args.Command("access")) return Access(args, *admin, socket);
  if (int exit_code = 0; fedrelay::ctl::RunView(args, channel, socket, &exit_code)) return exit_code;
  return Usage(args.Leftover().empty() ? "missing command" : "unknown command '" + args.Leftover() + "'");
}
