// fedrelay-client: builds, signs and sends each message kind of SPEC section 4
// by hand, from command-line arguments and key files, and checks the relay's
// signed receipt. See `fedrelay-client --help`.
#include <grpcpp/grpcpp.h>
#include <google/protobuf/util/json_util.h>
#include <sodium.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/flags.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "tools/client/bridge.h"
#include "tools/client/member.h"
#include "tools/client/integrate.h"
#include "tools/client/json_output.h"

namespace {

using fedrelay::Args;
using fedrelay::Ed25519PrivateKey;
namespace v1 = fedrelay::v1;
namespace federation = fedrelay::federation;
namespace client = fedrelay::client;

constexpr int kExitAccepted = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

// Device certs start this far in the past, so a relay whose clock is a little
// behind ours does not see a cert that is not yet valid.
constexpr uint64_t kCertBackdateMs = 60'000;

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

constexpr char kPingHelp[] = R"(Usage: fedrelay-client [--relay HOST:PORT] ping

Sends a Ping and prints the round-trip time and the relay's clock (Unix ms)
with its offset from ours.
)";

constexpr char kInfoHelp[] = R"(Usage: fedrelay-client [--relay HOST:PORT] info

Prints GetServerInfo: server id, relay public key, log origin, C2SP verifier
key, allowed clock skew, version and rate limits.
)";

constexpr char kPubkeyHelp[] = R"(Usage: fedrelay-client pubkey --key FILE

Prints the lowercase hex Ed25519 public key of a key file (a user's K_id is
their user id). Offline.
)";

constexpr char kDeviceCertHelp[] = R"(Usage: fedrelay-client device-cert --user-key KID_FILE --device-key KDEV_FILE
           --device-id ID [--valid-for-hours 720]

Prints, as JSON, the DeviceCert the user's identity key K_id signs for a device
key K_dev: the same cert the invite, accept, reject and profile commands attach.
It is issued a minute in the past (clock skew) and expires after
--valid-for-hours. Offline.
)";

constexpr char kFederateHelp[] = R"(Usage: fedrelay-client federate --server-id ID --server-key FILE --user HEX
           --display-name NAME --guild G [--timestamp MS]

A FederationRequest from server ID (signed with its key FILE, whose public key
must be the one the relay pins for ID): user HEX (their K_id public key) joins
guild G. Prints the receipt and the User the relay derived.
)";

constexpr char kBanHelp[] = R"(Usage: fedrelay-client ban --server-id ID --server-key FILE --user HEX --guild G
           --reason R (--evidence-file F | --evidence-hash sha256:HEX) [--timestamp MS]

A BanNotification from server ID: user HEX is banned from guild G. The
evidence hash is SHA-256 of F, or given as "sha256:" + 64 lowercase hex. The
relay accepts it only from a peer allowed to ban in G (may_ban).
)";

constexpr char kInviteHelp[] = R"(Usage: fedrelay-client invite --inviter-key KID_FILE --device-key KDEV_FILE
           --device-id ID --target HEX --guild G --guild-name N --host URL
           [--invite-id UUID] [--token T] [--timestamp MS] [--valid-for-hours 720]

A DMInvite from the user of KID_FILE (inviter_id = inviter_pubkey = their K_id)
to user HEX, signed by their device key with a fresh device cert. The invite id
defaults to a random UUID v4 and the token to 32 random bytes in hex; the
invite id is printed, the token is not (the target receives it on accept).
)";

constexpr char kDecisionHelp[] = R"(Usage: fedrelay-client accept|reject --user-key KID_FILE --device-key KDEV_FILE
           --device-id ID --invite-id UUID [--timestamp MS] [--valid-for-hours 720]

The invite target's decision on invite UUID, signed by their device key with a
fresh device cert from KID_FILE (which must be the invite's target). accept
prints the invite's token, host server URL and guild.
)";

constexpr char kMigrateHelp[] = R"(Usage: fedrelay-client migrate --user-key KID_FILE --to URL [--timestamp MS]

An UpdateHomeServerRequest: the user of KID_FILE moves to homeserver URL,
signed with their identity key. Timestamps must increase per user.
)";

constexpr char kProfileHelp[] = R"(Usage: fedrelay-client profile --user-key KID_FILE --device-key KDEV_FILE
           --device-id ID [--display-name N] [--avatar-url U] [--bio B]
           [--timestamp MS] [--valid-for-hours 720]

