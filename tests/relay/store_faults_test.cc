// Storage faults against the real fedrelayd (issue 12): a corrupted RocksDB
// file makes the relay refuse to start with a message naming the file, and a
// full data directory gives clear errors and readiness false, corrupts
// nothing, and is recovered from once space returns.
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/temp_dir.h"
#include "relay/disk_space.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedJoin;

std::vector<std::filesystem::path> FilesEndingIn(const std::string& dir, const std::string& suffix) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(entry.path());
    }
  }
  return files;
}

// Overwrites bytes in the middle of `path` (same size: no truncation to notice).
void Scribble(const std::filesystem::path& path) {
  const auto size = std::filesystem::file_size(path);
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(static_cast<std::streamoff>(size / 2));
  const std::string garbage(std::min<uint64_t>(size / 4 + 1, 4096), '\x5a');
  file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
}

std::unique_ptr<RelayProcess> StartWithEntries(int count) {
  RelayProcess::Options options;
  // The full-disk test writes as fast as it can until the disk refuses.
  options.rate_limits_yaml = "  message_rate_limit: 10000000\n";
  auto relay = RelayProcess::Start(options);
  EXPECT_TRUE(relay.ok()) << relay.status();
  if (!relay.ok()) return nullptr;
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());
  for (int i = 0; i < count; ++i) {
    const auto outcome = SendUnary(*stub, SignedJoin("alpha", absl::StrCat("fault-", i), "g1", NowMs()));
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  }
  return *std::move(relay);
}

TEST(StoreFaultsTest, ACorruptedTableFileRefusesStartUpNamingTheFile) {
  ASSERT_TRUE(InitCrypto().ok());
  std::unique_ptr<RelayProcess> relay = StartWithEntries(20);
  ASSERT_NE(relay, nullptr);
  ASSERT_EQ(relay->Stop(), 0);  // a clean stop flushes the log into table (.sst) files
  const auto tables = FilesEndingIn(relay->data_dir(), ".sst");
  ASSERT_FALSE(tables.empty());
  for (const auto& table : tables) Scribble(table);
  const absl::Status restarted = relay->Restart();
  ASSERT_FALSE(restarted.ok()) << "fedrelayd started on a corrupted store";
  const std::string log = relay->log_text();
  bool named = false;
  for (const auto& table : tables) named = named || log.find(table.filename().string()) != std::string::npos;
  EXPECT_TRUE(named) << log;
  EXPECT_THAT(log, HasSubstr("orrupt"));
}

TEST(StoreFaultsTest, ACorruptedManifestRefusesStartUpNamingTheFile) {
  ASSERT_TRUE(InitCrypto().ok());
  std::unique_ptr<RelayProcess> relay = StartWithEntries(5);
  ASSERT_NE(relay, nullptr);
  ASSERT_EQ(relay->Stop(), 0);
  std::vector<std::filesystem::path> manifests;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(relay->data_dir())) {
    if (entry.path().filename().string().rfind("MANIFEST-", 0) == 0) manifests.push_back(entry.path());
  }
  ASSERT_FALSE(manifests.empty());
  for (const auto& manifest : manifests) Scribble(manifest);
  ASSERT_FALSE(relay->Restart().ok()) << "fedrelayd started on a corrupted store";
  const std::string log = relay->log_text();
  bool named = false;
  for (const auto& manifest : manifests) {
    named = named || log.find(manifest.filename().string()) != std::string::npos;
  }
  EXPECT_TRUE(named) << log;
}

// Readiness as an operator's probe sees it: the HTTP status of GET /readyz.
int ReadyStatus(const RelayProcess& relay) {
  return testing::HttpRequest(relay.http_port(), "GET", "/readyz").status;
}

// Fills the file system holding `path` until less than `leave_bytes` is free.
void FillUp(const std::string& path, uint64_t leave_bytes) {
  std::ofstream filler(path, std::ios::binary);
  const std::string chunk(1 << 16, '\0');
  for (;;) {
    struct statvfs stats;
    if (statvfs(path.c_str(), &stats) != 0 ||
        static_cast<uint64_t>(stats.f_bavail) * stats.f_frsize < leave_bytes) {
      return;
    }
    if (!filler.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) || !filler.flush()) {
      return;
    }
  }
}

