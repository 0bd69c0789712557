// BridgeOutbox against a real LogStore, for what an outside client cannot
// provoke: the crash window between an entry becoming durable and the
// outbox storing its notification, and a reconnect racing the worker.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "gtest/gtest.h"
#include "relay/auth/api_keys.h"
#include "relay/downstream/bridge_outbox.h"
#include "store/log_store.h"

namespace fedrelay::relay {
namespace {

const std::string kBob(64, 'b');

std::shared_ptr<const v1::LogEntry> BanEntry(uint64_t event_id, const std::string& user) {
  auto entry = std::make_shared<v1::LogEntry>();
  entry->set_event_id(event_id);
  entry->set_kind("ban");
  entry->mutable_ban()->set_banned_user_pubkey(user);
  entry->mutable_ban()->set_guild_id("g1");
  entry->mutable_ban()->set_origin_server_id("alpha.example");
  return entry;
}

void AppendEntry(store::LogStore& store, const v1::LogEntry& entry) {
  ASSERT_TRUE(store.Append({entry.SerializeAsString()}, store::WriteSet()).ok());
}

// Waits for the outbox's worker to have stored `count` notifications.
std::vector<BridgeNotification> WaitForNotifications(const BridgeOutbox& outbox, size_t count) {
  std::vector<BridgeNotification> got;
  for (int i = 0; i < 200; ++i) {
    auto list = outbox.Notifications();
    if (list.ok()) got = *list;
    if (got.size() >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return got;
}

// A bridge's WebSocket as the outbox sees it: keeps the frames sent to it.
// With `hold_uploads`, a Send of UploadConversations waits until Release(), so
// a test can keep the outbox's worker inside a round.
class FakeBridgeConnection : public WebSocketConnection {
 public:
  explicit FakeBridgeConnection(bool hold_uploads = false) : holding_(hold_uploads) {}

  bool Send(std::string text) override {
    std::unique_lock<std::mutex> lock(mu_);
    frames_.push_back(text);
    cv_.notify_all();
    if (text.find("UploadConversations") != std::string::npos) {
      cv_.wait(lock, [this] { return !holding_; });
    }
    return open_;
  }
  bool SendThen(std::string text, std::function<void(bool)> written) override {
    const bool sent = Send(std::move(text));
    if (sent) written(true);
    return sent;
  }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  bool is_open() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = false;
    cv_.notify_all();
  }
  // Waits until `count` frames containing `text` were sent; returns how many were.
  size_t WaitFor(const std::string& text, size_t count) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return CountLocked(text) >= count; });
    return CountLocked(text);
  }
  size_t Count(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    return CountLocked(text);
  }

 private:
  size_t CountLocked(const std::string& text) const {
    size_t n = 0;
    for (const auto& frame : frames_) n += frame.find(text) != std::string::npos ? 1 : 0;
    return n;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> frames_;
  bool holding_;
  bool open_ = true;
};

// A store with one live bridge API key, and the outbox's options over it.
class BridgeOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::LogStore::Open(dir_.path(), {.sync = false});
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
    keys_ = std::make_unique<ApiKeys>(store_.get());
    auto key = keys_->Create("bridge");
    ASSERT_TRUE(key.ok());
    key_id_ = key->info.key_id;
    options_.store = store_.get();
    options_.api_keys = keys_.get();
  }

  testing::TempDir dir_{"bridge_outbox_test"};
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<ApiKeys> keys_;
  std::string key_id_;
  BridgeOptions options_;
};

TEST_F(BridgeOutboxTest, EntriesDurableBeforeACrashAreNotifiedFromTheLogOnStart) {
  {
    auto outbox = BridgeOutbox::Open(options_);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    ASSERT_TRUE((*outbox)->Bind(kBob, key_id_, "+15550100").ok());
    (*outbox)->OnDurable({BanEntry(1, kBob)});
    AppendEntry(*store_, *BanEntry(1, kBob));
    EXPECT_EQ(WaitForNotifications(**outbox, 1).size(), 1u);
    // Durable in the log, but the process dies before OnDurable reaches the outbox.
    AppendEntry(*store_, *BanEntry(2, std::string(64, 'c')));
    AppendEntry(*store_, *BanEntry(3, kBob));
    (*outbox)->Shutdown();
  }
  auto reopened = BridgeOutbox::Open(options_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto notifications = WaitForNotifications(**reopened, 2);
  ASSERT_EQ(notifications.size(), 2u);
  EXPECT_EQ(notifications[0].token, "ntf-1");
  EXPECT_EQ(notifications[1].token, "ntf-3");
  EXPECT_EQ(notifications[1].state, "queued");
  // The federation core hands the same entries over again: nothing doubles.
  (*reopened)->OnDurable({BanEntry(3, kBob)});
  AppendEntry(*store_, *BanEntry(4, kBob));
  (*reopened)->OnDurable({BanEntry(4, kBob)});
  notifications = WaitForNotifications(**reopened, 3);
  ASSERT_EQ(notifications.size(), 3u);
  EXPECT_EQ(notifications[2].token, "ntf-4");
}

// A newer connection becomes visible to the worker before the worker handles
// its attach; whatever the worker sent on it meanwhile is not sent twice.
TEST_F(BridgeOutboxTest, AReconnectSendsEachWaitingNotificationOnce) {
  auto outbox = BridgeOutbox::Open(options_);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_TRUE((*outbox)->Bind(kBob, key_id_, "+15550100").ok());
  AppendEntry(*store_, *BanEntry(1, kBob));
  (*outbox)->OnDurable({BanEntry(1, kBob)});
  ASSERT_EQ(WaitForNotifications(**outbox, 1).size(), 1u);

  // The worker greets the older connection and is held there while the newer
  // one replaces it; the rest of that round already sees the newer one.
  auto older = std::make_shared<FakeBridgeConnection>(/*hold_uploads=*/true);
  auto newer = std::make_shared<FakeBridgeConnection>();
  (*outbox)->Attach(key_id_, older);
  ASSERT_EQ(older->WaitFor("UploadConversations", 1), 1u);
  (*outbox)->Attach(key_id_, newer);
  older->Release();
  // The newer connection's own greeting, then a later round's request: once
  // that arrives the worker has finished every round before it.
  ASSERT_EQ(newer->WaitFor("UploadConversations", 1), 1u);
  ASSERT_TRUE((*outbox)->Conversations(key_id_, /*refresh=*/true, std::chrono::milliseconds(0)).ok());
  ASSERT_EQ(newer->WaitFor("UploadConversations", 2), 2u);
  EXPECT_EQ(newer->Count("ntf-1"), 1u);
}

}  // namespace
}  // namespace fedrelay::relay