An UpdateFederatedProfileRequest for the user of KID_FILE, signed by their
device key with a fresh device cert. The update replaces all three fields
(an omitted field is published empty). Timestamps must increase per user.
)";

struct Global {
  std::string relay = "127.0.0.1:7443";
  uint64_t timeout_ms = 10000;
  std::string relay_pubkey_hex;  // pinned by --relay-pubkey; else from GetServerInfo
};

int Usage(const std::string& message) {
  std::cerr << "fedrelay-client: " << message << "\n(see fedrelay-client --help)\n";
  return kExitUsage;
}

int Fail(const std::string& message) {
  std::cerr << "fedrelay-client: " << message << "\n";
  return kExitRefused;
}

uint64_t NowMs() { return fedrelay::SystemClock().NowMs(); }

std::string FormatMs(uint64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(static_cast<int64_t>(ms)),
                          absl::UTCTimeZone());
}

// Reports a failed call: a typed refusal as "refused: <machine code>: <text>";
// no connection or a missed deadline as unreachable; anything else verbatim.
int FailRpc(const grpc::Status& status, const grpc::ClientContext& context, const Global& global) {
  const absl::Status as_absl(static_cast<absl::StatusCode>(status.error_code()),
                             status.error_message());
  const std::string code = fedrelay::MachineCode(as_absl);
  const bool typed = absl::StartsWith(status.error_message(), absl::StrCat(code, ":"));
  if (!typed) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return Fail(absl::StrCat("cannot reach the relay at ", global.relay, ": ",
                               status.error_message()));
    }
    return Fail(absl::StrCat("the call failed (gRPC code ", status.error_code(),
                             "): ", status.error_message()));
  }
  std::cerr << "refused: " << code << ": " << fedrelay::HumanMessage(as_absl) << "\n";
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find("retry-after-ms"); it != trailers.end()) {
    std::cerr << "retry after: " << std::string(it->second.data(), it->second.size()) << " ms\n";
  }
  return kExitRefused;
}

// The options every command reads through Args; Leftover() names the rest.
int CheckNoLeftover(const Args& args) {
  if (!args.error().empty()) return Usage(args.error());
  if (!args.Leftover().empty()) return Usage("unexpected argument '" + args.Leftover() + "'");
  return kExitAccepted;
}

// Reads the key file named by option `flag` into *key; a usage error if the
// option is missing or the file is unusable.
int LoadKey(const std::string& path, const std::string& flag,
            std::optional<Ed25519PrivateKey>* key) {
  if (path.empty()) return Usage("missing " + flag + " FILE");
  auto loaded = fedrelay::ReadKeyFile(path);
  if (!loaded.ok()) return Usage(absl::StrCat(flag, " ", path, ": ", loaded.status().message()));
  key->emplace(*std::move(loaded));
  return kExitAccepted;
}

int Require(const std::string& value, const std::string& flag, const std::string& what) {
  if (value.empty()) return Usage("missing " + flag + " " + what);
  return kExitAccepted;
}

int RequirePubkey(const std::string& hex, const std::string& flag) {
  if (hex.empty()) return Usage("missing " + flag + " HEX");
  if (auto parsed = federation::ParsePublicKeyHex(hex, flag); !parsed.ok()) {
    return Usage(std::string(parsed.status().message()));
  }
  return kExitAccepted;
}

std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  randombytes_buf(bytes.data(), bytes.size());
  return bytes;
}

