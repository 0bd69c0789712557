#include "tools/audit/monitor.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/status_macros.h"
#include "federation/federation.h"
#include "federation/rederive.h"
#include "federation/state.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "store/log_store.h"
#include "store/merkle.h"
#include "tools/audit/checkpoints.h"
#include "tools/audit/receipts.h"

namespace fedrelay::audit {
namespace {

// kAux keys of the state directory, written with the derived state they describe.
constexpr absl::string_view kVerifiedSizeKey = "audit/verified_size";
constexpr absl::string_view kFailedKey = "audit/failed";

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

absl::StatusOr<uint64_t> VerifiedSize(const store::LogStore& store) {
  ASSIGN_OR_RETURN(auto value, store.Get(store::Table::kAux, kVerifiedSizeKey));
  uint64_t size = 0;
  if (value.has_value() && !absl::SimpleAtoi(*value, &size)) {
    return absl::DataLossError("the state's verified size does not parse");
  }
  return size;
}

// One round's outcome.
struct Round {
  uint64_t size = 0;       // entries verified in all
  uint64_t new_entries = 0;
  uint64_t checkpoints = 0;
  uint64_t receipts = 0;
  federation::RederiveReport state;
};

class Monitor {
 public:
  explicit Monitor(const MonitorOptions& options)
      : options_(options),
        channel_(grpc::CreateChannel(options.relay_address, grpc::InsecureChannelCredentials())),
        audit_(v1::AuditLog::NewStub(channel_)) {}

  absl::Status Open() {
    std::string dir = options_.state_dir;
    store::LogStoreOptions store_options;
    if (dir.empty()) {
      scratch_ = (std::filesystem::temp_directory_path() /
                  ("fedrelay-audit-" + std::to_string(getpid()))).string();
      std::filesystem::remove_all(scratch_);
      dir = scratch_;
      store_options.sync = false;  // a scratch copy: durability buys nothing
    }
    ASSIGN_OR_RETURN(store_, store::LogStore::Open(dir, store_options));
    ASSIGN_OR_RETURN(auto failed, store_->Get(store::Table::kAux, kFailedKey));
    if (failed.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the state in ", dir, " records a failed audit (", *failed,
          "): the log it holds did not verify; audit into a new state directory"));
    }
    ASSIGN_OR_RETURN(verified_, VerifiedSize(*store_));
    if (verified_ > 0) {
      ASSIGN_OR_RETURN(state_, federation::DerivedState::Load(*store_));
    }
    return absl::OkStatus();
  }

  ~Monitor() {
    store_.reset();
    if (!scratch_.empty()) std::filesystem::remove_all(scratch_);
  }

  absl::StatusOr<Round> RunRound(bool first) {
    Round round;
    v1::Checkpoint checkpoint;
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      auto status = audit_->GetCheckpoint(&context, {}, &checkpoint);
      if (!status.ok()) {
        return absl::UnavailableError(
            absl::StrCat("GetCheckpoint from ", options_.relay_address, ": ", status.error_message()));
      }
    }
    ASSIGN_OR_RETURN(const store::CheckpointBody body,
                     OpenCheckpoint(options_.verifier, checkpoint.note(), "the relay's latest checkpoint"));
    // What this state has (verified, or downloaded by a round that stopped
    // before verifying it) must be a prefix of the relay's log.
    const uint64_t have = store_->Size();
    if (body.tree_size < verified_) {
      return absl::DataLossError(absl::StrCat(
          "the log was rolled back: the relay's checkpoint covers ", body.tree_size,
          " entries but ", verified_, " were verified before (state in ",
          options_.state_dir.empty() ? "this run" : options_.state_dir, ")"));
    }
    if (have > 0) {
      const uint64_t first_size = std::min(have, body.tree_size);
      ASSIGN_OR_RETURN(const std::string first_root, store_->RootHash(first_size));
      v1::ConsistencyProofRequest request;
      request.set_first_tree_size(first_size);
      request.set_second_tree_size(body.tree_size);
      v1::ConsistencyProof proof;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      auto status = audit_->GetConsistencyProof(&context, request, &proof);
      if (!status.ok()) {
        return absl::UnavailableError(absl::StrCat("GetConsistencyProof: ", status.error_message()));
      }
      std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
      if (auto consistent = store::VerifyConsistency(first_size, body.tree_size, hashes, first_root,
                                                     body.root_hash);
          !consistent.ok()) {
        return absl::DataLossError(absl::StrCat(
            "the log was rewritten: the relay's checkpoint at size ", body.tree_size,
            " is not an extension of the log verified up to size ", first_size, " (root ",
            Base64Encode(first_root), "): ", consistent.message()));
      }
    }
    RETURN_IF_ERROR(DownloadEntries(*audit_, *store_, body.tree_size, options_.progress));
    RETURN_IF_ERROR(CheckCheckpoint(*store_, options_.verifier, checkpoint.note(),
                                    "the relay's latest checkpoint"));
    round.checkpoints = 1;
    for (const std::string& path : options_.checkpoint_files) {
      std::ifstream in(path, std::ios::binary);
      if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
      std::stringstream note;
      note << in.rdbuf();
      RETURN_IF_ERROR(CheckCheckpoint(*store_, options_.verifier, note.str(), path));
      ++round.checkpoints;
    }
    if (first) {
      for (const std::string& path : options_.receipt_files) {
        ASSIGN_OR_RETURN(const uint64_t checked,
                         CheckReceiptsFile(*store_, options_.verifier.public_key, path));
        round.receipts += checked;
      }
    }
    // Re-derive only what was not verified yet, on top of the saved state.
    store::WriteSet writes;
    const uint64_t begin = verified_;
    auto replayed = federation::RederiveLogFrom(
        *store_, begin, HexEncode(options_.verifier.public_key), options_.max_clock_skew_ms,
        &state_, options_.state_dir.empty() ? nullptr : &writes,
        [&](uint64_t done, uint64_t total) {
          if (options_.progress) options_.progress("replay", done, total);
        });
    if (!replayed.ok()) {
      // The log is append-only: an entry that does not verify never will.
      store::WriteSet failed;
      failed.Put(store::Table::kAux, kFailedKey, replayed.status().message());
      (void)store_->Write(failed);
      return replayed.status();
    }
    verified_ = store_->Size();
    writes.Put(store::Table::kAux, kVerifiedSizeKey, absl::StrCat(verified_));
    RETURN_IF_ERROR(store_->Write(writes));  // the state and how far it goes, together
    round.size = verified_;
    round.new_entries = verified_ - begin;
    round.state = *replayed;
    return round;
  }

