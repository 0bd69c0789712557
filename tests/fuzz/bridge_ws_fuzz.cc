// The messaging bridge's protocol handler (relay/downstream/bridge_outbox*.cc,
// what /v1/bridge hands every frame to) with arbitrary frame sequences,
// through a fake WebSocketConnection over a real store.
//
// Input: one frame per line, from the bridge. Each run attaches a bridge
// session; when nothing is in flight for it, a new ban of the bound user makes
// a notification first, so replies have something to settle. "@TOKEN@" in a
// frame is replaced by the token of the latest SendMessage or
// UpdateMessagesStatus the relay sent. The worker handles each frame before
// the next one is given (BridgeOutbox::WaitIdle).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "nlohmann/json.hpp"
#include "relay/auth/api_keys.h"
#include "relay/downstream/bridge_outbox.h"
#include "ws_fuzz_util.h"

namespace fedrelay {
namespace {

constexpr size_t kMaxFrames = 32;
constexpr char kUser[] = "8d28092eaff7c838d2f6da589dba8885800a9f526d50919af38c84849b3061ea";

// Lives until exit (the worker thread uses it); held here so LeakSanitizer
// sees it reachable.
struct Bridge {
  std::unique_ptr<relay::ApiKeys> api_keys;
  std::unique_ptr<relay::BridgeOutbox> outbox;
  std::string key_id;
  uint64_t next_event_id = 1;
};

Bridge& Environment() {
  static Bridge* bridge = [] {
    fuzz::QuietLogs();
    if (!InitCrypto().ok()) std::abort();
    store::LogStore& store = fuzz::ScratchStore("bridge");
    auto api_keys = std::make_unique<relay::ApiKeys>(&store);
    auto created = api_keys->Create("bridge");
    if (!created.ok()) std::abort();
    relay::BridgeOptions options;
    options.store = &store;
    options.api_keys = api_keys.get();
    // Retries and resends fall due within a run now and then.
    options.retry_base_delay_ms = 1;
    options.retry_max_delay_ms = 4;
    options.max_attempts = 3;
    options.resend_after_ms = 10;
    auto outbox = relay::BridgeOutbox::Open(options);
    if (!outbox.ok()) std::abort();
    if (!(*outbox)->Bind(kUser, created->info.key_id, "+15550100").ok()) std::abort();
    return new Bridge{std::move(api_keys), *std::move(outbox), created->info.key_id};
  }();
  return *bridge;
}

// The token of the latest notification the relay sent ("" when none).
std::string LatestToken(const std::vector<std::string>& sent) {
  for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
    const auto frame = nlohmann::json::parse(*it, nullptr, /*allow_exceptions=*/false);
    if (!frame.is_object()) continue;
    const auto payload = frame.find("payload");
    if (payload == frame.end() || !payload->is_object()) continue;
    const auto token = payload->find("token");
    if (token != payload->end() && token->is_string() && !token->get<std::string>().empty()) {
      return token->get<std::string>();
    }
  }
  return "";
}

}  // namespace
}  // namespace fedrelay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedrelay;
  Bridge& bridge = Environment();
  auto connection = std::make_shared<fuzz::FakeConnection>();
  const uint64_t session = bridge.outbox->Attach(bridge.key_id, connection);
  bridge.outbox->WaitIdle();
  if (LatestToken(connection->Sent()).empty()) {
    auto entry = std::make_shared<v1::LogEntry>();
    entry->set_event_id(bridge.next_event_id++);
    entry->set_received_at(1767225600000);
    entry->set_kind("ban");
    entry->mutable_ban()->set_origin_server_id("alpha.example");
    entry->mutable_ban()->set_banned_user_pubkey(kUser);
    entry->mutable_ban()->set_guild_id("g1");
    entry->mutable_ban()->set_reason("fuzz");
    bridge.outbox->OnDurable({entry});
    bridge.outbox->WaitIdle();
  }
  for (const std::string& frame : fuzz::SplitFrames(data, size, kMaxFrames)) {
    if (!connection->is_open()) break;
    bridge.outbox->OnFrame(session, fuzz::Substitute(frame, "@TOKEN@", LatestToken(connection->Sent())));
    bridge.outbox->WaitIdle();
    connection->RunCallbacks();
  }
  bridge.outbox->Detach(session);
  connection->End();
  return 0;
}