std::string RandomUuidV4() {
  std::string bytes = RandomBytes(16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = fedrelay::HexEncode(bytes);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

// The parts of a message signed by a user's device: K_id, K_dev and the cert.
struct DeviceSigner {
  std::optional<Ed25519PrivateKey> identity_key;
  std::optional<Ed25519PrivateKey> device_key;
  v1::DeviceCert cert;
};

// Reads --device-key, --device-id and --valid-for-hours, with K_id from
// `identity_flag`, and signs a cert valid from a minute ago.
int ReadDeviceSigner(Args& args, const std::string& identity_flag, DeviceSigner* signer) {
  std::string identity_path, device_path, device_id;
  uint64_t valid_for_hours = 720;
  if (!args.Value(identity_flag, &identity_path) || !args.Value("--device-key", &device_path) ||
      !args.Value("--device-id", &device_id) || !args.Number("--valid-for-hours", &valid_for_hours)) {
    return Usage(args.error());
  }
  if (int rc = LoadKey(identity_path, identity_flag, &signer->identity_key); rc != 0) return rc;
  if (int rc = LoadKey(device_path, "--device-key", &signer->device_key); rc != 0) return rc;
  if (int rc = Require(device_id, "--device-id", "ID"); rc != 0) return rc;
  if (valid_for_hours == 0) return Usage("--valid-for-hours must be at least 1");
  const uint64_t now = NowMs();
  signer->cert.set_pubkey(signer->device_key->PublicKeyHex());
  signer->cert.set_device_id(device_id);
  signer->cert.set_issued_at(now - kCertBackdateMs);
  signer->cert.set_expiry(now + valid_for_hours * 3600 * 1000);
  federation::SignDeviceCert(&signer->cert, *signer->identity_key);
  return kExitAccepted;
}

int ReadTimestamp(Args& args, uint64_t* timestamp) {
  *timestamp = 0;
  if (!args.Number("--timestamp", timestamp)) return Usage(args.error());
  if (*timestamp == 0) *timestamp = NowMs();
  return kExitAccepted;
}

// ---------------------------------------------------------------------------
// Talking to the relay.

class Relay {
 public:
  explicit Relay(const Global& global)
      : global_(global),
        stub_(v1::FederationRelay::NewStub(
            grpc::CreateChannel(global.relay, grpc::InsecureChannelCredentials()))) {}

  v1::FederationRelay::Stub& stub() { return *stub_; }
  const Global& global() const { return global_; }

  std::unique_ptr<grpc::ClientContext> NewContext() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(global_.timeout_ms));
    return context;
  }

  // The relay key receipts must verify under: --relay-pubkey, else the key
  // the relay announces (fetched before sending, so an unreachable relay is
  // reported before anything is sent).
  int LoadRelayKey() {
    std::string hex = global_.relay_pubkey_hex;
    if (hex.empty()) {
      auto context = NewContext();
      v1::ServerInfoResponse info;
      if (auto status = stub_->GetServerInfo(context.get(), {}, &info); !status.ok()) {
        return FailRpc(status, *context, global_);
      }
      hex = info.relay_pubkey();
    }
    auto key = federation::ParsePublicKeyHex(hex, "relay public key");
    if (!key.ok()) return Fail(std::string(key.status().message()));
    relay_key_hex_ = hex;
    relay_key_ = *std::move(key);
    return kExitAccepted;
  }

  // Is the receipt signed by the relay key?
  absl::Status VerifyReceipt(const v1::RelayReceipt& receipt) const {
    absl::Status verified =
        receipt.leaf_hash().size() != fedrelay::kSha256Bytes
            ? fedrelay::MakeError(fedrelay::ErrorCode::kMalformed, "leaf_hash is not 32 bytes")
            : federation::CheckRawSignature(receipt.signature(), "receipt signature");
    if (verified.ok()) {
      verified = federation::VerifyOrReject(relay_key_, federation::ReceiptSigningBytes(receipt),
                                            receipt.signature(), "receipt signature");
    }
    return verified;
  }

  // Prints the receipt; a receipt that does not verify is an error.
  int ReportReceipt(const v1::RelayReceipt& receipt) const {
    std::cout << "accepted\n"
              << "event_id:  " << receipt.event_id() << "\n"
              << "leaf_hash: " << fedrelay::HexEncode(receipt.leaf_hash()) << "\n"
              << "timestamp: " << receipt.timestamp() << " (" << FormatMs(receipt.timestamp())
              << ")\n";
    const absl::Status verified = VerifyReceipt(receipt);
    if (!verified.ok()) {
      std::cout << "receipt:   DOES NOT VERIFY under relay key " << relay_key_hex_ << "\n";
      return Fail(absl::StrCat("the relay's receipt does not verify: ", verified.message()));
    }
    std::cout << "receipt:   signature verified under relay key " << relay_key_hex_ << "\n";
    return kExitAccepted;
  }

  // Sends `request` with `call`, then reports the receipt `receipt_of` finds in
  // the response and anything `print` adds.
  template <typename Request, typename Response>
  int Send(const Request& request,
           grpc::Status (v1::FederationRelay::Stub::*call)(grpc::ClientContext*, const Request&,
                                                            Response*),
           const std::function<const v1::RelayReceipt&(const Response&)>& receipt_of,
           const std::function<void(const Response&)>& print = nullptr) {
    if (int rc = LoadRelayKey(); rc != 0) return rc;
    auto context = NewContext();
    Response response;
    if (auto status = (stub_.get()->*call)(context.get(), request, &response); !status.ok()) {
      return FailRpc(status, *context, global_);
    }
    if (client::g_json) return ReportJson(request, response, receipt_of(response));
    if (int rc = ReportReceipt(receipt_of(response)); rc != 0) return rc;
    if (print) print(response);
    return kExitAccepted;
  }

 private:
  // --json: the whole outcome as one line (tools/client/json_output.h).
  template <typename Request, typename Response>
  int ReportJson(const Request& request, const Response& response,
                 const v1::RelayReceipt& receipt) const {
    const absl::Status verified = VerifyReceipt(receipt);
    nlohmann::json out = {{"accepted", true},
                          {"verified", verified.ok()},
                          {"relay_pubkey", relay_key_hex_},
                          {"receipt", client::ReceiptToJson(receipt)}};
    Request sent = request;
    // An invite's token is a secret for its target: never printed.
    if constexpr (requires { sent.mutable_invite()->clear_token(); }) sent.mutable_invite()->clear_token();
    out["request"] = client::ProtoToJson(sent);
    if constexpr (!std::is_same_v<Response, v1::RelayReceipt>) out["response"] = client::ProtoToJson(response);
    client::PrintJsonLine(out);
    if (!verified.ok()) return Fail(absl::StrCat("the relay's receipt does not verify: ", verified.message()));
    return kExitAccepted;
  }

  const Global global_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
  std::string relay_key_;
  std::string relay_key_hex_;
};

