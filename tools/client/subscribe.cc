// fedrelay-client subscribe / ack (subscribe.h).
#include "tools/client/subscribe.h"

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

}  // namespace

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

}  // namespace fedrelay::client::cli
