// fedrelay-audit: re-derives a fedrelay log and proves it. See `fedrelay-audit --help`.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "federation/federation.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "store/log_store.h"
#include "store/merkle.h"
#include "store/note.h"
#include "tools/audit/checkpoints.h"
#include "tools/audit/monitor.h"
#include "tools/audit/receipts.h"

namespace {

using fedrelay::Args;
using fedrelay::audit::CheckCheckpoint;

constexpr char kUsage[] = R"(fedrelay-audit - re-derive a fedrelay log and prove every decision in it

Usage:
  fedrelay-audit --relay HOST:PORT --vkey VKEY [--checkpoint FILE]... [options]
  fedrelay-audit --data-dir DIR    --vkey VKEY [--checkpoint FILE]... [options]
  fedrelay-audit --relay HOST:PORT --vkey VKEY --state DIR [--follow [--interval-ms MS]] [options]
  (options: [--receipts FILE]... [--json] [--quiet] [--max-clock-skew-ms N] [--server-id ID])

Source (one of):
  --relay HOST:PORT   a running relay, over the public AuditLog gRPC service: fetches
                      its latest checkpoint, then every entry, into a scratch copy.
  --data-dir DIR      a relay's data directory, offline (stop fedrelayd first: RocksDB
                      allows one process at a time). Also checks every stored leaf and
                      Merkle node against each other.

Trust:
  --vkey VKEY         the relay's C2SP note verifier key, as printed by
                      `fedrelayd keygen` / `fedrelay-ctl vkey` (name+keyhash+key). The
                      relay key in it also verifies receipts and operator actions.
  --checkpoint FILE   a signed checkpoint note you saved earlier (repeatable): each
                      must verify under VKEY and match the log's root at its size,
                      i.e. the log you audit is an extension of what you were shown.
  --receipts FILE     receipts a peer kept, one JSON object per line as
                      `fedrelay-client --json` prints them (repeatable): each
                      receipt's signature must verify under the relay key in VKEY
                      and its leaf must be in the log at its event id, with an
                      inclusion proof to the latest checkpoint's root.

Monitoring (with --relay):
  --state DIR         keep what was verified in DIR (created if missing): a copy of
                      the log, the state re-derived from it and how far it goes. The
                      next run checks that the relay's new checkpoint is consistent
                      with it (an RFC 6962 consistency proof) and downloads and
                      re-derives only the new entries. A rewritten or rolled-back log
                      is refused ("the log was rewritten: ..."), the state unchanged;
                      an entry that does not re-derive marks DIR failed for good.
  --follow            keep auditing as the log grows: a round every --interval-ms
                      (default 5000), one result line each, until SIGINT/SIGTERM
                      (exit 0); an unreachable relay is retried, a divergence exits 1.
                      Without --state the verified copy is a scratch directory.

Options:
  --max-clock-skew-ms N  the relay's federation.max_clock_skew_ms (default 300000)
  --server-id ID         the relay's server_id (default: from the relay, else relay.example)
  --quiet                no progress output (progress, with rate and ETA, is shown
                         only when stderr is a terminal)
  --json                 print the result as one JSON object on stdout:
                         {"ok":true,"entries","checkpoints","receipts","derived_state":
                         {"peers","bans","users_with_homeserver","profiles","invites"}}
                         or {"ok":false,"error":"..."} (the error is on stderr too)

What is checked: every signature (requests, device certs, operator actions) under
the rules as they stood at each entry; every derived downstream event; every root
and the latest checkpoint; each --checkpoint. The re-derived state (bans,
homeservers, profiles, invites, peers) is summarised at the end.

Exit status: 0 the log verifies; 1 a divergence or verification failure (the first
one is printed); 2 usage error.
)";

int Usage(const std::string& message) {
  std::cerr << "fedrelay-audit: " << message << "\n(see fedrelay-audit --help)\n";
  return 2;
}

