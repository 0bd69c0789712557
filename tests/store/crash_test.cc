// Kill -9 a process that is appending through LogWriter with a Checkpointer
// running, then check that everything it receipted survived and the log is
// consistent with its last checkpoint.
//
// The writer runs in a fresh process (fork + exec of this test binary, running
// only CrashTest.DISABLED_ChildWriter): forking a process that already has
// RocksDB threads would leave the child with a thread pool whose threads do
// not exist.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/crypto.h"
#include "store/checkpointer.h"
#include "store/closure_writer_util.h"
#include "store/log_store_test_util.h"
#include "store/log_writer.h"
#include "store/merkle.h"
#include "store/note.h"

extern char** environ;

namespace fedrelay::store {
namespace {

using ::fedrelay::store::testing::ClosureWriter;
using ::fedrelay::store::testing::RecordingHandler;
using ::fedrelay::store::testing::TempDir;

constexpr char kOrigin[] = "crash.example/log";
constexpr char kDirEnv[] = "FEDRELAY_CRASH_TEST_DIR";
constexpr char kFdEnv[] = "FEDRELAY_CRASH_TEST_FD";

Ed25519PrivateKey TestKey() {
  return Ed25519PrivateKey::FromSeed(std::string(kEd25519SeedBytes, '\x2a')).value();
}

std::string EntryBytes(uint64_t seq) {
  return absl::StrCat("crash entry ", seq, " ", std::string(seq % 200, 'p'));
}

std::string SeqKey(uint64_t seq) { return absl::StrCat("seq/", seq); }

struct Receipt {
  uint64_t index;
  uint64_t seq;
};

// The child: append forever, reporting each durable (index, seq) on `fd`.
[[noreturn]] void RunChildWriter(const std::string& dir, int fd) {
  if (!InitCrypto().ok()) _exit(2);
  absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "child: %s\n", store.status().ToString().c_str());
    _exit(3);
  }
  Checkpointer::Options checkpoint_options;
  checkpoint_options.origin = kOrigin;
  checkpoint_options.interval_ms = 20;
  Checkpointer checkpointer(store->get(), TestKey(), checkpoint_options);
  RecordingHandler handler;
  ClosureWriter writer(store->get(), &handler);

  absl::Mutex mu;
  int in_flight = 0;
  std::atomic<uint64_t> next_seq{0};
  auto submitter = [&] {
    for (;;) {
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(+[](int* n) { return *n < 256; }, &in_flight));
        ++in_flight;
      }
      const uint64_t seq = next_seq++;
      writer.Submit(
          [seq](uint64_t index, WriteSet& side) -> absl::StatusOr<std::string> {
            side.Put(Table::kCursors, SeqKey(seq), absl::StrCat(index));
            return EntryBytes(seq);
          },
          [&, seq](absl::StatusOr<AppendedLeaf> leaf) {
            if (!leaf.ok()) _exit(4);
            const Receipt receipt{leaf->leaf_index, seq};
            // 16 bytes < PIPE_BUF: each receipt arrives whole.
            if (write(fd, &receipt, sizeof(receipt)) != sizeof(receipt)) _exit(5);
            absl::MutexLock lock(&mu);
            --in_flight;
          });
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(submitter);
  // The parent kills us long before this; it only bounds an orphan's life.
  std::this_thread::sleep_for(std::chrono::seconds(60));
  _exit(6);
}

TEST(CrashTest, DISABLED_ChildWriter) {
  const char* dir = std::getenv(kDirEnv);
  const char* fd = std::getenv(kFdEnv);
  if (dir == nullptr || fd == nullptr) GTEST_SKIP() << "only run by CrashTest.KillDuringAppends";
  RunChildWriter(dir, std::atoi(fd));
}

// Reads whole receipts from `fd` into `out` until `deadline` or EOF; false on EOF.
bool ReadReceipts(int fd, std::chrono::steady_clock::time_point deadline,
                  std::vector<Receipt>& out, std::string& partial) {
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    pollfd pfd{fd, POLLIN, 0};
    const int timeout_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
    if (poll(&pfd, 1, timeout_ms) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    partial.append(buf, static_cast<size_t>(n));
    size_t used = 0;
    for (; partial.size() - used >= sizeof(Receipt); used += sizeof(Receipt)) {
      Receipt receipt;
      std::memcpy(&receipt, partial.data() + used, sizeof(receipt));
      out.push_back(receipt);
    }
    partial.erase(0, used);
  }
}