const v1::RelayReceipt& ItIsTheReceipt(const v1::RelayReceipt& receipt) { return receipt; }

// ---------------------------------------------------------------------------
// Commands.

int Ping(Args& args, Relay& relay) {
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  auto context = relay.NewContext();
  v1::PingRequest request;
  request.set_timestamp(NowMs());
  v1::PongResponse pong;
  const auto start = absl::Now();
  if (auto status = relay.stub().Ping(context.get(), request, &pong); !status.ok()) {
    return FailRpc(status, *context, relay.global());
  }
  const absl::Duration rtt = absl::Now() - start;
  const int64_t offset = static_cast<int64_t>(pong.timestamp()) - static_cast<int64_t>(NowMs());
  if (client::g_json) {
    client::PrintJsonLine({{"relay", relay.global().relay},
                           {"rtt_ms", absl::ToDoubleMilliseconds(rtt)},
                           {"relay_time", pong.timestamp()},
                           {"offset_ms", offset}});
    return kExitAccepted;
  }
  std::cout << "pong from " << relay.global().relay << " in " << absl::FormatDuration(rtt) << "\n"
            << "relay time: " << pong.timestamp() << " (" << FormatMs(pong.timestamp())
            << "), offset from ours about " << offset << " ms\n";
  return kExitAccepted;
}

int Info(Args& args, Relay& relay) {
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  auto context = relay.NewContext();
  v1::ServerInfoResponse info;
  if (auto status = relay.stub().GetServerInfo(context.get(), {}, &info); !status.ok()) {
    return FailRpc(status, *context, relay.global());
  }
  if (client::g_json) {
    client::PrintJsonLine(client::ProtoToJson(info));
    return kExitAccepted;
  }
  const v1::ServerSettings& s = info.settings();
  std::cout << "server id:         " << info.server_id() << "\n"
            << "canonical address: " << info.canonical_address() << "\n"
            << "relay key:         " << info.relay_pubkey() << "\n"
            << "log origin:        " << info.log_origin() << "\n"
            << "verifier key:      " << info.verifier_key() << "\n"
            << "max clock skew:    " << info.max_clock_skew_ms() << " ms\n"
            << "version:           " << info.version() << "\n"
            << "rate limits:       message " << s.message_rate_limit() << ", invite "
            << s.invite_rate_limit() << ", ping " << s.ping_rate_limit() << ", discovery "
            << s.discovery_rate_limit() << ", register " << s.register_rate_limit() << ", login "
            << s.login_rate_limit() << ", sync mailbox " << s.sync_mailbox_rate_limit() << "\n"
            << "max upload size:   " << s.max_upload_size() << " bytes\n"
            << "max message:       " << s.max_message_length() << " bytes\n";
  return kExitAccepted;
}

int Pubkey(Args& args) {
  std::string path;
  if (!args.Value("--key", &path)) return Usage(args.error());
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  std::optional<Ed25519PrivateKey> key;
  if (int rc = LoadKey(path, "--key", &key); rc != 0) return rc;
  if (client::g_json) {
    client::PrintJsonLine({{"public_key", key->PublicKeyHex()}});
    return kExitAccepted;
  }
  std::cout << key->PublicKeyHex() << "\n";
  return kExitAccepted;
}