 private:
  const MonitorOptions& options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AuditLog::Stub> audit_;
  std::unique_ptr<store::LogStore> store_;
  std::string scratch_;
  uint64_t verified_ = 0;
  federation::DerivedState state_;
};

void PrintRound(const Round& round, bool json) {
  if (json) {
    std::cout << nlohmann::json{{"ok", true},
                                {"entries", round.size},
                                {"new_entries", round.new_entries},
                                {"checkpoints", round.checkpoints},
                                {"receipts", round.receipts},
                                {"derived_state",
                                 {{"peers", round.state.peers},
                                  {"bans", round.state.bans},
                                  {"users_with_homeserver", round.state.users_with_homeserver},
                                  {"profiles", round.state.profiles},
                                  {"invites", round.state.invites}}}}
                     .dump()
              << std::endl;
    return;
  }
  if (round.receipts > 0) {
    std::cout << round.receipts << " receipt(s) verified and included in the log\n";
  }
  std::cout << "OK: " << round.size << " entries verified (" << round.new_entries << " new), "
            << round.checkpoints << " checkpoint(s) match the log\n"
            << "derived state: " << round.state.peers << " peers, " << round.state.bans
            << " bans, " << round.state.users_with_homeserver << " users with a homeserver, "
            << round.state.profiles << " profiles, " << round.state.invites << " invites"
            << std::endl;
}

int Failed(const absl::Status& status, bool json) {
  std::cerr << "fedrelay-audit: FAILED: " << status.message() << std::endl;
  if (json) {
    std::cout << nlohmann::json{{"ok", false}, {"error", std::string(status.message())}}.dump(
                     -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << std::endl;
  }
  return 1;
}

}  // namespace

absl::Status DownloadEntries(v1::AuditLog::Stub& audit, store::LogStore& store, uint64_t tree_size,
                             const ProgressFn& progress) {
  constexpr uint64_t kChunk = 4096;
  const uint64_t begin = store.Size();
  for (uint64_t start = begin; start < tree_size; start += kChunk) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::GetEntriesRequest request;
    request.set_start(start);
    request.set_end(std::min(tree_size, start + kChunk));
    auto reader = audit.GetEntries(&context, request);
    std::vector<std::string> leaves;
    v1::LogEntry entry;
    while (reader->Read(&entry)) {
      std::string leaf;
      // Leaves are deterministic serializations; re-serializing a parsed entry
      // gives the same bytes (checked against the signed root).
      entry.SerializeToString(&leaf);
      leaves.push_back(std::move(leaf));
    }
    auto status = reader->Finish();
    if (!status.ok()) return absl::UnavailableError(absl::StrCat("GetEntries: ", status.error_message()));
    if (leaves.size() != request.end() - request.start()) {
      return absl::DataLossError(absl::StrCat("relay returned ", leaves.size(), " entries for [",
                                              request.start(), ", ", request.end(), ")"));
    }
    RETURN_IF_ERROR(store.Append(leaves, {}).status());
    if (progress) progress("download", store.Size() - begin, tree_size - begin);
  }
  return absl::OkStatus();
}

int RunMonitor(const MonitorOptions& options) {
  Monitor monitor(options);
  if (absl::Status opened = monitor.Open(); !opened.ok()) return Failed(opened, options.json);
  signal(SIGINT, OnStopSignal);
  signal(SIGTERM, OnStopSignal);
  for (bool first = true;; first = false) {
    auto round = monitor.RunRound(first);
    if (round.ok()) {
      PrintRound(*round, options.json);
    } else if (options.follow && absl::IsUnavailable(round.status())) {
      // A relay restarting is no divergence: try again next round.
      std::cerr << "fedrelay-audit: " << round.status().message() << " (retrying)" << std::endl;
    } else {
      return Failed(round.status(), options.json);
    }
    if (!options.follow) return 0;
    for (uint64_t slept = 0; slept < options.interval_ms && !g_stop.load(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(50, options.interval_ms - slept)));
    }
    if (g_stop.load()) return 0;
  }
}

}  // namespace fedrelay::audit