// A progress line on stderr, redrawn in place: only on a terminal (a log file
// or a pipe gets none), with the rate and the time left.
struct Progress {
  bool quiet = false;
  mutable std::string stage;
  mutable std::chrono::steady_clock::time_point started;
  void operator()(absl::string_view current, uint64_t done, uint64_t total) const {
    if (quiet || !isatty(STDERR_FILENO)) return;
    const auto now = std::chrono::steady_clock::now();
    if (stage != current) {
      stage = std::string(current);
      started = now;
    }
    const double seconds = std::chrono::duration<double>(now - started).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    const int percent = total == 0 ? 100 : static_cast<int>(100 * done / total);
    constexpr int kWidth = 30;
    const int filled = kWidth * percent / 100;
    char line[160];
    std::snprintf(line, sizeof(line), "\r%s [%s%s] %3d%% %llu/%llu  %.0f/s  ETA %.0fs ",
                  stage.c_str(), std::string(filled, '#').c_str(),
                  std::string(kWidth - filled, '.').c_str(), percent,
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                  rate, rate > 0 ? static_cast<double>(total - done) / rate : 0.0);
    std::cerr << line << std::flush;
    if (done == total) std::cerr << "\n";
  }
};

bool g_json = false;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Copies the remote log into `store` through AuditLog and returns the relay's latest checkpoint note.
absl::StatusOr<std::string> Download(const std::string& address, fedrelay::store::LogStore& store,
                                     std::string* server_id, const Progress& progress) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto audit = fedrelay::v1::AuditLog::NewStub(channel);
  auto relay = fedrelay::v1::FederationRelay::NewStub(channel);
  if (server_id->empty()) {
    grpc::ClientContext context;
    fedrelay::v1::ServerInfoResponse info;
    if (relay->GetServerInfo(&context, {}, &info).ok()) *server_id = info.server_id();
  }
  fedrelay::v1::Checkpoint checkpoint;
  {
    grpc::ClientContext context;
    auto status = audit->GetCheckpoint(&context, {}, &checkpoint);
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat("GetCheckpoint from ", address, ": ", status.error_message()));
    }
  }
  RETURN_IF_ERROR(fedrelay::audit::DownloadEntries(*audit, store, checkpoint.tree_size(), progress));
  return checkpoint.note();
}

