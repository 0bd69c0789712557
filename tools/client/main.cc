// fedrelay-client: builds, signs and sends each message kind of SPEC section 4
// by hand, from command-line arguments and key files, and checks the relay's
// signed receipt. See `fedrelay-client --help`. The commands live in
// messages.cc, subscribe.cc, bridge.cc, member.cc and integrate.cc.
#include <functional>
#include <iostream>
#include <optional>
#include <string>

#include "base/crypto.h"
#include "base/flags.h"
#include "federation/signing.h"
#include "tools/client/bridge.h"
#include "tools/client/cli.h"
#include "tools/client/integrate.h"
#include "tools/client/json_output.h"
#include "tools/client/member.h"
#include "tools/client/messages.h"
#include "tools/client/subscribe.h"

namespace {

using namespace fedrelay::client::cli;  // NOLINT: this binary's own commands
namespace client = fedrelay::client;

constexpr char kUsage[] = R"(fedrelay-client - build, sign and send fedrelay messages by hand

Usage: fedrelay-client [--relay HOST:PORT] [--timeout-ms MS] [--relay-pubkey HEX] [--json]
                       COMMAND ...

Global options:
  --relay HOST:PORT     the relay's gRPC address (default 127.0.0.1:7443)
  --timeout-ms MS       deadline of each call (default 10000)
  --relay-pubkey HEX    verify receipts under this relay key instead of the key
                        the relay announces in GetServerInfo
  --json                one JSON document per command on stdout (JSON lines for
                        subscribe, integrate and bridge) instead of the human
                        output; refusals stay text on stderr. An accepted
                        submission prints {"accepted","verified","relay_pubkey",
                        "receipt":{"event_id","leaf_hash","timestamp","signature"},
                        "request","response"}: the line fedrelay-audit --receipts reads

Talking to the relay:
  ping                  round trip and the relay's clock
  info                  GetServerInfo: server id, relay key, log origin, limits
  federate              a server's FederationRequest (a user joins a guild)
  ban                   a server's BanNotification
  invite                a user's DMInvite, signed by one of their devices
  accept | reject       the invite target's answer, signed by one of their devices
  migrate               a user's UpdateHomeServer, signed by their identity key
  profile               a user's UpdateFederatedProfile, signed by one of their devices
  subscribe             receive events as a peer homeserver or API key (JSON lines)
  ack                   move the subscriber's durable cursor (Acknowledge)
  bridge                a reference messaging bridge on /v1/bridge (docs/bridge.md)
  member                a user's own device on the member channel (HTTP): login,
                        register, events, ack, ticket
  integrate             the /v1/ws integration flow: ask the operator for access,
                        save the granted key (0600), follow events as JSON lines

Offline:
  pubkey --key FILE     print the hex public key of a key file
  device-cert           print a signed DeviceCert as JSON

`fedrelay-client COMMAND --help` describes each command. Key files are the
0600 files of `fedrelay-ctl keygen`; private keys are never printed.

Every accepted message prints the relay's receipt (event id, leaf hash,
timestamp), after checking its signature under the relay key.

Exit status: 0 accepted, 1 refused by the relay (the machine code is printed,
e.g. "refused: replayed: ..."), unreachable relay or a receipt that does not
verify, 2 usage error (including unreadable key files).
)";

struct Command {
  const char* name;
  const char* help;
  std::function<int(Args&, Relay&)> run;
};

const Command kCommands[] = {
    {"ping", kPingHelp, Ping},
    {"info", kInfoHelp, Info},
    {"pubkey", kPubkeyHelp, [](Args& args, Relay&) { return Pubkey(args); }},
    {"device-cert", kDeviceCertHelp, [](Args& args, Relay&) { return DeviceCert(args); }},
    {"federate", kFederateHelp, Federate},
    {"ban", kBanHelp, Ban},
    {"invite", kInviteHelp, Invite},
    {"accept", kDecisionHelp, [](Args& args, Relay& relay) { return Decide(args, relay, true); }},
    {"reject", kDecisionHelp, [](Args& args, Relay& relay) { return Decide(args, relay, false); }},
    {"migrate", kMigrateHelp, Migrate},
    {"profile", kProfileHelp, Profile},
    {"subscribe", kSubscribeHelp, Subscribe},
    {"ack", kAckHelp, Ack},
    {"bridge", fedrelay::client::kBridgeHelp,
     [](Args& args, Relay& relay) { return fedrelay::client::RunBridge(args, relay.global().timeout_ms); }},
    {"member", fedrelay::client::kMemberHelp,
     [](Args& args, Relay& relay) {
       return fedrelay::client::RunMember(
           args, relay.global().timeout_ms,
           [](Args& login_args, v1::DeviceCert* cert, std::optional<Ed25519PrivateKey>* identity_key,
              std::optional<Ed25519PrivateKey>* device_key) {
             DeviceSigner signer;
             if (int rc = ReadDeviceSigner(login_args, "--user-key", &signer); rc != 0) return rc;
             *cert = signer.cert;
             *identity_key = std::move(signer.identity_key);
             *device_key = std::move(signer.device_key);
             return kExitAccepted;
           });
     }},
    {"integrate", fedrelay::client::kIntegrateHelp,
     [](Args& args, Relay&) { return fedrelay::client::Integrate(args); }},
};

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  const bool help = args.Flag("--help") || args.Flag("-h");
  client::g_json = args.Flag("--json");
  Global global;
  if (!args.Value("--relay", &global.relay) || !args.Number("--timeout-ms", &global.timeout_ms) ||
      !args.Value("--relay-pubkey", &global.relay_pubkey_hex)) {
    return Usage(args.error());
  }
  const std::string name = args.Positional();
  const Command* command = nullptr;
  for (const Command& candidate : kCommands) {
    if (name == candidate.name) command = &candidate;
  }
  if (help) {
    std::cout << (command != nullptr ? command->help : kUsage);
    return kExitAccepted;
  }
  if (name.empty()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  if (command == nullptr) return Usage("unknown command '" + name + "'");
  if (global.timeout_ms == 0) return Usage("--timeout-ms must be at least 1");
  if (!global.relay_pubkey_hex.empty()) {
    if (auto key = federation::ParsePublicKeyHex(global.relay_pubkey_hex, "--relay-pubkey");
        !key.ok()) {
      return Usage(std::string(key.status().message()));
    }
  }
  if (!fedrelay::InitCrypto().ok()) return Fail("libsodium failed to initialize");
  Relay relay(global);
  return command->run(args, relay);
}
