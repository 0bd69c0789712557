#include "tools/bench/startup.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "federation/federation.h"
#include "relay/relay_key.h"
#include "store/log_store.h"
#include "tools/bench/e2e_load.h"

namespace fedrelay::bench {
namespace {

using e2e::Daemon;
using e2e::DaemonFiles;

constexpr char kUsage[] = R"(fedrelay-bench --startup - fedrelayd's start-up on a large log

Usage: fedrelay-bench --startup [--entries N] [--dir DIR] [--fedrelayd PATH]...

Builds a log of N joins of distinct users in DIR (in-process through the real
federation core, sync off; skipped when DIR already holds a log), then starts
each --fedrelayd binary on it (default: the one beside this binary; give
several to compare builds) and prints seconds from exec to its ready file and
its RSS once settled. Every join leaves per-user state (a homeserver) and a
seen-request record, so the state grows with the log.

  --entries N       joins to log (default 1000000)
  --dir DIR         where the log and config live (default: a new directory
                    under /tmp, kept, so later runs can reuse it)
  --fedrelayd PATH  a fedrelayd to start (repeatable)

Exit status: 0 measured, 1 failed (the log could not be built, a relay did
not start), 2 usage.
)";

constexpr size_t kChunk = 20000;  // joins signed, then submitted, at a time

std::string BesideThisBinary(const std::string& relative) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? relative : (self.parent_path() / relative).lexically_normal().string();
}

absl::Status WriteConfig(const std::string& dir, const Ed25519PrivateKey& alpha) {
  std::ofstream config(dir + "/fedrelay.yaml");
  config << "relay:\n  server_id: relay.example\n  origin: relay.example/log\n"
         << "  key_file: relay.key\n  data_dir: data\n"
         << "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n"
         << "peers:\n"
         << "  - server_id: alpha.example\n    pubkey: " << alpha.PublicKeyHex()
         << "\n    may_ban: [\"*\"]\n";
  config.close();
  return config ? absl::OkStatus() : absl::InternalError("cannot write the config");
}

// N joins through the federation core, as fedrelayd would log them.
absl::Status BuildLog(const std::string& dir, uint64_t entries, const Ed25519PrivateKey& alpha) {
  RETURN_IF_ERROR(InitCrypto());
  std::filesystem::create_directories(dir + "/data");
  RETURN_IF_ERROR(WriteConfig(dir, alpha));
  ASSIGN_OR_RETURN(std::unique_ptr<store::LogStore> store,
                   store::LogStore::Open(dir + "/data", store::LogStoreOptions{/*sync=*/false}));
  bool created = false;
  ASSIGN_OR_RETURN(Ed25519PrivateKey relay_key,
                   relay::LoadOrCreateRelayKey(dir + "/relay.key", "relay.example/log", *store,
                                               &created));
  federation::FederationOptions options;
  options.server_id = "relay.example";
  options.config_peers = {{"alpha.example", alpha.PublicKeyHex(), {"*"}}};
  ASSIGN_OR_RETURN(std::unique_ptr<federation::Federation> core,
                   federation::Federation::Open(store.get(), &relay_key, options, nullptr));
  const auto started = std::chrono::steady_clock::now();
  std::atomic<uint64_t> refused{0};
  std::string first_refusal;
  for (uint64_t done = 0; done < entries; done += kChunk) {
    const size_t count = static_cast<size_t>(std::min<uint64_t>(kChunk, entries - done));
    std::vector<v1::FederationRequest> joins =
        e2e::SignedJoins(absl::StrCat("startup ", getpid(), " ", done), count, "alpha.example", alpha);
    std::atomic<size_t> next{0}, answered{0};
    std::vector<std::thread> submitters;
    for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) {
      submitters.emplace_back([&] {
        for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
          core->Submit(std::move(joins[i]), [&](absl::StatusOr<federation::Accepted> outcome) {
            if (!outcome.ok() && refused.fetch_add(1) == 0) {
              first_refusal = std::string(outcome.status().message());
            }
            answered.fetch_add(1);
          });
        }
      });
    }
    for (std::thread& submitter : submitters) submitter.join();
    while (answered.load() < count) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (refused.load() > 0) return absl::InternalError("a join was refused: " + first_refusal);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cerr << "built " << done + count << " of " << entries << " entries (" << seconds << " s)\n";
  }
  core->Stop();
  return absl::OkStatus();
}

bool HasLog(const std::string& dir) {
  return std::filesystem::exists(dir + "/data/CURRENT") && std::filesystem::exists(dir + "/fedrelay.yaml");
}

}  // namespace

bool WantsStartup(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--startup") return true;
  }
  return false;
}

int RunStartup(int argc, char** argv) {
  uint64_t entries = 1000000;
  std::string dir;
  std::vector<std::string> binaries;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--startup") continue;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--entries" && has_value && absl::SimpleAtoi(argv[i + 1], &entries) && entries > 0) {
      ++i;
    } else if (arg == "--dir" && has_value) {
      dir = argv[++i];
    } else if (arg == "--fedrelayd" && has_value) {
      binaries.emplace_back(argv[++i]);
    } else {
      std::cerr << "fedrelay-bench: bad argument " << arg << "\n(see fedrelay-bench --startup --help)\n";
      return 2;
    }
  }
  if (binaries.empty()) binaries.push_back(BesideThisBinary("../relay/fedrelayd"));
  if (dir.empty()) dir = absl::StrCat("/tmp/fedrelay-bench-startup-", getpid());
  const Ed25519PrivateKey alpha = e2e::PartyKey("startup alpha");
  if (HasLog(dir)) {
    std::cerr << "reusing the log in " << dir << "\n";
  } else if (absl::Status built = BuildLog(dir, entries, alpha); !built.ok()) {
    std::cerr << "fedrelay-bench: building the log: " << built.message() << "\n";
    return 1;
  }
  int status = 0;
  for (const std::string& binary : binaries) {
    const DaemonFiles files{binary, dir + "/fedrelay.yaml", dir + "/ready.json", dir + "/fedrelayd.log"};
    std::filesystem::remove(files.ready_path);
    auto daemon = Daemon::Start(files, std::chrono::seconds(300));
    if (!daemon.ok()) {
      std::cerr << "fedrelay-bench: " << binary << ": " << daemon.status().message() << "\n";
      status = 1;
      continue;
    }
    const uint64_t rss =
        (*daemon)->SettledRssBytes(std::chrono::milliseconds(300), std::chrono::seconds(10));
    std::cout << binary << ": ready in " << (*daemon)->ready_seconds() << " s, RSS "
              << static_cast<double>(rss) / 1048576.0 << " MiB (log in " << dir << ")\n";
    (*daemon)->Stop();
  }
  return status;
}

}  // namespace fedrelay::bench