int Fail(const absl::Status& status) {
  std::cerr << "fedrelay-audit: FAILED: " << status.message() << "\n";
  if (g_json) {
    std::cout << nlohmann::json{{"ok", false}, {"error", std::string(status.message())}}.dump(
                     -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (args.Flag("--help") || args.Flag("-h") || argc == 1) {
    std::cout << kUsage;
    return argc == 1 ? 2 : 0;
  }
  std::string relay_address, data_dir, vkey, server_id;
  std::vector<std::string> checkpoint_files;
  uint64_t max_skew = 300000;
  Progress progress;
  progress.quiet = args.Flag("--quiet");
  g_json = args.Flag("--json");
  std::vector<std::string> receipt_files;
  std::string state_dir;
  uint64_t interval_ms = 5000;
  const bool follow = args.Flag("--follow");
  if (!args.Value("--state", &state_dir) || !args.Number("--interval-ms", &interval_ms) ||
      !args.Values("--receipts", &receipt_files) || !args.Value("--relay", &relay_address) || !args.Value("--data-dir", &data_dir) ||
      !args.Value("--vkey", &vkey) || !args.Values("--checkpoint", &checkpoint_files) ||
      !args.Number("--max-clock-skew-ms", &max_skew) || !args.Value("--server-id", &server_id)) {
    return Usage(args.error());
  }
  if (!args.Leftover().empty()) return Usage("unexpected argument " + args.Leftover());
  if (relay_address.empty() == data_dir.empty()) return Usage("give exactly one of --relay or --data-dir");
  if (vkey.empty()) return Usage("--vkey is required: the relay's note verifier key");
  if (!fedrelay::InitCrypto().ok()) return Fail(absl::InternalError("libsodium failed to initialize"));
  auto verifier = fedrelay::store::ParseVerifierKey(vkey);
  if (!verifier.ok()) return Usage(absl::StrCat("bad --vkey: ", verifier.status().message()));
  if (!state_dir.empty() || follow) {
    if (relay_address.empty()) return Usage("--state and --follow audit a running relay (--relay)");
    if (interval_ms == 0) return Usage("--interval-ms must be at least 1");
    fedrelay::audit::MonitorOptions monitor;
    monitor.relay_address = relay_address;
    monitor.verifier = *verifier;
    monitor.state_dir = state_dir;
    monitor.follow = follow;
    monitor.interval_ms = interval_ms;
    monitor.max_clock_skew_ms = max_skew;
    monitor.checkpoint_files = checkpoint_files;
    monitor.receipt_files = receipt_files;
    monitor.json = g_json;
    monitor.progress = [&progress](absl::string_view stage, uint64_t done, uint64_t total) {
      progress(stage, done, total);
    };
    return fedrelay::audit::RunMonitor(monitor);
  }

  std::unique_ptr<fedrelay::store::LogStore> store;
  std::string scratch;
  std::string latest_note;
  // The leaf and node check of --data-dir runs beside the re-derivation (its
  // hashing and reads on one thread, the signature checks on every core)
  // instead of before it; its verdict still comes first.
  absl::Status integrity = absl::OkStatus();
  std::thread integrity_check;
  if (!data_dir.empty()) {
    auto opened = fedrelay::store::LogStore::Open(data_dir);
    if (!opened.ok()) return Fail(opened.status());
    store = *std::move(opened);
    integrity_check = std::thread([&integrity, &store] { integrity = store->VerifyIntegrity(nullptr); });
    if (auto latest = store->LatestCheckpoint()) latest_note = latest->note;
  } else {
    scratch = (std::filesystem::temp_directory_path() / ("fedrelay-audit-" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(scratch);
    fedrelay::store::LogStoreOptions options;
    options.sync = false;  // a scratch copy: durability buys nothing
    auto opened = fedrelay::store::LogStore::Open(scratch, options);
    if (!opened.ok()) return Fail(opened.status());
    store = *std::move(opened);
    auto note = Download(relay_address, *store, &server_id, progress);
    if (!note.ok()) {
      store.reset();
      std::filesystem::remove_all(scratch);
      return Fail(note.status());
    }
    latest_note = *note;
  }
  if (server_id.empty()) server_id = "relay.example";

  absl::Status status = absl::OkStatus();
  int checkpoints_checked = 0;
  if (!latest_note.empty()) {
    status = CheckCheckpoint(*store, *verifier, latest_note, "the relay's latest checkpoint");
    ++checkpoints_checked;
  }
  for (const auto& path : checkpoint_files) {
    if (!status.ok()) break;
    auto note = ReadFile(path);
    status = note.ok() ? CheckCheckpoint(*store, *verifier, *note, path) : note.status();
    ++checkpoints_checked;
  }
  uint64_t receipts_checked = 0;
  for (const auto& path : receipt_files) {
    if (!status.ok()) break;
    auto checked = fedrelay::audit::CheckReceiptsFile(*store, verifier->public_key, path);
    if (checked.ok()) {
      receipts_checked += *checked;
    } else {
      status = checked.status();
    }
  }
  fedrelay::federation::RederiveReport report;
  if (status.ok()) {
    auto rederived = fedrelay::federation::RederiveLog(
        *store, fedrelay::HexEncode(verifier->public_key), server_id, max_skew,
        [&](uint64_t done, uint64_t total) { progress("rederive", done, total); });
    if (rederived.ok()) {
      report = *rederived;
    } else {
      status = rederived.status();
    }
  }
  if (integrity_check.joinable()) integrity_check.join();
  if (!integrity.ok()) return Fail(integrity);
  const uint64_t size = store->Size();
  store.reset();
  if (!scratch.empty()) std::filesystem::remove_all(scratch);
  if (!status.ok()) return Fail(status);
  if (g_json) {
    std::cout << nlohmann::json{{"ok", true},
                                {"entries", size},
                                {"checkpoints", checkpoints_checked},
                                {"receipts", receipts_checked},
                                {"derived_state",
                                 {{"peers", report.peers},
                                  {"bans", report.bans},
                                  {"users_with_homeserver", report.users_with_homeserver},
                                  {"profiles", report.profiles},
                                  {"invites", report.invites}}}}
                     .dump()
              << "\n";
    return 0;
  }
  if (receipts_checked > 0) {
    std::cout << receipts_checked << " receipt(s) verified and included in the log\n";
  }
  std::cout << "OK: " << size << " entries verified, " << checkpoints_checked
            << " checkpoint(s) match the log\n"
            << "derived state: " << report.peers << " peers, " << report.bans << " bans, "
            << report.users_with_homeserver << " users with a homeserver, " << report.profiles
            << " profiles, " << report.invites << " invites\n";
  return 0;
}