TEST(CrashTest, KillDuringAppendsLosesNoReceiptedEntry) {
  ASSERT_TRUE(InitCrypto().ok());
  TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);

  // Everything the child needs is built before fork: between fork and exec
  // only async-signal-safe calls are allowed.
  std::vector<std::string> args = {"store_tests", "--gtest_filter=CrashTest.DISABLED_ChildWriter",
                                   "--gtest_also_run_disabled_tests"};
  std::vector<std::string> env = {absl::StrCat(kDirEnv, "=", dir.path()),
                                  absl::StrCat(kFdEnv, "=", fds[1])};
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& var : env) envp.push_back(var.data());
  envp.push_back(nullptr);

  const int dev_null = open("/dev/null", O_WRONLY);  // the child's gtest chatter
  ASSERT_GE(dev_null, 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(dev_null, STDOUT_FILENO);
    execve("/proc/self/exe", argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  close(dev_null);

  // Let it write for ~0.5 s after its first receipt, then kill it mid-flight.
  std::vector<Receipt> receipts;
  std::string partial;
  const auto start = std::chrono::steady_clock::now();
  while (receipts.empty() && std::chrono::steady_clock::now() < start + std::chrono::seconds(20)) {
    if (!ReadReceipts(fds[0], std::chrono::steady_clock::now() + std::chrono::milliseconds(10),
                      receipts, partial)) {
      break;
    }
  }
  const bool alive =
      !receipts.empty() &&
      ReadReceipts(fds[0], std::chrono::steady_clock::now() + std::chrono::milliseconds(500),
                   receipts, partial);
  kill(pid, SIGKILL);
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(alive) << "the child died on its own (status " << wait_status << ")";
  ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);
  // Receipts already in the pipe were written after their batch was durable.
  ReadReceipts(fds[0], std::chrono::steady_clock::now() + std::chrono::seconds(5), receipts,
               partial);
  close(fds[0]);
  EXPECT_TRUE(partial.empty());
  ASSERT_FALSE(receipts.empty());

  const auto open_start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<LogStore>> reopened = LogStore::Open(dir.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  LogStore& store = **reopened;
  std::printf("[ crash ] %zu receipts before SIGKILL; log size %llu after reopen (%.1f ms)\n",
              receipts.size(), static_cast<unsigned long long>(store.Size()),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                        open_start)
                  .count());

  std::map<uint64_t, uint64_t> seq_by_index;
  for (const Receipt& receipt : receipts) {
    ASSERT_TRUE(seq_by_index.emplace(receipt.index, receipt.seq).second)
        << "index " << receipt.index << " receipted twice";
    ASSERT_LT(receipt.index, store.Size());
    absl::StatusOr<std::string> leaf = store.GetLeaf(receipt.index);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    EXPECT_EQ(*leaf, EntryBytes(receipt.seq)) << "index " << receipt.index;
    EXPECT_EQ(*store.Get(Table::kCursors, SeqKey(receipt.seq)),
              std::optional<std::string>(absl::StrCat(receipt.index)));
  }

  // The last checkpoint is a signed note about a prefix of this log.
  std::optional<StoredCheckpoint> checkpoint = store.LatestCheckpoint();
  ASSERT_TRUE(checkpoint.has_value());
  ASSERT_LE(checkpoint->tree_size, store.Size());
  absl::StatusOr<NoteVerifier> verifier =
      ParseVerifierKey(FormatVerifierKey(kOrigin, TestKey().PublicKey()));
  ASSERT_TRUE(verifier.ok());
  absl::StatusOr<std::string> body = OpenNote(checkpoint->note, *verifier);
  ASSERT_TRUE(body.ok()) << body.status();
  absl::StatusOr<CheckpointBody> parsed = ParseCheckpointBody(*body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->tree_size, checkpoint->tree_size);
  EXPECT_EQ(parsed->root_hash, checkpoint->root_hash);
  const uint64_t size = store.Size();
  absl::StatusOr<std::vector<std::string>> proof =
      store.ConsistencyProof(checkpoint->tree_size, size);
  ASSERT_TRUE(proof.ok()) << proof.status();
  EXPECT_TRUE(VerifyConsistency(checkpoint->tree_size, size, *proof, checkpoint->root_hash,
                                *store.RootHash(size))
                  .ok());
  EXPECT_TRUE(store.VerifyIntegrity().ok());

  // Appends continue where the killed process stopped.
  RecordingHandler handler;
  ClosureWriter writer(&store, &handler);
  absl::Notification appended;
  writer.Submit([](uint64_t, WriteSet&) -> absl::StatusOr<std::string> { return "after"; },
                [&](absl::StatusOr<AppendedLeaf> leaf) {
                  EXPECT_TRUE(leaf.ok()) << leaf.status();
                  if (leaf.ok()) {
                    EXPECT_EQ(leaf->leaf_index, size);
                  }
                  appended.Notify();
                });
  writer.Stop();
  ASSERT_TRUE(appended.HasBeenNotified());
  Checkpointer::Options options;
  options.origin = kOrigin;
  options.interval_ms = 0;
  Checkpointer checkpointer(&store, TestKey(), options);
  absl::StatusOr<StoredCheckpoint> next = checkpointer.PublishNow();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->tree_size, size + 1);
  proof = store.ConsistencyProof(checkpoint->tree_size, size + 1);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyConsistency(checkpoint->tree_size, size + 1, *proof, checkpoint->root_hash,
                                next->root_hash)
                  .ok());
}

}  // namespace
}  // namespace fedrelay::store
