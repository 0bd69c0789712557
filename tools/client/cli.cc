// The helpers fedrelay-client's commands share (cli.h).
#include "tools/client/cli.h"

#include <sodium.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/encoding.h"
#include "base/errors.h"

namespace fedrelay::client::cli {


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

}  // namespace fedrelay::client::cli
