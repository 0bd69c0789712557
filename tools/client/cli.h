// What fedrelay-client's commands share (tools/client/): exit statuses, the
// global options, argument helpers, the device-cert signer and the
// connection to the relay (Relay), which also verifies receipts.
#ifndef FEDRELAY_TOOLS_CLIENT_CLI_H_
#define FEDRELAY_TOOLS_CLIENT_CLI_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/flags.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "tools/client/json_output.h"

namespace fedrelay::client::cli {

using fedrelay::Args;
using fedrelay::Ed25519PrivateKey;
namespace v1 = fedrelay::v1;
namespace federation = fedrelay::federation;

constexpr int kExitAccepted = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

// Device certs start this far in the past, so a relay whose clock is a little
// behind ours does not see a cert that is not yet valid.
constexpr uint64_t kCertBackdateMs = 60'000;

struct Global {
  std::string relay = "127.0.0.1:7443";
  uint64_t timeout_ms = 10000;
  std::string relay_pubkey_hex;  // pinned by --relay-pubkey; else from GetServerInfo
};

// Print `message` and return the exit status of a usage error / a refusal.
int Usage(const std::string& message);
int Fail(const std::string& message);

uint64_t NowMs();
// RFC 3339 UTC with milliseconds.
std::string FormatMs(uint64_t ms);

// Reports a failed call: a typed refusal as "refused: <machine code>: <text>";
// no connection or a missed deadline as unreachable; anything else verbatim.
int FailRpc(const grpc::Status& status, const grpc::ClientContext& context, const Global& global);

// The options every command reads through Args; Leftover() names the rest.
int CheckNoLeftover(const Args& args);
// Reads the key file at `path` (option `flag`) into *key; a usage error if the
// option is missing or the file is unusable.
int LoadKey(const std::string& path, const std::string& flag,
            std::optional<Ed25519PrivateKey>* key);
int Require(const std::string& value, const std::string& flag, const std::string& what);
int RequirePubkey(const std::string& hex, const std::string& flag);
// --timestamp MS, or now.
int ReadTimestamp(Args& args, uint64_t* timestamp);

std::string RandomBytes(size_t n);
std::string RandomUuidV4();

// The parts of a message signed by a user's device: K_id, K_dev and the cert.
struct DeviceSigner {
  std::optional<Ed25519PrivateKey> identity_key;
  std::optional<Ed25519PrivateKey> device_key;
  v1::DeviceCert cert;
};
// Reads --device-key, --device-id and --valid-for-hours, with K_id from
// `identity_flag`, and signs a cert valid from a minute ago.
int ReadDeviceSigner(Args& args, const std::string& identity_flag, DeviceSigner* signer);

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

inline const v1::RelayReceipt& ItIsTheReceipt(const v1::RelayReceipt& receipt) { return receipt; }

// ---------------------------------------------------------------------------
}  // namespace fedrelay::client::cli

#endif  // FEDRELAY_TOOLS_CLIENT_CLI_H_