TEST(StoreFaultsTest, AFullDiskRefusesWritesTypedGoesUnreadyAndRecoversWithoutLoss) {
  ASSERT_TRUE(InitCrypto().ok());
  std::unique_ptr<RelayProcess> relay = StartWithEntries(5);
  ASSERT_NE(relay, nullptr);
  ASSERT_EQ(relay->Stop(), 0);
  // Move the data directory onto a small tmpfs of its own.
  const std::string data = relay->data_dir();
  const std::string saved = data + ".saved";
  std::filesystem::rename(data, saved);
  std::filesystem::create_directory(data);
  if (mount("tmpfs", data.c_str(), "tmpfs", 0, "size=96m,mode=0700") != 0) {
    const int error = errno;
    std::filesystem::remove(data);
    std::filesystem::rename(saved, data);
    GTEST_SKIP() << "cannot mount a tmpfs for the full-disk test (" << std::strerror(error)
                 << "); it needs root or CAP_SYS_ADMIN";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{data};
  std::filesystem::copy(saved, data, std::filesystem::copy_options::recursive);
  ASSERT_TRUE(relay->Restart().ok()) << relay->log_text();
  auto stub = v1::FederationRelay::NewStub(relay->Channel());
  ASSERT_EQ(ReadyStatus(*relay), 200);
  const auto first = SendUnary(*stub, SignedJoin("alpha", "before-full", "g1", NowMs()));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();

  // Less than log.min_free_bytes (64 MiB by default) left: new entries are
  // refused with a typed error before the store could run out of space.
  const std::string filler = data + "/filler";
  FillUp(filler, 16 << 20);
  std::vector<v1::RelayReceipt> receipts = {first.receipt};
  std::this_thread::sleep_for(2 * fedrelay::relay::DiskSpaceGuard::kRecheckInterval);
  const auto refused = SendUnary(*stub, SignedJoin("alpha", "while-full", "g1", NowMs()));
  ASSERT_FALSE(refused.status.ok());
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.status.error_message(),
              ::testing::AllOf(::testing::StartsWith("unavailable: "), HasSubstr("log.min_free_bytes")));
  EXPECT_EQ(ReadyStatus(*relay), 503);
  grpc::ClientContext ping_context;
  v1::PongResponse pong;
  ASSERT_TRUE(stub->Ping(&ping_context, v1::PingRequest(), &pong).ok());

  // Space returns: writes succeed again without a restart, and the relay is ready.
  std::filesystem::remove(filler);
  testing::UnaryOutcome after;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    after = SendUnary(*stub, SignedJoin("alpha", absl::StrCat("after-full-", i), "g1", NowMs()));
    if (after.status.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(after.status.ok()) << after.status.error_message() << "\n" << relay->log_text();
  for (int i = 0; i < 50 && ReadyStatus(*relay) != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ReadyStatus(*relay), 200);
  receipts.push_back(after.receipt);
  // Nothing receipted was lost, after a restart too.
  ASSERT_EQ(relay->Stop(), 0);
  ASSERT_TRUE(relay->Restart().ok()) << relay->log_text();
  const auto entries = testing::LogEntries(relay->Channel());
  for (const auto& receipt : receipts) {
    ASSERT_LE(receipt.event_id(), entries.size());
    ASSERT_TRUE(testing::CheckReceiptFor(receipt, entries[receipt.event_id() - 1]).ok())
        << "event " << receipt.event_id();
  }
  ASSERT_EQ(relay->Stop(), 0);
}

TEST(DiskSpaceGuardTest, ZeroDisablesTheCheckAndAnUnreadableDirectoryIsUnavailable) {
  EXPECT_TRUE(relay::DiskSpaceGuard("/nonexistent/fedrelay", 0).Check().ok());
  const absl::Status missing = relay::DiskSpaceGuard("/nonexistent/fedrelay", 1).Check();
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("/nonexistent/fedrelay"));
  testing::TempDir dir("fedrelay-space-");
  EXPECT_TRUE(relay::DiskSpaceGuard(dir.path(), 1).Check().ok());
}

}  // namespace
}  // namespace fedrelay
