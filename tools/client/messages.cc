// fedrelay-client's message commands (messages.h).
#include "tools/client/messages.h"

#include <grpcpp/grpcpp.h>
#include <google/protobuf/util/json_util.h>

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
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/flags.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "tools/client/cli.h"
#include "tools/client/json_output.h"

namespace fedrelay::client::cli {
namespace {

// The flags of a server-signed message (federate, ban): --server-id ID
// --server-key FILE --user K_id --guild G, and --timestamp.
struct ServerSignedFlags {
  std::string server_id, key_path, user, guild;
  uint64_t timestamp = 0;
};

// False (args.error() says why) when a flag is malformed.
bool ReadServerSignedFlags(Args& args, ServerSignedFlags* flags) {
  return args.Value("--server-id", &flags->server_id) && args.Value("--server-key", &flags->key_path) &&
         args.Value("--user", &flags->user) && args.Value("--guild", &flags->guild);
}

// Once every flag of the command was read: nothing else on the command line,
// and the shared flags given. 0, or the exit status.
int CheckServerSignedFlags(Args& args, const ServerSignedFlags& flags) {
  if (int rc = CheckNoLeftover(args); rc != 0) return rc;
  if (int rc = Require(flags.server_id, "--server-id", "ID"); rc != 0) return rc;
  if (int rc = RequirePubkey(flags.user, "--user"); rc != 0) return rc;
  return Require(flags.guild, "--guild", "G");
}

}  // namespace

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
  ServerSignedFlags flags;
  std::string display_name;
  if (!ReadServerSignedFlags(args, &flags) || !args.Value("--display-name", &display_name)) {
    return Usage(args.error());
  }
  if (int rc = ReadTimestamp(args, &flags.timestamp); rc != 0) return rc;
  if (int rc = CheckServerSignedFlags(args, flags); rc != 0) return rc;
  if (int rc = Require(display_name, "--display-name", "NAME"); rc != 0) return rc;
  std::optional<Ed25519PrivateKey> server_key;
  if (int rc = LoadKey(flags.key_path, "--server-key", &server_key); rc != 0) return rc;

  v1::FederationRequest request;
  request.set_origin_server_id(flags.server_id);
  request.set_origin_server_pubkey(server_key->PublicKeyHex());
  request.set_user_pubkey(flags.user);
  request.set_user_display_name(display_name);
  request.set_guild_id(flags.guild);
  request.set_timestamp(flags.timestamp);
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
  ServerSignedFlags flags;
  std::string reason, evidence_file, evidence_hash;
  if (!ReadServerSignedFlags(args, &flags) || !args.Value("--reason", &reason) ||
      !args.Value("--evidence-file", &evidence_file) || !args.Value("--evidence-hash", &evidence_hash)) {
    return Usage(args.error());
  }
  if (int rc = ReadTimestamp(args, &flags.timestamp); rc != 0) return rc;
  if (int rc = CheckServerSignedFlags(args, flags); rc != 0) return rc;
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
  if (int rc = LoadKey(flags.key_path, "--server-key", &server_key); rc != 0) return rc;

  v1::BanNotification ban;
  ban.set_origin_server_id(flags.server_id);
  ban.set_banned_user_pubkey(flags.user);
  ban.set_guild_id(flags.guild);
  ban.set_reason(reason);
  ban.set_evidence_hash(evidence_hash);
  ban.set_timestamp(flags.timestamp);
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

}  // namespace fedrelay::client::cli
