// BridgeOutbox against a real LogStore, for what an outside client cannot
// provoke: the crash window between an entry becoming durable and the
// outbox storing its notification.

#include <chrono>
#include <memory>
#include <thread>

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

TEST(BridgeOutboxTest, EntriesDurableBeforeACrashAreNotifiedFromTheLogOnStart) {
  testing::TempDir dir("bridge_outbox_test");
  auto store = store::LogStore::Open(dir.path(), {.sync = false});
  ASSERT_TRUE(store.ok()) << store.status();
  ApiKeys keys(store->get());
  auto key = keys.Create("bridge");
  ASSERT_TRUE(key.ok());
  BridgeOptions options;
  options.store = store->get();
  options.api_keys = &keys;
  {
    auto outbox = BridgeOutbox::Open(options);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    ASSERT_TRUE((*outbox)->Bind(kBob, key->info.key_id, "+15550100").ok());
    (*outbox)->OnDurable({BanEntry(1, kBob)});
    AppendEntry(**store, *BanEntry(1, kBob));
    EXPECT_EQ(WaitForNotifications(**outbox, 1).size(), 1u);
    // Durable in the log, but the process dies before OnDurable reaches the outbox.
    AppendEntry(**store, *BanEntry(2, std::string(64, 'c')));
    AppendEntry(**store, *BanEntry(3, kBob));
    (*outbox)->Shutdown();
  }
  auto reopened = BridgeOutbox::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto notifications = WaitForNotifications(**reopened, 2);
  ASSERT_EQ(notifications.size(), 2u);
  EXPECT_EQ(notifications[0].token, "ntf-1");
  EXPECT_EQ(notifications[1].token, "ntf-3");
  EXPECT_EQ(notifications[1].state, "queued");
  // The federation core hands the same entries over again: nothing doubles.
  (*reopened)->OnDurable({BanEntry(3, kBob)});
  AppendEntry(**store, *BanEntry(4, kBob));
  (*reopened)->OnDurable({BanEntry(4, kBob)});
  notifications = WaitForNotifications(**reopened, 3);
  ASSERT_EQ(notifications.size(), 3u);
  EXPECT_EQ(notifications[2].token, "ntf-4");
}

}  // namespace
}  // namespace fedrelay::relay