int DeviceCert(Args& args) {
  DeviceSigner signer;
  if (int rc = ReadDeviceSigner(args, "--user-key", &signer); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !client::g_json;  // --json: one line
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (auto status = google::protobuf::util::MessageToJsonString(signer.cert, &json, options);
      !status.ok()) {
    return Fail(status.ToString());
  }
  std::cout << json;
  std::cerr << "signed by K_id " << signer.identity_key->PublicKeyHex() << ", valid "
            << FormatMs(signer.cert.issued_at()) << " .. " << FormatMs(signer.cert.expiry())
            << "\n";
  return kExitAccepted;
}

int Federate(Args& args, Relay& relay) {
  std::string server_id, key_path, user, display_name, guild;
  if (!args.Value("--server-id", &server_id) || !args.Value("--server-key", &key_path) ||
      !args.Value("--user", &user) || !args.Value("--display-name", &display_name) ||
      !args.Value("--guild", &guild)) {
    return Usage(args.error());
  }
  uint64_t timestamp = 0;
  if (int rc = ReadTimestamp(args, &timestamp); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  if (int rc = Require(server_id, "--server-id", "ID"); rc != 0) return rc;
  if (int rc = RequirePubkey(user, "--user"); rc != 0) return rc;
  if (int rc = Require(display_name, "--display-name", "NAME"); rc != 0) return rc;
  if (int rc = Require(guild, "--guild", "G"); rc != 0) return rc;
  std::optional<Ed25519PrivateKey> server_key;
  if (int rc = LoadKey(key_path, "--server-key", &server_key); rc != 0) return rc;

  v1::FederationRequest request;
  request.set_origin_server_id(server_id);
  request.set_origin_server_pubkey(server_key->PublicKeyHex());
  request.set_user_pubkey(user);
  request.set_user_display_name(display_name);
  request.set_guild_id(guild);
  request.set_timestamp(timestamp);
  federation::SignFederationRequest(&request, *server_key);
  return relay.Send<v1::FederationRequest, v1::FederationResponse>(
      request, &v1::FederationRelay::Stub::Federate,
      [](const v1::FederationResponse& response) -> const v1::RelayReceipt& {
        return response.receipt();
      },
      [](const v1::FederationResponse& response) {
        std::cout << "message:   " << response.message() << "\n";
        if (response.has_user()) {
          std::cout << "user:      " << response.user().id() << " (" << response.user().name()
                    << ", homeserver " << response.user().homeserver() << ")\n";
        }
      });
}

int Ban(Args& args, Relay& relay) {
  std::string server_id, key_path, user, guild, reason, evidence_file, evidence_hash;
  if (!args.Value("--server-id", &server_id) || !args.Value("--server-key", &key_path) ||
      !args.Value("--user", &user) || !args.Value("--guild", &guild) ||
      !args.Value("--reason", &reason) || !args.Value("--evidence-file", &evidence_file) ||
      !args.Value("--evidence-hash", &evidence_hash)) {
    return Usage(args.error());
  }
  uint64_t timestamp = 0;
  if (int rc = ReadTimestamp(args, &timestamp); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  if (int rc = Require(server_id, "--server-id", "ID"); rc != 0) return rc;
  if (int rc = RequirePubkey(user, "--user"); rc != 0) return rc;
  if (int rc = Require(guild, "--guild", "G"); rc != 0) return rc;
  if (int rc = Require(reason, "--reason", "R"); rc != 0) return rc;
  if (evidence_file.empty() == evidence_hash.empty()) {
    return Usage("ban needs exactly one of --evidence-file F and --evidence-hash sha256:HEX");
  }
  if (!evidence_file.empty()) {
    std::ifstream in(evidence_file, std::ios::binary);
    if (!in) return Usage("cannot read --evidence-file " + evidence_file);
    std::stringstream contents;
    contents << in.rdbuf();
    evidence_hash = "sha256:" + fedrelay::HexEncode(fedrelay::Sha256(contents.str()));
  } else if (auto parsed = federation::ParseEvidenceHash(evidence_hash); !parsed.ok()) {
    return Usage(std::string(parsed.status().message()));
  }
  std::optional<Ed25519PrivateKey> server_key;
  if (int rc = LoadKey(key_path, "--server-key", &server_key); rc != 0) return rc;

  v1::BanNotification ban;
  ban.set_origin_server_id(server_id);
  ban.set_banned_user_pubkey(user);
  ban.set_guild_id(guild);
  ban.set_reason(reason);
  ban.set_evidence_hash(evidence_hash);
  ban.set_timestamp(timestamp);
  federation::SignBanNotification(&ban, *server_key);
  return relay.Send<v1::BanNotification, v1::RelayReceipt>(
      ban, &v1::FederationRelay::Stub::PropagateBan, ItIsTheReceipt,
      [&](const v1::RelayReceipt&) { std::cout << "evidence:  " << evidence_hash << "\n"; });
}

int Invite(Args& args, Relay& relay) {
  std::string target, guild, guild_name, host, invite_id, token;
  if (!args.Value("--target", &target) || !args.Value("--guild", &guild) ||
      !args.Value("--guild-name", &guild_name) || !args.Value("--host", &host) ||
      !args.Value("--invite-id", &invite_id) || !args.Value("--token", &token)) {
    return Usage(args.error());
  }
  uint64_t timestamp = 0;
  if (int rc = ReadTimestamp(args, &timestamp); rc != 0) return rc;
  DeviceSigner signer;
  if (int rc = ReadDeviceSigner(args, "--inviter-key", &signer); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  if (int rc = RequirePubkey(target, "--target"); rc != 0) return rc;
  if (int rc = Require(guild, "--guild", "G"); rc != 0) return rc;
  if (int rc = Require(host, "--host", "URL"); rc != 0) return rc;
  if (invite_id.empty()) invite_id = RandomUuidV4();
  if (token.empty()) token = fedrelay::HexEncode(RandomBytes(32));

  v1::DMInvite invite;
  invite.set_token(token);
  invite.set_invite_id(invite_id);
  invite.set_inviter_id(signer.identity_key->PublicKeyHex());
  invite.set_inviter_pubkey(signer.identity_key->PublicKeyHex());
  invite.set_guild_id(guild);
  invite.set_guild_name(guild_name);
  invite.set_host_server_url(host);
  invite.set_timestamp(timestamp);
  invite.set_status("pending");
  invite.set_target_user_id(target);
  *invite.mutable_device_cert() = signer.cert;
  federation::SignDMInvite(&invite, *signer.device_key);
  v1::ReceiveDMInviteRequest request;
  *request.mutable_invite() = std::move(invite);
  return relay.Send<v1::ReceiveDMInviteRequest, v1::RelayReceipt>(
      request, &v1::FederationRelay::Stub::ReceiveDMInvite, ItIsTheReceipt,
      [&](const v1::RelayReceipt&) { std::cout << "invite_id: " << invite_id << "\n"; });
}

int Decide(Args& args, Relay& relay, bool accept) {
  std::string invite_id;
  if (!args.Value("--invite-id", &invite_id)) return Usage(args.error());
  uint64_t timestamp = 0;
  if (int rc = ReadTimestamp(args, &timestamp); rc != 0) return rc;
  DeviceSigner signer;
  if (int rc = ReadDeviceSigner(args, "--user-key", &signer); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  if (int rc = Require(invite_id, "--invite-id", "UUID"); rc != 0) return rc;

  if (accept) {
    v1::AcceptDMInviteRequest request;
    request.set_invite_id(invite_id);
    request.set_timestamp(timestamp);
    *request.mutable_device_cert() = signer.cert;
    federation::SignDMDecision(&request, *signer.device_key);
    return relay.Send<v1::AcceptDMInviteRequest, v1::AcceptDMInviteResponse>(
        request, &v1::FederationRelay::Stub::AcceptDMInvite,
        [](const v1::AcceptDMInviteResponse& response) -> const v1::RelayReceipt& {
          return response.receipt();
        },
        [](const v1::AcceptDMInviteResponse& response) {
          std::cout << "guild:     " << response.guild_id() << "\n"
                    << "host:      " << response.host_server_url() << "\n"
                    << "token:     " << response.token() << "\n";
        });
  }
  v1::RejectDMInviteRequest request;
  request.set_invite_id(invite_id);
  request.set_timestamp(timestamp);
  *request.mutable_device_cert() = signer.cert;
  federation::SignDMDecision(&request, *signer.device_key);
  return relay.Send<v1::RejectDMInviteRequest, v1::RelayReceipt>(
      request, &v1::FederationRelay::Stub::RejectDMInvite, ItIsTheReceipt);
}

int Migrate(Args& args, Relay& relay) {
  std::string key_path, to;
  if (!args.Value("--user-key", &key_path) || !args.Value("--to", &to)) return Usage(args.error());
  uint64_t timestamp = 0;
  if (int rc = ReadTimestamp(args, &timestamp); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  if (int rc = Require(to, "--to", "URL"); rc != 0) return rc;
  std::optional<Ed25519PrivateKey> identity_key;
  if (int rc = LoadKey(key_path, "--user-key", &identity_key); rc != 0) return rc;

  v1::UpdateHomeServerRequest request;
  request.set_user_id(identity_key->PublicKeyHex());
  request.set_new_homeserver(to);
  request.set_timestamp(timestamp);
  federation::SignMigration(&request, *identity_key);
  return relay.Send<v1::UpdateHomeServerRequest, v1::RelayReceipt>(
      request, &v1::FederationRelay::Stub::UpdateHomeServer, ItIsTheReceipt);
}

int Profile(Args& args, Relay& relay) {
  std::string display_name, avatar_url, bio;
  if (!args.Value("--display-name", &display_name) || !args.Value("--avatar-url", &avatar_url) ||
      !args.Value("--bio", &bio)) {
    return Usage(args.error());
  }
  uint64_t timestamp = 0;
  if (int rc = ReadTimestamp(args, &timestamp); rc != 0) return rc;
  DeviceSigner signer;
  if (int rc = ReadDeviceSigner(args, "--user-key", &signer); rc != 0) return rc;
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;

  v1::UpdateFederatedProfileRequest request;
  request.set_user_id(signer.identity_key->PublicKeyHex());
  request.set_display_name(display_name);
  request.set_avatar_url(avatar_url);
  request.set_bio(bio);
  *request.mutable_device_cert() = signer.cert;
  request.set_timestamp(timestamp);
  federation::SignProfile(&request, *signer.device_key);
  return relay.Send<v1::UpdateFederatedProfileRequest, v1::RelayReceipt>(
      request, &v1::FederationRelay::Stub::UpdateFederatedProfile, ItIsTheReceipt);
}

// ---------------------------------------------------------------------------
// Downstream: Subscribe and Acknowledge.

constexpr char kSubscribeHelp[] = R"(Usage: fedrelay-client subscribe (--server-id ID --server-key FILE | --api-key-file FILE)
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

constexpr char kAckHelp[] = R"(Usage: fedrelay-client ack (--server-id ID --server-key FILE | --api-key-file FILE) EVENT_ID

Moves the subscriber's durable cursor to EVENT_ID (never backwards) and prints
the cursor the relay now holds. A later `subscribe` without --resume continues
after it.
)";


// Who a downstream call is made as: a peer's Call signature or an API key.
class Subscriber {
 public:
  int Read(Args& args) {
    std::string key_path, api_key_path;
    if (!args.Value("--server-id", &server_id_) || !args.Value("--server-key", &key_path) ||
        !args.Value("--api-key-file", &api_key_path)) {
      return Usage(args.error());
    }
    if (!api_key_path.empty()) {
      if (!server_id_.empty() || !key_path.empty()) {
        return Usage("give either --api-key-file or --server-id with --server-key, not both");
      }
      std::ifstream file(api_key_path);
      std::stringstream text;
      text << file.rdbuf();
      api_key_ = std::string(absl::StripAsciiWhitespace(text.str()));
      if (!file || api_key_.empty()) return Usage("--api-key-file " + api_key_path + ": no key in it");
      return kExitAccepted;
    }
    if (int rc = Require(server_id_, "--server-id", "ID (or --api-key-file FILE)"); rc != 0) return rc;
    return LoadKey(key_path, "--server-key", &server_key_);
  }

  // Peers sign for the relay's server id, which GetServerInfo names.
  int Prepare(Relay& relay) {
    if (!api_key_.empty()) return kExitAccepted;
    auto context = relay.NewContext();
    v1::ServerInfoResponse info;
    if (auto status = relay.stub().GetServerInfo(context.get(), {}, &info); !status.ok()) {
      return FailRpc(status, *context, relay.global());
    }
    relay_server_id_ = info.server_id();
    return kExitAccepted;
  }

  void Authenticate(grpc::ClientContext& context, absl::string_view method) const {
    if (!api_key_.empty()) {
      context.AddMetadata("authorization", "Bearer " + api_key_);
      return;
    }
    const uint64_t timestamp = NowMs();
    for (const auto& [name, value] : federation::CallSignatureMetadata(
             server_id_, relay_server_id_, method, timestamp, *server_key_)) {
      context.AddMetadata(name, value);
    }
  }

 private:
  std::string server_id_;
  std::optional<Ed25519PrivateKey> server_key_;
  std::string api_key_;
  std::string relay_server_id_;
};

// Sets *cursor to the durable cursor the relay holds afterwards.
int Acknowledge(Relay& relay, const Subscriber& subscriber, uint64_t event_id, uint64_t* cursor) {
  auto context = relay.NewContext();
  subscriber.Authenticate(*context, federation::kAcknowledgeMethod);
  v1::AcknowledgeRequest request;
  request.set_event_id(event_id);
  v1::AcknowledgeResponse response;
  if (auto status = relay.stub().Acknowledge(context.get(), request, &response); !status.ok()) {
    return FailRpc(status, *context, relay.global());
  }
  *cursor = response.event_id();
  return kExitAccepted;
}

int Subscribe(Args& args, Relay& relay) {
  Subscriber subscriber;
  if (int rc = subscriber.Read(args); rc != 0) return rc;
  v1::SubscribeRequest request;
  std::string resume;
  std::vector<std::string> guilds, kinds;
  uint64_t count = 0;
  if (!args.Value("--resume", &resume) || !args.Values("--guild", &guilds) ||
      !args.Values("--kind", &kinds) || !args.Number("--count", &count)) {
    return Usage(args.error());
  }
  const bool ack = args.Flag("--ack");
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  request.set_resume_from_event_id(resume);
  for (const std::string& guild : guilds) request.add_guild_ids(guild);
  for (const std::string& kind : kinds) request.add_kinds(kind);
  if (int rc = subscriber.Prepare(relay); rc != 0) return rc;

  grpc::ClientContext context;
  if (count > 0) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(relay.global().timeout_ms));
  }
  subscriber.Authenticate(context, federation::kSubscribeMethod);
  auto reader = relay.stub().Subscribe(&context, request);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // The relay sends its initial metadata once it has accepted the stream.
  reader->WaitForInitialMetadata();
  const auto& metadata = context.GetServerInitialMetadata();
  const auto who = metadata.find("x-fedrelay-subscriber");
  const auto after = metadata.find("x-fedrelay-start-after");
  const bool accepted = who != metadata.end() && after != metadata.end();
  if (accepted) {
    std::cerr << "subscribed as " << std::string(who->second.data(), who->second.size())
              << " after event " << std::string(after->second.data(), after->second.size()) << "\n";
  }
  v1::StreamResponse event;
  uint64_t received = 0;
  uint64_t printing = 0;  // event_id of the entry being printed; complete once a later one starts
  while ((count == 0 || received < count) && reader->Read(&event)) {
    if (ack && printing != 0 && event.event_id() != printing) {
      uint64_t cursor = 0;
      if (int rc = Acknowledge(relay, subscriber, printing, &cursor); rc != 0) return rc;
      std::cerr << "acknowledged: cursor at event " << cursor << "\n";
    }
    printing = event.event_id();
    std::string json;
    if (auto status = google::protobuf::util::MessageToJsonString(event, &json, options); !status.ok()) {
      return Fail(status.ToString());
    }
    std::cout << json << std::endl;  // a line per event, as it arrives
    ++received;
  }
  if (count > 0 && received == count) {
    context.TryCancel();
    if (ack) {
      std::cerr << "not acknowledged: event " << printing
                << " (more of its events may follow; `fedrelay-client ack " << printing
                << "` once it is processed)\n";
    }
    return kExitAccepted;
  }
  const grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && accepted) {
    return Fail(absl::StrCat("received ", received, " of ", count, " events within ",
                             relay.global().timeout_ms, " ms (--timeout-ms)"));
  }
  return FailRpc(status, context, relay.global());
}

int Ack(Args& args, Relay& relay) {
  Subscriber subscriber;
  if (int rc = subscriber.Read(args); rc != 0) return rc;
  const std::string id_text = args.Positional();
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  uint64_t event_id = 0;
  if (!absl::SimpleAtoi(id_text, &event_id)) return Usage("ack needs EVENT_ID, a whole number");
  if (int rc = subscriber.Prepare(relay); rc != 0) return rc;
  uint64_t cursor = 0;
  if (int rc = Acknowledge(relay, subscriber, event_id, &cursor); rc != 0) return rc;
  if (client::g_json) {
    client::PrintJsonLine({{"cursor", cursor}});
    return kExitAccepted;
  }
  std::cout << "cursor: " << cursor << "\n";
  return kExitAccepted;
}

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
